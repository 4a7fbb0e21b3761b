//! A real FFT for power-of-two lengths, planned once, with no heap: the audio front end's FFT on
//! both the laptop and the board.
//!
//! A real signal of length `n` is packed into a complex signal of length `n / 2` (even samples as
//! real parts, odd samples as imaginary parts), transformed by an iterative radix-2 FFT, and
//! unpacked into the `n / 2 + 1` bins of the real spectrum. Data is kept as separate real and
//! imaginary arrays, and each stage reads its own contiguous run of twiddles, so the inner loops
//! are plain slices that the compiler vectorises on the laptop.
//!
//! Tables are computed once in `f64` with [`libm`] and stored as `f32`; the transform itself is
//! `f32` additions and multiplications in a fixed order, so the laptop and the Cortex-M4 give the
//! same bits. The host tests check it against `rustfft`.

/// The longest transform, in real samples (64 ms at 16 kHz; 32 ms with the board's
/// `small-tables` feature): [`crate::limits::Limits::BUILD`].
pub const MAX_FFT_LEN: usize = crate::limits::Limits::BUILD.fft_len;

/// The shortest transform, in real samples.
pub const MIN_FFT_LEN: usize = 4;

const MAX_HALF: usize = MAX_FFT_LEN / 2;

/// Why an FFT could not be planned or run. Codes are stable: they travel over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FftError {
    /// The length is not a power of two between [`MIN_FFT_LEN`] and [`MAX_FFT_LEN`].
    BadLength = 1,
    /// The input or output slice does not have the planned length.
    SizeMismatch = 2,
}

impl FftError {
    /// The stable wire code of this error.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// Scratch space for one transform: real and imaginary parts of the packed half-length signal.
/// Lives on the caller's stack (4 KB), so planning and running never allocate.
#[derive(Clone)]
pub struct FftScratch {
    re: [f32; MAX_HALF],
    im: [f32; MAX_HALF],
}

impl FftScratch {
    /// Zeroed scratch.
    pub const fn new() -> FftScratch {
        FftScratch {
            re: [0.0; MAX_HALF],
            im: [0.0; MAX_HALF],
        }
    }
}

impl Default for FftScratch {
    fn default() -> Self {
        FftScratch::new()
    }
}

/// A planned real FFT of one power-of-two length.
#[derive(Clone)]
pub struct RealFft {
    len: usize,
    /// Bit-reversed index of each position of the half-length signal.
    bit_reverse: [u16; MAX_HALF],
    /// Twiddles of every butterfly stage, stage after stage: the stage joining halves of size
    /// `m` uses entries `m - 1 .. 2m - 1`, which are `exp(-2πi j / 2m)` for `j < m`.
    stage_re: [f32; MAX_HALF],
    stage_im: [f32; MAX_HALF],
    /// `exp(-2πi k / len)` for `k < len / 2`: unpacks the half-length transform.
    split_re: [f32; MAX_HALF],
    split_im: [f32; MAX_HALF],
}

impl RealFft {
    /// No transform yet (all zeros, so a `static` of it costs no flash); [`RealFft::plan`] it.
    pub const EMPTY: RealFft = RealFft {
        len: 0,
        bit_reverse: [0; MAX_HALF],
        stage_re: [0.0; MAX_HALF],
        stage_im: [0.0; MAX_HALF],
        split_re: [0.0; MAX_HALF],
        split_im: [0.0; MAX_HALF],
    };

    /// Plans a transform of `len` real samples (a power of two, 4 to [`MAX_FFT_LEN`]).
    pub fn new(len: usize) -> Result<RealFft, FftError> {
        let mut plan = RealFft::EMPTY;
        plan.plan(len)?;
        Ok(plan)
    }

