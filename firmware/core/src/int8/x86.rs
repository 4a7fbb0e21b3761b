//! The convolution on the laptop's AVX2 unit (x86_64 only, chosen at run time).
//!
//! The board runs the portable kernels (with its DSP instructions); a laptop that has AVX2 runs
//! this one instead, which computes the same integers: products of int8 values summed in `i32`
//! with wrapping additions (any order gives the same sum), then [`super::requantize`]'s rounding
//! step for step on eight channels at once. `firmware/core/tests/int8.rs` checks it against the
//! reference kernel byte for byte, on random shapes and at the edges.
//!
//! How it is fast: the weights of up to [`MAX_PACKED`] values are repacked once per call as
//! pairs of `i16` (two taps of one filter in each `i32`, eight filters side by side), and each
//! window as pairs of `i16` too; `VPMADDWD` then multiplies a pair of taps by eight filters and
//! adds the two products in one instruction, for four windows at a time. The per-channel
//! constants are decoded once per call, and requantization runs on eight channels at once.
//!
//! The only `unsafe` is calling the `#[target_feature(enable = "avx2")]` function after the
//! processor said it has AVX2, and the unaligned vector loads and stores, each on a slice whose
//! length was checked just before.
#![allow(unsafe_code)]

use core::arch::x86_64::*;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

use super::{Geometry, I32s, Requant};

/// `i32` slots of the repacked weights (16 KB on the stack): 8-channel blocks of filters with up
/// to 1,024 taps, and all 32 filters of one with up to 256. Larger layers take several passes
/// over the image; larger filters use the portable kernel.
const MAX_PACKED: usize = 4096;
/// Values of the widened, padded input image (32 KB on the stack); larger images use the
/// portable kernel.
const MAX_WIDE: usize = 16 * 1024;
/// Windows computed together (each weight load serves four of them).
const WINDOWS: usize = 4;
/// Channels whose constants one pass decodes (on the stack).
const MAX_CHANNELS: usize = 128;

/// 0: not asked yet, 1: no AVX2, 2: AVX2.
static AVX2: AtomicU8 = AtomicU8::new(0);

/// Whether this processor (and its operating system) can run AVX2 code. Asked once, with
/// `CPUID` and `XGETBV`, as `std::is_x86_feature_detected!` does (the core has no `std`).
pub(super) fn has_avx2() -> bool {
    match AVX2.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = detect_avx2();
            AVX2.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

fn detect_avx2() -> bool {
    let leaf0 = __cpuid(0);
    if leaf0.eax < 7 {
        return false;
    }
    let leaf1 = __cpuid(1);
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    let avx = leaf1.ecx & (1 << 28) != 0;
    let avx2 = __cpuid_count(7, 0).ebx & (1 << 5) != 0;
    if !(osxsave && avx && avx2) {
        return false;
    }
    // SAFETY: XGETBV exists when CPUID reports OSXSAVE, checked above.
    let xcr0 = unsafe { xgetbv0() };
    // The operating system saves the SSE and AVX registers.
    xcr0 & 0b110 == 0b110
}

#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    _xgetbv(0)
}

/// [`super::conv2d`] on AVX2, if this processor has it and the layer fits the stack buffers
/// (the kit's models do); false to let the caller run the portable kernel. Needs full-length
/// slices (the portable kernel handles short ones) and the model loader's ranges: multipliers
/// ≥ 0 and an output zero point in `[−128, 127]`.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d(
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    let k = g.patch_len();
    let pairs = g.kh * (g.kw * g.in_c).div_ceil(2);
    let fits = k > 0
        && g.out_h > 0
        && g.out_w > 0
        && pairs * 8 <= MAX_PACKED
        && Padded::of(g)
            .and_then(|p| p.len_of(g))
            .is_some_and(|n| n <= MAX_WIDE)
        && weights.len() >= k * g.out_c
        && folded_bias.len() >= g.out_c
        && q.multiplier.len() >= g.out_c
        && q.shift.len() >= g.out_c
        && input.len() >= g.in_h * g.in_w * g.in_c
        && output.len() >= g.out_h * g.out_w * g.out_c
        && (-128..=127).contains(&q.out_zero_point)
        && (0..g.out_c).all(|c| q.multiplier.get(c) >= 0);
    if !fits || !has_avx2() {
        return false;
    }
    // SAFETY: the processor has AVX2 (checked just above).
    unsafe { conv2d_avx2(g, in_zero_point, weights, folded_bias, q, input, output) };
    true
}

