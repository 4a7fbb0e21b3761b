//! A plain real DFT power spectrum for short windows (sensor data, not audio).
//!
//! Accelerometer windows are short (100 samples for 2 s at 50 Hz), so a direct DFT with a
//! twiddle table is fast enough on the board (about 5,000 multiply-adds per window) and has no
//! size restrictions. The host tests check it against `rustfft`.

/// The longest window [`power_spectrum`] accepts, in samples.
pub const MAX_DFT_LEN: usize = 512;

/// Why a spectrum could not be computed. Codes are stable: they travel over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SpectrumError {
    /// The signal has fewer than 2 samples.
    TooShort = 1,
    /// The signal is longer than [`MAX_DFT_LEN`].
    TooLong = 2,
    /// `out` is shorter than `signal.len() / 2 + 1`.
    OutputTooSmall = 3,
}

impl SpectrumError {
    /// The stable wire code of this error.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// Writes the power `|X[k]|²` of bins `k = 0 ..= n/2` of the real signal into `out` and returns
/// the number of bins written (`n / 2 + 1`). Bin `k` is at `k * sample_rate_hz / n` hertz.
pub fn power_spectrum(signal: &[f32], out: &mut [f32]) -> Result<usize, SpectrumError> {
    let n = signal.len();
    if n < 2 {
        return Err(SpectrumError::TooShort);
    }
    if n > MAX_DFT_LEN {
        return Err(SpectrumError::TooLong);
    }
    let bins = n / 2 + 1;
    if out.len() < bins {
        return Err(SpectrumError::OutputTooSmall);
    }
    // cos/sin of 2*pi*j/n for j in 0..n: every angle k*t*2*pi/n is one of these (k*t mod n).
    let mut cos_table = [0f32; MAX_DFT_LEN];
    let mut sin_table = [0f32; MAX_DFT_LEN];
    for j in 0..n {
        let angle = 2.0 * core::f64::consts::PI * j as f64 / n as f64;
        cos_table[j] = libm::cos(angle) as f32;
        sin_table[j] = libm::sin(angle) as f32;
    }
    for (k, power) in out[..bins].iter_mut().enumerate() {
        let (mut re, mut im) = (0f32, 0f32);
        let mut j = 0usize;
        for &x in signal {
            re += x * cos_table[j];
            im -= x * sin_table[j];
            j += k;
            if j >= n {
                j -= n;
            }
        }
        *power = re * re + im * im;
    }
    Ok(bins)
}