    /// [`RealFft::new`] in place (the board plans without a copy on its stack).
    pub fn plan(&mut self, len: usize) -> Result<(), FftError> {
        if !(MIN_FFT_LEN..=MAX_FFT_LEN).contains(&len) || !len.is_power_of_two() {
            return Err(FftError::BadLength);
        }
        let half = len / 2;
        let bits = half.trailing_zeros();
        *self = RealFft {
            len,
            ..RealFft::EMPTY
        };
        let plan = self;
        for (i, slot) in plan.bit_reverse[..half].iter_mut().enumerate() {
            *slot = if bits == 0 {
                0
            } else {
                ((i as u32).reverse_bits() >> (32 - bits)) as u16
            };
        }
        let tau = 2.0 * core::f64::consts::PI;
        let mut m = 1;
        while m < half {
            for j in 0..m {
                let angle = -tau * j as f64 / (2 * m) as f64;
                plan.stage_re[m - 1 + j] = libm::cos(angle) as f32;
                plan.stage_im[m - 1 + j] = libm::sin(angle) as f32;
            }
            m *= 2;
        }
        for k in 0..half {
            let angle = -tau * k as f64 / len as f64;
            plan.split_re[k] = libm::cos(angle) as f32;
            plan.split_im[k] = libm::sin(angle) as f32;
        }
        Ok(())
    }

    /// Length of the transform, in real samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a plan has at least [`MIN_FFT_LEN`] samples.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of spectrum bins, `len / 2 + 1` (0 Hz to the Nyquist frequency).
    pub fn bins(&self) -> usize {
        self.len / 2 + 1
    }

    /// Writes the power `|X[k]|²` of bins `k = 0, 1, …` of `signal` into `power`, which has
    /// from 1 to `bins()` values (a shorter `power` skips the bins above it). `signal` has
    /// `len()` samples.
    #[inline(always)]
    pub fn power(
        &self,
        signal: &[f32],
        power: &mut [f32],
        scratch: &mut FftScratch,
    ) -> Result<(), FftError> {
        if power.is_empty() || power.len() > self.bins() {
            return Err(FftError::SizeMismatch);
        }
        self.transform(signal, None, scratch)?;
        let count = power.len();
        self.unpack(scratch, count, |k, re, im| power[k] = re * re + im * im);
        Ok(())
    }

    /// [`RealFft::power`] of `signal · window` (sample by sample), without a pass to write the
    /// windowed copy: the product is formed while the samples are put in FFT order.
    #[inline(always)]
    pub fn windowed_power(
        &self,
        signal: &[f32],
        window: &[f32],
        power: &mut [f32],
        scratch: &mut FftScratch,
    ) -> Result<(), FftError> {
        if power.is_empty() || power.len() > self.bins() {
            return Err(FftError::SizeMismatch);
        }
        self.transform(signal, Some(window), scratch)?;
        let count = power.len();
        self.unpack(scratch, count, |k, re, im| power[k] = re * re + im * im);
        Ok(())
    }

    /// Writes the complex spectrum bins `k = 0 ..= len/2` of `signal` into `re` and `im`.
    pub fn spectrum(
        &self,
        signal: &[f32],
        re: &mut [f32],
        im: &mut [f32],
        scratch: &mut FftScratch,
    ) -> Result<(), FftError> {
        if re.len() != self.bins() || im.len() != self.bins() {
            return Err(FftError::SizeMismatch);
        }
        self.transform(signal, None, scratch)?;
        self.unpack(scratch, self.bins(), |k, r, i| {
            re[k] = r;
            im[k] = i;
        });
        Ok(())
    }