/// The input image with its padding around it, as far as the windows reach.
#[derive(Clone, Copy)]
struct Padded {
    /// Rows and columns.
    h: usize,
    w: usize,
}

impl Padded {
    fn of(g: &Geometry) -> Option<Padded> {
        let h = (g.out_h.checked_sub(1)?).checked_mul(g.stride)?.checked_add(g.kh)?;
        let w = (g.out_w.checked_sub(1)?).checked_mul(g.stride)?.checked_add(g.kw)?;
        Some(Padded { h, w })
    }

    /// Values, plus one: a filter row of odd length reads one value past its end (with a zero
    /// weight).
    fn len_of(self, g: &Geometry) -> Option<usize> {
        self.h.checked_mul(self.w)?.checked_mul(g.in_c)?.checked_add(1)
    }
}

/// Eight channels' requantization constants as vectors.
#[derive(Clone, Copy)]
struct Block {
    bias: __m256i,
    multiplier: __m256i,
    left: __m256i,
    right: __m256i,
    /// `act_min − out_zero_point` and `act_max − out_zero_point`.
    low: __m256i,
    high: __m256i,
    out_zero_point: __m256i,
    /// Some channel shifts left (the saturating step is skipped otherwise).
    any_left: bool,
}

#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn conv2d_avx2(
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) {
    let k = g.patch_len();
    let row_len = g.kw * g.in_c;
    let row_pairs = row_len.div_ceil(2);
    let pairs = g.kh * row_pairs;
    let positions = g.out_h * g.out_w;
    // Channels per pass: as many 8-channel blocks as the packed weights hold.
    let per_pass = ((MAX_PACKED / (pairs * 8)) * 8).min(MAX_CHANNELS);

    // The image as i16 inside its padding (the input zero point). Every value up to `used` is
    // written before anything reads it.
    let padded = Padded::of(g).unwrap_or(Padded { h: 0, w: 0 });
    let used = padded.len_of(g).unwrap_or(0).min(MAX_WIDE);
    let mut wide = [MaybeUninit::<i16>::uninit(); MAX_WIDE];
    wide[..used].fill(MaybeUninit::new(in_zero_point.clamp(-128, 127) as i16));
    let wide_row = padded.w * g.in_c;
    let cols = g.in_w.min(padded.w.saturating_sub(g.pad_left));
    for iy in 0..g.in_h.min(padded.h.saturating_sub(g.pad_top)) {
        let src = &input[iy * g.in_w * g.in_c..][..cols * g.in_c];
        let at = (iy + g.pad_top) * wide_row + g.pad_left * g.in_c;
        for (d, &x) in wide[at..at + cols * g.in_c].iter_mut().zip(src) {
            *d = MaybeUninit::new(x as i16);
        }
    }
    // SAFETY: `wide[..used]` was filled just above.
    let wide: &[i16] = unsafe { core::slice::from_raw_parts(wide.as_ptr().cast(), used) };

    // Where tap pair j of a window starts, from the window's start: row ky, pair m.
    let mut offsets = [0usize; MAX_PACKED / 8];
    for ky in 0..g.kh {
        for m in 0..row_pairs {
            offsets[ky * row_pairs + m] = ky * wide_row + 2 * m;
        }
    }
    let offsets = &offsets[..pairs];
    // The last window's last pair ends inside `wide` (so does every other's).
    let last_start = ((g.out_h - 1) * padded.w + g.out_w - 1) * g.stride * g.in_c;
    if last_start + offsets[pairs - 1] + 2 > wide.len() {
        return;
    }

    let mut packed = [MaybeUninit::<i32>::uninit(); MAX_PACKED];
    let mut consts = [0i32; 4 * MAX_CHANNELS];
    let mut first = 0;
    while first < g.out_c {
        let n = per_pass.min(g.out_c - first);
        let blocks = n.div_ceil(8);
        // Weights of block b, tap pair j, lane l at packed[(b·pairs + j)·8 + l]: the two taps
        // of pair j (row ky, taps 2m and 2m + 1 of the row) of filter first + 8b + l, as two
        // i16 (zero past the row or the channels).
        for b in 0..blocks {
            for l in 0..8 {
                let c = first + 8 * b + l;
                let filter = if c < first + n {
                    &weights[c * k..(c + 1) * k]
                } else {
                    &[][..]
                };
                for ky in 0..g.kh {
                    let row = filter.get(ky * row_len..(ky + 1) * row_len).unwrap_or(&[]);
                    for m in 0..row_pairs {
                        let w0 = row.get(2 * m).map_or(0, |&w| w as i8 as i16);
                        let w1 = row.get(2 * m + 1).map_or(0, |&w| w as i8 as i16);
                        packed[(b * pairs + ky * row_pairs + m) * 8 + l] =
                            MaybeUninit::new(pair(w0, w1));
                    }
                }
            }
        }
        // SAFETY: the loop above wrote all `blocks · pairs · 8` of them.
        let packed: &[i32] =
            unsafe { core::slice::from_raw_parts(packed.as_ptr().cast(), blocks * pairs * 8) };
        // Constants, per channel of the pass: bias, multiplier, left shift, right shift.
        for i in 0..blocks * 8 {
            let c = first + i;
            let (bias, m, shift) = if i < n {
                (folded_bias.get(c), q.multiplier.get(c), q.shift.get(c))
            } else {
                (0, 0, 0)
            };
            consts[i] = bias;
            consts[MAX_CHANNELS + i] = m;
            consts[2 * MAX_CHANNELS + i] = shift.clamp(0, 31);
            consts[3 * MAX_CHANNELS + i] = (-shift).clamp(0, 31);
        }
        let zp = q.out_zero_point;
        let block = |b: usize| {
            let at = |part: usize| load(&consts[part * MAX_CHANNELS + 8 * b..]);
            let left = at(2);
            Block {
                bias: at(0),
                multiplier: at(1),
                left,
                right: at(3),
                low: _mm256_set1_epi32(q.act_min as i32 - zp),
                high: _mm256_set1_epi32(q.act_max as i32 - zp),
                out_zero_point: _mm256_set1_epi32(zp),
                any_left: _mm256_testz_si256(left, left) == 0,
            }
        };

        let (mut oy, mut ox) = (0, 0);
        let mut p0 = 0;
        while p0 < positions {
            let count = WINDOWS.min(positions - p0);
            // Where each window starts in `wide` (a missing fourth repeats the last).
            let mut starts = [0usize; WINDOWS];
            for i in 0..WINDOWS {
                if i < count {
                    starts[i] = (oy * padded.w + ox) * g.stride * g.in_c;
                    ox += 1;
                    if ox == g.out_w {
                        ox = 0;
                        oy += 1;
                    }
                } else {
                    starts[i] = starts[i - 1];
                }
            }
            for b in 0..blocks {
                let w = &packed[b * pairs * 8..(b + 1) * pairs * 8];
                // SAFETY: every start is at most `last_start`, checked above.
                let sums = unsafe { dot4(w, wide, starts, offsets) };
                let consts = block(b);
                let channels = (n - 8 * b).min(8);
                for (i, &sum) in sums.iter().enumerate().take(count) {
                    let at = (p0 + i) * g.out_c + first + 8 * b;
                    store(requantize8(sum, &consts), &mut output[at..at + channels]);
                }
            }
            p0 += count;
        }
        first += n;
    }
}

/// Two `i16` in one `i32`, the first in the low half (VPMADDWD's pair order).
#[inline(always)]
fn pair(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32
}

/// Eight `i32` from the start of `values` (at least eight long).
#[inline(always)]
fn load(values: &[i32]) -> __m256i {
    let v = &values[..8];
    // SAFETY: `v` holds eight i32 (32 bytes); the load is unaligned.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

/// The sums of products of four windows with eight filters: `w` holds the packed tap pairs of
/// eight filters, `wide` the padded image, where the windows start at `starts` and their tap
/// pairs at `offsets` from there.
///
/// # Safety
/// AVX2, and `start + offset + 2 ≤ wide.len()` for every start and offset.
#[target_feature(enable = "avx2")]
unsafe fn dot4(
    w: &[i32],
    wide: &[i16],
    starts: [usize; WINDOWS],
    offsets: &[usize],
) -> [__m256i; WINDOWS] {
    let base = wide.as_ptr();
    let x = |i: usize, offset: usize| {
        // SAFETY: in bounds (the caller's promise); an unaligned read of two i16.
        let v = unsafe { base.add(starts[i] + offset).cast::<i32>().read_unaligned() };
        _mm256_set1_epi32(v)
    };
    let mut acc = [_mm256_setzero_si256(); WINDOWS];
    for (&offset, lanes) in offsets.iter().zip(w.chunks_exact(8)) {
        let wj = load(lanes);
        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(wj, x(0, offset)));
        acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(wj, x(1, offset)));
        acc[2] = _mm256_add_epi32(acc[2], _mm256_madd_epi16(wj, x(2, offset)));
        acc[3] = _mm256_add_epi32(acc[3], _mm256_madd_epi16(wj, x(3, offset)));
    }
    acc
}