    /// The complex FFT of the packed half-length signal, left in `scratch`. Inlined, so that it
    /// is compiled for the caller's vector unit (the MFCC's AVX2 build on a laptop).
    #[inline(always)]
    fn transform(
        &self,
        signal: &[f32],
        window: Option<&[f32]>,
        scratch: &mut FftScratch,
    ) -> Result<(), FftError> {
        if signal.len() != self.len || window.is_some_and(|w| w.len() != self.len) {
            return Err(FftError::SizeMismatch);
        }
        let half = self.len / 2;
        let re = &mut scratch.re[..half];
        let im = &mut scratch.im[..half];
        let order = self.bit_reverse[..half].iter().zip(signal.chunks_exact(2));
        match window {
            None => {
                for (&target, pair) in order {
                    re[target as usize] = pair[0];
                    im[target as usize] = pair[1];
                }
            }
            Some(window) => {
                for ((&target, pair), w) in order.zip(window.chunks_exact(2)) {
                    re[target as usize] = pair[0] * w[0];
                    im[target as usize] = pair[1] * w[1];
                }
            }
        }
        if half >= 4 {
            // The first two stages at once: blocks of 4 whose twiddles are 1 and -i exactly.
            for (r, i) in re.chunks_exact_mut(4).zip(im.chunks_exact_mut(4)) {
                let (a_r, a_i) = (r[0] + r[1], i[0] + i[1]);
                let (b_r, b_i) = (r[0] - r[1], i[0] - i[1]);
                let (c_r, c_i) = (r[2] + r[3], i[2] + i[3]);
                let (d_r, d_i) = (r[2] - r[3], i[2] - i[3]);
                // d · (-i) = (d_i, -d_r)
                r[0] = a_r + c_r;
                i[0] = a_i + c_i;
                r[2] = a_r - c_r;
                i[2] = a_i - c_i;
                r[1] = b_r + d_i;
                i[1] = b_i - d_r;
                r[3] = b_r - d_i;
                i[3] = b_i + d_r;
            }
        } else {
            // half == 2: one butterfly, twiddle 1.
            let (r0, i0) = (re[0], im[0]);
            re[0] = r0 + re[1];
            im[0] = i0 + im[1];
            re[1] = r0 - re[1];
            im[1] = i0 - im[1];
        }
        let mut m = 4;
        while m < half {
            let wr = &self.stage_re[m - 1..2 * m - 1];
            let wi = &self.stage_im[m - 1..2 * m - 1];
            for (block_re, block_im) in re.chunks_exact_mut(2 * m).zip(im.chunks_exact_mut(2 * m)) {
                let (lo_re, hi_re) = block_re.split_at_mut(m);
                let (lo_im, hi_im) = block_im.split_at_mut(m);
                let lo = lo_re.iter_mut().zip(lo_im.iter_mut());
                let hi = hi_re.iter_mut().zip(hi_im.iter_mut());
                for ((lo, hi), (w_r, w_i)) in lo.zip(hi).zip(wr.iter().zip(wi)) {
                    let tr = *hi.0 * w_r - *hi.1 * w_i;
                    let ti = *hi.0 * w_i + *hi.1 * w_r;
                    *hi.0 = *lo.0 - tr;
                    *hi.1 = *lo.1 - ti;
                    *lo.0 += tr;
                    *lo.1 += ti;
                }
            }
            m *= 2;
        }
        Ok(())
    }