/// Writes the low byte of each of eight `i32` (already in `[−128, 127]`) to `out` (up to 8).
#[target_feature(enable = "avx2")]
fn store(v: __m256i, out: &mut [i8]) {
    // Byte 0 of each i32 to the front of each 128-bit half.
    let pick = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let bytes = _mm256_shuffle_epi8(v, pick);
    let lo = _mm_cvtsi128_si32(_mm256_castsi256_si128(bytes)) as u32 as u64;
    let hi = _mm_cvtsi128_si32(_mm256_extracti128_si256(bytes, 1)) as u32 as u64;
    let all = (lo | hi << 32).to_le_bytes().map(|b| b as i8);
    match <&mut [i8; 8]>::try_from(&mut *out) {
        Ok(eight) => *eight = all,
        Err(_) => {
            for (o, &b) in out.iter_mut().zip(&all) {
                *o = b;
            }
        }
    }
}

/// [`super::ChannelTile::output`] on eight channels: bias, the saturating left shift,
/// `rounding_doubling_high_mul`, `rounding_divide_by_pot`, the zero point and the activation's
/// clamp, each giving exactly the scalar code's integers.
#[target_feature(enable = "avx2")]
fn requantize8(sum: __m256i, c: &Block) -> __m256i {
    let zero = _mm256_setzero_si256();
    let acc = _mm256_add_epi32(sum, c.bias);
    // ((acc as i64) << left) saturated to i32: the shift is exact between MIN >> left and
    // MAX >> left.
    let shifted = if c.any_left {
        let max = _mm256_set1_epi32(i32::MAX);
        let min = _mm256_set1_epi32(i32::MIN);
        let hi = _mm256_srav_epi32(max, c.left);
        let lo = _mm256_srav_epi32(min, c.left);
        let v = _mm256_sllv_epi32(acc, c.left);
        let v = _mm256_blendv_epi8(v, max, _mm256_cmpgt_epi32(acc, hi));
        _mm256_blendv_epi8(v, min, _mm256_cmpgt_epi32(lo, acc))
    } else {
        acc
    };
    // rounding_doubling_high_mul with a multiplier ≥ 0 (so never i32::MIN · i32::MIN): its
    // `(ab + nudge) / 2³¹`, truncated, is `floor((ab + 2³⁰) / 2³¹)` for either sign of ab, and
    // fits in i32. Even lanes, then odd lanes, as 64-bit products.
    let half = _mm256_set1_epi64x(1 << 30);
    let even = _mm256_mul_epi32(shifted, c.multiplier);
    let odd = _mm256_mul_epi32(
        _mm256_srli_epi64(shifted, 32),
        _mm256_srli_epi64(c.multiplier, 32),
    );
    // The low 32 bits of a logical shift are those of the arithmetic one.
    let even = _mm256_srli_epi64(_mm256_add_epi64(even, half), 31);
    let odd = _mm256_slli_epi64(_mm256_srli_epi64(_mm256_add_epi64(odd, half), 31), 32);
    let high = _mm256_blend_epi32(even, odd, 0b1010_1010);
    // rounding_divide_by_pot(high, right).
    let one = _mm256_set1_epi32(1);
    let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, c.right), one);
    let remainder = _mm256_and_si256(high, mask);
    let threshold = _mm256_sub_epi32(
        _mm256_srli_epi32(mask, 1),
        _mm256_cmpgt_epi32(zero, high),
    );
    let v = _mm256_sub_epi32(
        _mm256_srav_epi32(high, c.right),
        _mm256_cmpgt_epi32(remainder, threshold),
    );
    // saturating_add(zero point), then the clamp: with the zero point in [−128, 127], the same
    // as clamping to [act_min − zp, act_max − zp] first and adding it after.
    let v = _mm256_min_epi32(_mm256_max_epi32(v, c.low), c.high);
    _mm256_add_epi32(v, c.out_zero_point)
}