    /// Unpacks the half-length transform `Z` into the real spectrum
    /// `X[k] = (Z[k] + conj Z[h-k]) / 2 - i/2 · W^k (Z[k] - conj Z[h-k])`, `W = exp(-2πi/n)`,
    /// calling `write(k, re, im)` for each bin.
    #[inline(always)]
    fn unpack(&self, scratch: &FftScratch, count: usize, mut write: impl FnMut(usize, f32, f32)) {
        let half = self.len / 2;
        let (re, im) = (&scratch.re[..half], &scratch.im[..half]);
        write(0, re[0] + im[0], 0.0);
        if count > half {
            write(half, re[0] - im[0], 0.0);
        }
        for k in 1..count.min(half) {
            let (ar, ai) = (re[k], im[k]);
            let (br, bi) = (re[half - k], -im[half - k]);
            let (er, ei) = (0.5 * (ar + br), 0.5 * (ai + bi));
            let (dr, di) = (0.5 * (ar - br), 0.5 * (ai - bi));
            // -i · W^k · d
            let (wr, wi) = (self.split_re[k], self.split_im[k]);
            let (pr, pi) = (wr * dr - wi * di, wr * di + wi * dr);
            write(k, er + pi, ei - pr);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use rustfft::{num_complex::Complex, FftPlanner};
    use std::vec::Vec;

    fn signal(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_rustfft_for_every_length() {
        let mut planner = FftPlanner::<f64>::new();
        let mut scratch = FftScratch::new();
        let mut n = MIN_FFT_LEN;
        while n <= MAX_FFT_LEN {
            let plan = RealFft::new(n).unwrap();
            let x = signal(n, n as u32);
            let mut re = std::vec![0f32; n / 2 + 1];
            let mut im = std::vec![0f32; n / 2 + 1];
            plan.spectrum(&x, &mut re, &mut im, &mut scratch).unwrap();
            let mut reference: Vec<Complex<f64>> =
                x.iter().map(|&v| Complex::new(v as f64, 0.0)).collect();
            planner.plan_fft_forward(n).process(&mut reference);
            // Error of an f32 FFT grows like log2(n) ulps of the signal's energy.
            let tolerance = 1e-5 * (n as f64).sqrt() * (n as f64).log2();
            for k in 0..=n / 2 {
                let (dr, di) = (
                    re[k] as f64 - reference[k].re,
                    im[k] as f64 - reference[k].im,
                );
                assert!(
                    dr.abs() < tolerance && di.abs() < tolerance,
                    "n={n} bin {k}: ({}, {}) vs {}",
                    re[k],
                    im[k],
                    reference[k]
                );
            }
            let mut power = std::vec![0f32; n / 2 + 1];
            plan.power(&x, &mut power, &mut scratch).unwrap();
            for k in 0..=n / 2 {
                assert_eq!(power[k], re[k] * re[k] + im[k] * im[k]);
            }
            let window: Vec<f32> = (0..n).map(|t| 0.25 + (t % 7) as f32 * 0.1).collect();
            let product: Vec<f32> = x.iter().zip(&window).map(|(a, b)| a * b).collect();
            let mut windowed = std::vec![0f32; n / 2 + 1];
            plan.windowed_power(&x, &window, &mut windowed, &mut scratch)
                .unwrap();
            plan.power(&product, &mut power, &mut scratch).unwrap();
            assert_eq!(windowed, power, "n={n}");
            n *= 2;
        }
    }

    #[test]
    fn a_cosine_lands_in_its_bin() {
        let n = 256;
        let plan = RealFft::new(n).unwrap();
        let x: Vec<f32> = (0..n)
            .map(|t| libm::cos(2.0 * core::f64::consts::PI * 10.0 * t as f64 / n as f64) as f32)
            .collect();
        let mut power = std::vec![0f32; plan.bins()];
        plan.power(&x, &mut power, &mut FftScratch::new()).unwrap();
        let peak = (0..power.len())
            .max_by(|&a, &b| power[a].total_cmp(&power[b]))
            .unwrap();
        assert_eq!(peak, 10);
        // A unit cosine has |X[10]| = n / 2.
        assert!((power[10].sqrt() - 128.0).abs() < 1e-3);
    }

    #[test]
    fn rejects_bad_lengths_and_sizes() {
        for n in [0, 1, 2, 3, 6, 100, 2048] {
            assert_eq!(RealFft::new(n).err(), Some(FftError::BadLength), "n={n}");
        }
        let plan = RealFft::new(16).unwrap();
        let mut scratch = FftScratch::new();
        let mut power = [0f32; 9];
        assert_eq!(
            plan.power(&[0.0; 15], &mut power, &mut scratch),
            Err(FftError::SizeMismatch)
        );
        assert_eq!(
            plan.power(&[0.0; 16], &mut [0.0; 10], &mut scratch),
            Err(FftError::SizeMismatch)
        );
        assert_eq!(
            plan.power(&[0.0; 16], &mut [], &mut scratch),
            Err(FftError::SizeMismatch)
        );
        // A shorter output computes the lowest bins only, the same values.
        let x: Vec<f32> = (0..16).map(|t| (t as f32 * 0.7).sin()).collect();
        plan.power(&x, &mut power, &mut scratch).unwrap();
        let mut low = [0f32; 5];
        plan.power(&x, &mut low, &mut scratch).unwrap();
        assert_eq!(low, power[..5]);
    }

    #[test]
    fn dirty_scratch_does_not_change_the_result() {
        let plan = RealFft::new(64).unwrap();
        let x = signal(64, 7);
        let mut clean = [0f32; 33];
        plan.power(&x, &mut clean, &mut FftScratch::new()).unwrap();
        let mut dirty_scratch = FftScratch::new();
        dirty_scratch.re.fill(f32::NAN);
        dirty_scratch.im.fill(1e30);
        let mut dirty = [0f32; 33];
        plan.power(&x, &mut dirty, &mut dirty_scratch).unwrap();
        assert_eq!(clean, dirty);
    }
}
