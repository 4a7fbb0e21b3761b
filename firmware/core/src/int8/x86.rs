//! The convolution on the laptop's vector unit (x86_64 only, chosen at run time).
//!
//! The board runs the portable kernel (with its DSP instructions); a laptop runs this one when
//! its processor has AVX2, or better AVX-512 VNNI. Both compute the same integers as the
//! reference: products of int8 values summed in `i32` with wrapping additions (any order gives
//! the same sum), then [`super::requantize`]'s rounding step for step, eight channels at once.
//! `firmware/core/tests/int8.rs` checks every unit the processor has against the reference
//! kernel byte for byte, on random shapes and at the edges.
//!
//! How it is fast:
//! - the input is copied once per call into a padded image (the padding is the input zero
//!   point), so every window reads whole rows with no bounds to test;
//! - the weights are repacked once per call, eight filters side by side, a group of taps of one
//!   filter in each `i32`;
//! - one instruction multiplies a group of taps of one window by eight filters and adds the
//!   products: `VPMADDWD` on AVX2 (two taps as `i16`), `VPDPBUSD` on AVX-512 VNNI (four taps,
//!   the input offset by 128 to be unsigned, which the bias takes back);
//! - windows go eight at a time: each window value broadcast serves 16 filters, each weight
//!   load four or eight windows (as many as the unit's registers hold accumulators for);
//! - the per-channel constants are decoded once per call, and requantization runs on eight
//!   channels at once;
//! - a convolution followed by a 2 × 2 max pooling computes the four windows of each pooling
//!   window together and requantizes only the largest accumulator (requantization never
//!   decreases as the accumulator grows, so that is the largest output): a quarter of the
//!   requantizations, and no pass over the convolution's output.
//!
//! The `unsafe` here: calling a `#[target_feature]` function after the processor said it has
//! the feature, reading a group of taps from the padded image at offsets checked once per call,
//! and viewing buffers as initialised once they have been written.
#![allow(unsafe_code)]

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::{Geometry, I32s, Requant, VectorUnit as Unit};
use crate::cpu;

/// `i32` slots of the repacked weights (16 KB on the stack): 8-channel blocks of filters with up
/// to about 1,024 taps (2,048 with VNNI), and all 32 filters of one with about 256 (512). Layers with
/// more channels take several passes over the image; larger filters use the portable kernel.
const MAX_PACKED: usize = 4096;
/// Values of the padded input image (32 KB on the stack); larger images use the portable
/// kernel.
const MAX_IMAGE: usize = 16 * 1024;
/// Windows computed together.
const WINDOWS: usize = 8;
/// Channels whose constants one pass decodes (on the stack).
const MAX_CHANNELS: usize = 128;

/// Whether this processor (and its operating system) can run `unit`'s code.
pub(super) fn has(unit: Unit) -> bool {
    match unit {
        Unit::Portable => true,
        Unit::Avx2 => cpu::has_avx2(),
        Unit::Avx512Vnni => cpu::has_avx512_vnni(),
    }
}

/// The best unit the processor has.
pub(super) fn best() -> Unit {
    [Unit::Avx512Vnni, Unit::Avx2]
        .into_iter()
        .find(|&u| has(u))
        .unwrap_or(Unit::Portable)
}

/// [`super::conv2d`] on `unit`, if this processor has it and the layer fits the stack buffers
/// (the kit's models do); false to let the caller run the portable kernel. Needs full-length
/// slices (the portable kernel handles short ones) and the model loader's ranges: multipliers
/// ≥ 0 and an output zero point in `[−128, 127]`.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d(
    unit: Unit,
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    let layer = Layer {
        g,
        in_zero_point,
        weights,
        folded_bias,
        q,
        pool: None,
    };
    run(unit, &layer, input, output)
}

/// [`super::conv2d_max_pool`] on `unit`: as [`conv2d`], for a convolution whose output a max
/// pooling of 2 × 2 windows with stride 2 reads (`pool`), written straight to the pooling's
/// output. False, with nothing written, for any other pooling.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d_max_pool(
    unit: Unit,
    g: &Geometry,
    pool: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    let halves = pool.kh == 2
        && pool.kw == 2
        && pool.stride == 2
        && pool.pad_top == 0
        && pool.pad_left == 0
        && (pool.in_h, pool.in_w, pool.in_c) == (g.out_h, g.out_w, g.out_c)
        && pool.out_c == g.out_c
        && pool.out_h > 0
        && pool.out_w > 0
        && pool.out_h <= g.out_h / 2
        && pool.out_w <= g.out_w / 2;
    if !halves {
        return false;
    }
    let layer = Layer {
        g,
        in_zero_point,
        weights,
        folded_bias,
        q,
        pool: Some((pool.out_h, pool.out_w)),
    };
    run(unit, &layer, input, output)
}

/// Runs `layer` on `unit` if the processor has it and the layer fits (see [`conv2d`]).
fn run(unit: Unit, layer: &Layer, input: &[i8], output: &mut [i8]) -> bool {
    let Layer {
        g,
        weights,
        folded_bias,
        q,
        pool,
        ..
    } = *layer;
    // Every size in checked arithmetic: a product that wrapped would pass the checks below.
    let volume = |a: usize, b: usize, c: usize| a.checked_mul(b)?.checked_mul(c);
    let k = volume(g.kh, g.kw, g.in_c).unwrap_or(0);
    let (out_h, out_w) = pool.unwrap_or((g.out_h, g.out_w));
    let fits = k > 0
        && g.out_h > 0
        && g.out_w > 0
        && g.stride > 0
        && Layout::of(g, taps(unit)).is_some_and(|l| l.fits())
        && volume(k, g.out_c, 1).is_some_and(|n| weights.len() >= n)
        && folded_bias.len() >= g.out_c
        && q.multiplier.len() >= g.out_c
        && q.shift.len() >= g.out_c
        && volume(g.in_h, g.in_w, g.in_c).is_some_and(|n| input.len() >= n)
        && volume(out_h, out_w, g.out_c).is_some_and(|n| output.len() >= n)
        && (-128..=127).contains(&q.out_zero_point)
        && (0..g.out_c).all(|c| q.multiplier.get(c) >= 0);
    if !fits || !has(unit) {
        return false;
    }
    match unit {
        Unit::Portable => false,
        // SAFETY: the processor has the unit (checked just above).
        Unit::Avx2 => unsafe { conv2d_avx2(layer, input, output) },
        // SAFETY: as above.
        Unit::Avx512Vnni => unsafe { conv2d_vnni(layer, input, output) },
    }
}

/// [`super::fully_connected_portable`] compiled for `unit`, if the processor has it (the
/// compiler vectorises its dot products); false otherwise.
pub(super) fn fully_connected(
    unit: Unit,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    if !has(unit) {
        return false;
    }
    match unit {
        Unit::Portable => return false,
        // SAFETY: the processor has the unit (checked just above).
        Unit::Avx2 => unsafe { fully_connected_avx2(weights, folded_bias, q, input, output) },
        // SAFETY: as above.
        Unit::Avx512Vnni => unsafe {
            fully_connected_avx512(weights, folded_bias, q, input, output)
        },
    }
    true
}

#[target_feature(enable = "avx2")]
unsafe fn fully_connected_avx2(w: &[u8], b: I32s, q: &Requant, x: &[i8], y: &mut [i8]) {
    super::fully_connected_portable(w, b, q, x, y);
}

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn fully_connected_avx512(w: &[u8], b: I32s, q: &Requant, x: &[i8], y: &mut [i8]) {
    super::fully_connected_portable(w, b, q, x, y);
}

/// [`super::max_pool_portable`] compiled for `unit`, if the processor has it; false otherwise.
pub(super) fn max_pool(unit: Unit, g: &Geometry, input: &[i8], output: &mut [i8]) -> bool {
    if !has(unit) {
        return false;
    }
    match unit {
        Unit::Portable => return false,
        // SAFETY: the processor has the unit (checked just above).
        Unit::Avx2 => unsafe { max_pool_avx2(g, input, output) },
        // SAFETY: as above.
        Unit::Avx512Vnni => unsafe { max_pool_avx512(g, input, output) },
    }
    true
}

#[target_feature(enable = "avx2")]
unsafe fn max_pool_avx2(g: &Geometry, input: &[i8], output: &mut [i8]) {
    // SAFETY: AVX2, as this function.
    if !unsafe { max_pool_windows(g, input, output) } {
        super::max_pool_portable(g, input, output);
    }
}

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
unsafe fn max_pool_avx512(g: &Geometry, input: &[i8], output: &mut [i8]) {
    // SAFETY: AVX2, as this function.
    if !unsafe { max_pool_windows(g, input, output) } {
        super::max_pool_portable(g, input, output);
    }
}

/// Max pooling when every window is inside the image and the channels come in 16s or 8s (the
/// kit's models): each output pixel's channels are 16 (or 8) bytes at a time, straight from
/// the input rows. False, with nothing written, for other layers.
#[target_feature(enable = "avx2")]
unsafe fn max_pool_windows(g: &Geometry, input: &[i8], output: &mut [i8]) -> bool {
    let c = g.in_c;
    let step = if c.is_multiple_of(16) { 16 } else { 8 };
    // Every size in checked arithmetic: a product that wrapped would pass the checks below.
    let reach = |out: usize, kernel: usize| {
        out.checked_sub(1)?
            .checked_mul(g.stride)?
            .checked_add(kernel)
    };
    let volume = |h: usize, w: usize| h.checked_mul(w)?.checked_mul(c);
    let inside = g.pad_top == 0
        && g.pad_left == 0
        && g.kh > 0
        && g.kw > 0
        && reach(g.out_h, g.kh).is_some_and(|r| r <= g.in_h)
        && reach(g.out_w, g.kw).is_some_and(|r| r <= g.in_w);
    let held = volume(g.in_h, g.in_w).is_some_and(|n| input.len() >= n)
        && volume(g.out_h, g.out_w).is_some_and(|n| output.len() >= n);
    if !(inside && held && c > 0 && c.is_multiple_of(8)) {
        return false;
    }
    let (x, y) = (input.as_ptr(), output.as_mut_ptr());
    let row = g.in_w * c;
    // SAFETY: every window is inside the image and `input` holds it, `output` holds every
    // output pixel (checked above); `step` divides `c`, so each access stays in its pixel.
    unsafe {
        let load = |at: usize| {
            if step == 16 {
                _mm_loadu_si128(x.add(at).cast())
            } else {
                _mm_loadl_epi64(x.add(at).cast())
            }
        };
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let out = (oy * g.out_w + ox) * c;
                let corner = (oy * g.stride * g.in_w + ox * g.stride) * c;
                for ch in (0..c).step_by(step) {
                    let at = corner + ch;
                    let m = if g.kh == 2 && g.kw == 2 {
                        // The usual 2 × 2 window, unrolled.
                        let top = _mm_max_epi8(load(at), load(at + c));
                        let bottom = _mm_max_epi8(load(at + row), load(at + row + c));
                        _mm_max_epi8(top, bottom)
                    } else {
                        let mut m = _mm_set1_epi8(i8::MIN);
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                m = _mm_max_epi8(m, load(at + ky * row + kx * c));
                            }
                        }
                        m
                    };
                    if step == 16 {
                        _mm_storeu_si128(y.add(out + ch).cast(), m);
                    } else {
                        _mm_storel_epi64(y.add(out + ch).cast(), m);
                    }
                }
            }
        }
    }
    true
}

/// Taps per `i32` on a unit.
fn taps(unit: Unit) -> usize {
    match unit {
        Unit::Avx512Vnni => 4,
        _ => 2,
    }
}

/// A layer's constants, as the caller gives them.
#[derive(Clone, Copy)]
struct Layer<'a, 'q> {
    g: &'a Geometry,
    in_zero_point: i32,
    weights: &'a [u8],
    folded_bias: I32s<'a>,
    q: &'a Requant<'q>,
    /// The output rows and columns of a 2 × 2 max pooling with stride 2 that follows, written
    /// instead of the convolution's output.
    pool: Option<(usize, usize)>,
}

/// Where things are for a unit that takes `taps` taps per `i32`: the padded image (the input
/// with its padding around it, as far as the windows reach) and the groups of taps.
#[derive(Clone, Copy)]
struct Layout {
    /// Rows and columns of the padded image.
    h: usize,
    w: usize,
    /// Values in one of its rows.
    row: usize,
    /// Values of the image, plus `taps − 1`: a filter row whose length is not a multiple of
    /// `taps` reads past its end (with zero weights).
    len: usize,
    /// Groups of taps in one filter row, and in a whole filter.
    row_groups: usize,
    groups: usize,
}

impl Layout {
    fn of(g: &Geometry, taps: usize) -> Option<Layout> {
        let h = (g.out_h.checked_sub(1)?)
            .checked_mul(g.stride)?
            .checked_add(g.kh)?;
        let w = (g.out_w.checked_sub(1)?)
            .checked_mul(g.stride)?
            .checked_add(g.kw)?;
        let row = w.checked_mul(g.in_c)?;
        let len = h.checked_mul(row)?.checked_add(taps - 1)?;
        let row_groups = g.kw.checked_mul(g.in_c)?.div_ceil(taps);
        let groups = g.kh.checked_mul(row_groups)?;
        Some(Layout {
            h,
            w,
            row,
            len,
            row_groups,
            groups,
        })
    }

    fn fits(&self) -> bool {
        self.len <= MAX_IMAGE && self.groups * 8 <= MAX_PACKED
    }
}

/// Eight channels' requantization constants as vectors, decoded once per pass.
#[derive(Clone, Copy)]
struct Block {
    bias: __m256i,
    multiplier: __m256i,
    /// The multipliers of the odd lanes, in the even lanes' places.
    multiplier_odd: __m256i,
    left: __m256i,
    right: __m256i,
    /// `2^right − 1` and half of it: `rounding_divide_by_pot`'s mask and threshold.
    mask: __m256i,
    half_mask: __m256i,
    /// `act_min − out_zero_point` and `act_max − out_zero_point`.
    low: __m256i,
    high: __m256i,
    out_zero_point: __m256i,
    /// The zero point, `act_min` and `act_max` in sixteen `i16` lanes.
    zero_point16: __m256i,
    act_min16: __m256i,
    act_max16: __m256i,
    /// Some channel shifts left (the saturating step is skipped otherwise).
    any_left: bool,
}

impl Block {
    /// Channels `8b..8b + 8` of `consts` (bias, multiplier, left, right shifts in parts of
    /// `MAX_CHANNELS`).
    #[target_feature(enable = "avx2")]
    fn new(consts: &[i32], b: usize, q: &Requant) -> Block {
        let part = |p: usize| load(&consts[p * MAX_CHANNELS + 8 * b..]);
        let (multiplier, left, right) = (part(1), part(2), part(3));
        let one = _mm256_set1_epi32(1);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
        let zp = q.out_zero_point;
        Block {
            bias: part(0),
            multiplier,
            multiplier_odd: _mm256_srli_epi64(multiplier, 32),
            left,
            right,
            mask,
            half_mask: _mm256_srli_epi32(mask, 1),
            low: _mm256_set1_epi32(q.act_min as i32 - zp),
            high: _mm256_set1_epi32(q.act_max as i32 - zp),
            out_zero_point: _mm256_set1_epi32(zp),
            zero_point16: _mm256_set1_epi16(zp as i16),
            act_min16: _mm256_set1_epi16(q.act_min as i16),
            act_max16: _mm256_set1_epi16(q.act_max as i16),
            any_left: _mm256_testz_si256(left, left) == 0,
        }
    }
}

/// Requantizes the sums of `count` windows (of a group) for one block of eight channels and writes
/// them: window i's values go to `output[at + i · stride..][..channels]`.
#[inline(always)]
unsafe fn write_group(
    sums: [__m256i; WINDOWS],
    count: usize,
    block: &Block,
    output: &mut [i8],
    at: usize,
    stride: usize,
    channels: usize,
) {
    for (i, &sum) in sums.iter().enumerate().take(count) {
        let at = at + i * stride;
        // SAFETY: AVX2 (every caller has it).
        unsafe { store(requantize8(sum, block), &mut output[at..at + channels]) };
    }
}

/// [`write_group`] for two adjacent blocks of eight channels, both full: sixteen values per window,
/// packed to bytes together.
#[inline(always)]
unsafe fn write_pair(
    sums: ([__m256i; WINDOWS], [__m256i; WINDOWS]),
    count: usize,
    blocks: (&Block, &Block),
    output: &mut [i8],
    at: usize,
    stride: usize,
) {
    for i in 0..count {
        let at = at + i * stride;
        // SAFETY: AVX2 (every caller has it).
        unsafe {
            let one = rescale8(sums.0[i], blocks.0);
            let two = rescale8(sums.1[i], blocks.1);
            // To i16, saturating: [one 0–3, two 0–3 | one 4–7, two 4–7]. Then the zero point
            // (saturating) and the clamp on sixteen lanes at once: a value saturated to ±32,767
            // lands on the same end of the activation's range as the exact one would.
            let words = _mm256_packs_epi32(one, two);
            let c = blocks.0;
            let words = _mm256_adds_epi16(words, c.zero_point16);
            let words = _mm256_min_epi16(_mm256_max_epi16(words, c.act_min16), c.act_max16);
            // Bytes (already in range), then the four dwords in channel order.
            let bytes = _mm256_packs_epi16(words, words);
            let ordered =
                _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0));
            let out = &mut output[at..at + 16];
            _mm_storeu_si128(out.as_mut_ptr().cast(), _mm256_castsi256_si128(ordered));
        }
    }
}

#[target_feature(enable = "avx2")]
unsafe fn conv2d_avx2(layer: &Layer, input: &[i8], output: &mut [i8]) -> bool {
    // Taps as i16, two per i32: (w0, w1) · (x0, x1) summed by VPMADDWD.
    let pack = |taps: &[u8]| {
        let t = |w: u8| w as i8 as i16 as u16 as u32;
        match *taps {
            [w0, w1] => (t(w0) | t(w1) << 16) as i32,
            [w0] => t(w0) as i32,
            _ => 0,
        }
    };
    // SAFETY: the caller's promises are `drive`'s.
    let dot = |w: &[i32], init, x: &[i16], starts, offsets: &[usize]| unsafe {
        dot::<_, { Unit::Avx2 as u8 }>(w, init, x, starts, offsets)
    };
    // SAFETY: as above.
    let dot2 = |w: &[i32], groups, init, x: &[i16], starts, offsets: &[usize]| unsafe {
        dot2::<_, { Unit::Avx2 as u8 }>(w, groups, init, x, starts, offsets)
    };
    drive::<i16, 2>(layer, input, output, |x| x as i16, 0, pack, dot, dot2)
}

#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
unsafe fn conv2d_vnni(layer: &Layer, input: &[i8], output: &mut [i8]) -> bool {
    // Taps as four i8 per i32; VPDPBUSD multiplies them by four unsigned input bytes, so the
    // image holds x + 128 and the bias takes 128 · Σ w back.
    let pack = |taps: &[u8]| match <[u8; 4]>::try_from(taps) {
        Ok(four) => i32::from_le_bytes(four),
        Err(_) => {
            let t = |i: usize| taps.get(i).copied().unwrap_or(0);
            i32::from_le_bytes([t(0), t(1), t(2), t(3)])
        }
    };
    // SAFETY: the caller's promises are `drive`'s.
    let dot = |w: &[i32], init, x: &[u8], starts, offsets: &[usize]| unsafe {
        dot::<_, { Unit::Avx512Vnni as u8 }>(w, init, x, starts, offsets)
    };
    // SAFETY: as above.
    let dot2 = |w: &[i32], groups, init, x: &[u8], starts, offsets: &[usize]| unsafe {
        dot2::<_, { Unit::Avx512Vnni as u8 }>(w, groups, init, x, starts, offsets)
    };
    drive::<u8, 4>(
        layer,
        input,
        output,
        |x| (x as u8) ^ 0x80,
        128,
        pack,
        dot,
        dot2,
    )
}

/// The convolution, for a unit that takes `TAPS` taps per `i32` from an image of `V`:
/// `widen(x) = x + offset` as a `V`, `pack` puts up to `TAPS` weights in an `i32`, and `dot` /
/// `dot2` are the unit's sums of products of a group of windows with one / two blocks of eight
/// filters (defined in each unit's `#[target_feature]` function, so compiled for it). The driver
/// itself is compiled for AVX2. False, with nothing written, if the layer does not fit the
/// stack buffers (the caller checked that it does).
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn drive<V: Copy, const TAPS: usize>(
    layer: &Layer,
    input: &[i8],
    output: &mut [i8],
    widen: impl Fn(i8) -> V,
    offset: i32,
    pack: impl Fn(&[u8]) -> i32,
    dot: impl Fn(&[i32], __m256i, &[V], [usize; WINDOWS], &[usize]) -> [__m256i; WINDOWS],
    dot2: impl Fn(
        &[i32],
        usize,
        (__m256i, __m256i),
        &[V],
        [usize; WINDOWS],
        &[usize],
    ) -> ([__m256i; WINDOWS], [__m256i; WINDOWS]),
) -> bool {
    let Layer {
        g,
        in_zero_point,
        weights,
        folded_bias,
        q,
        pool,
    } = *layer;
    let Some(at) = Layout::of(g, TAPS) else {
        return false;
    };
    let k = g.patch_len();
    let row_len = g.kw * g.in_c;
    // Windows in the order they are computed: every output position in turn; or, with a
    // pooling after, the four windows of each pooling window in turn (a group of `WINDOWS`
    // then holds whole pooling windows), whose largest accumulator gives one output.
    let (per_output, out_w) = match pool {
        Some((_, out_w)) => (4, out_w),
        None => (1, g.out_w),
    };
    let positions = match pool {
        Some((out_h, out_w)) => 4 * out_h * out_w,
        None => g.out_h * g.out_w,
    };
    // Channels per pass: as many 8-channel blocks as the packed weights hold.
    let per_pass = ((MAX_PACKED / (at.groups * 8)) * 8).min(MAX_CHANNELS);

    // The padded image. Every value up to `at.len` is written before anything reads it.
    let mut image = [MaybeUninit::<V>::uninit(); MAX_IMAGE];
    let Some(image) = image.get_mut(..at.len) else {
        return false;
    };
    image.fill(MaybeUninit::new(
        widen(in_zero_point.clamp(-128, 127) as i8),
    ));
    // Image rows and columns the windows reach (none if the padding is wider than they reach).
    let cols = g.in_w.min(at.w.saturating_sub(g.pad_left));
    let rows = if cols == 0 {
        0
    } else {
        g.in_h.min(at.h.saturating_sub(g.pad_top))
    };
    for iy in 0..rows {
        let src = &input[iy * g.in_w * g.in_c..][..cols * g.in_c];
        let start = (iy + g.pad_top) * at.row + g.pad_left * g.in_c;
        for (d, &x) in image[start..start + cols * g.in_c].iter_mut().zip(src) {
            *d = MaybeUninit::new(widen(x));
        }
    }
    // SAFETY: all of `image` was written just above.
    let image: &[V] = unsafe { core::slice::from_raw_parts(image.as_ptr().cast(), image.len()) };

    // Where group j of a window starts, from the window's start: row ky, group m.
    let mut offsets = [0usize; MAX_PACKED / 8];
    for ky in 0..g.kh {
        for m in 0..at.row_groups {
            offsets[ky * at.row_groups + m] = ky * at.row + TAPS * m;
        }
    }
    let offsets = &offsets[..at.groups];
    // The last window's last group ends inside the image (so does every other's): the
    // promise `dot` and `dot2` rely on.
    let last_start = ((g.out_h - 1) * at.w + g.out_w - 1) * g.stride * g.in_c;
    if last_start + offsets[at.groups - 1] + TAPS > image.len() {
        return false;
    }

    let mut packed = [MaybeUninit::<i32>::uninit(); MAX_PACKED];
    let mut consts = [0i32; 4 * MAX_CHANNELS];
    let mut first = 0;
    while first < g.out_c {
        let n = per_pass.min(g.out_c - first);
        let blocks = n.div_ceil(8);
        // Weights of block b, group j, lane l at packed[(b·groups + j)·8 + l]: group j of
        // filter first + 8b + l (row ky, taps TAPS·m…), zero past the row or the channels.
        let packed = &mut packed[..blocks * at.groups * 8];
        for (b, block) in packed.chunks_exact_mut(at.groups * 8).enumerate() {
            for l in 0..8 {
                let c = first + 8 * b + l;
                if c >= first + n {
                    for j in 0..at.groups {
                        block[8 * j + l] = MaybeUninit::new(0);
                    }
                    continue;
                }
                let rows = weights[c * k..(c + 1) * k].chunks_exact(row_len);
                for (ky, row) in rows.enumerate() {
                    let first_group = ky * at.row_groups;
                    for (m, taps) in row.chunks(TAPS).enumerate() {
                        block[8 * (first_group + m) + l] = MaybeUninit::new(pack(taps));
                    }
                }
            }
        }
        // SAFETY: the loop above wrote every slot.
        let packed: &[i32] =
            unsafe { core::slice::from_raw_parts(packed.as_ptr().cast(), packed.len()) };
        // Constants, per channel of the pass: bias (less offset · Σ w), multiplier, left
        // shift, right shift.
        for i in 0..blocks * 8 {
            let c = first + i;
            let (bias, m, shift) = if i < n {
                let sum = weights[c * k..(c + 1) * k]
                    .iter()
                    .fold(0i32, |s, &w| s.wrapping_add(w as i8 as i32));
                let bias = folded_bias.get(c).wrapping_sub(offset.wrapping_mul(sum));
                (bias, q.multiplier.get(c), q.shift.get(c))
            } else {
                (0, 0, 0)
            };
            consts[i] = bias;
            consts[MAX_CHANNELS + i] = m;
            consts[2 * MAX_CHANNELS + i] = shift.clamp(0, 31);
            consts[3 * MAX_CHANNELS + i] = (-shift).clamp(0, 31);
        }
        let mut decoded = [MaybeUninit::<Block>::uninit(); MAX_CHANNELS / 8];
        for (b, d) in decoded[..blocks].iter_mut().enumerate() {
            *d = MaybeUninit::new(Block::new(&consts, b, q));
        }
        // SAFETY: the first `blocks` were written just above.
        let decoded: &[Block] =
            unsafe { core::slice::from_raw_parts(decoded.as_ptr().cast(), blocks) };

        // The next output position (of the pooling, when there is one).
        let (mut oy, mut ox) = (0, 0);
        let mut p0 = 0;
        while p0 < positions {
            let count = WINDOWS.min(positions - p0);
            // Where each window starts in the image (missing ones at the end repeat the last).
            let mut starts = [0usize; WINDOWS];
            for i in 0..WINDOWS {
                if i < count {
                    let (y, x) = match pool {
                        Some(_) => (2 * oy + (i % 4) / 2, 2 * ox + i % 2),
                        None => (oy, ox),
                    };
                    starts[i] = (y * at.w + x) * g.stride * g.in_c;
                    if (i + 1) % per_output == 0 {
                        ox += 1;
                        if ox == out_w {
                            ox = 0;
                            oy += 1;
                        }
                    }
                } else {
                    starts[i] = starts[i - 1];
                }
            }
            let (out_p0, out_count) = (p0 / per_output, count / per_output);
            // The accumulators of each output: max pooling commutes with requantization,
            // which never decreases as the accumulator grows, so the largest of four
            // accumulators requantized is the largest of their four outputs.
            let pooled = |sums: [__m256i; WINDOWS]| match pool {
                Some(_) => max4(sums),
                None => sums,
            };
            let write = |output: &mut [i8], b: usize, sums| {
                let at = out_p0 * g.out_c + first + 8 * b;
                let channels = (n - 8 * b).min(8);
                let sums = pooled(sums);
                // SAFETY: AVX2, as this function.
                unsafe { write_group(sums, out_count, &decoded[b], output, at, g.out_c, channels) };
            };
            // Two blocks at a time (each window value broadcast serves 16 filters), then the
            // last one if the count is odd.
            let span = at.groups * 8;
            let mut b = 0;
            while b + 2 <= blocks {
                let w = &packed[b * span..(b + 2) * span];
                let init = (decoded[b].bias, decoded[b + 1].bias);
                let (one, two) = dot2(w, at.groups, init, image, starts, offsets);
                if 8 * b + 16 <= n {
                    let at = out_p0 * g.out_c + first + 8 * b;
                    let blocks = (&decoded[b], &decoded[b + 1]);
                    let sums = (pooled(one), pooled(two));
                    // SAFETY: AVX2, as this function.
                    unsafe { write_pair(sums, out_count, blocks, output, at, g.out_c) };
                } else {
                    write(output, b, one);
                    write(output, b + 1, two);
                }
                b += 2;
            }
            if b < blocks {
                let w = &packed[b * span..(b + 1) * span];
                write(output, b, dot(w, decoded[b].bias, image, starts, offsets));
            }
            p0 += count;
        }
        first += n;
    }
    true
}

/// The largest of each four accumulators in turn, at the front: output `j` of a group of
/// pooled windows is `max(sums[4j..4j + 4])` (the rest is left as it was).
#[target_feature(enable = "avx2")]
fn max4(sums: [__m256i; WINDOWS]) -> [__m256i; WINDOWS] {
    const { assert!(WINDOWS.is_multiple_of(4)) };
    let mut out = sums;
    for (j, four) in sums.chunks_exact(4).enumerate() {
        let top = _mm256_max_epi32(four[0], four[1]);
        let bottom = _mm256_max_epi32(four[2], four[3]);
        out[j] = _mm256_max_epi32(top, bottom);
    }
    out
}

/// Eight `i32` from the start of `values` (at least eight long).
#[inline(always)]
fn load(values: &[i32]) -> __m256i {
    let v = &values[..8];
    // SAFETY: `v` holds eight i32 (32 bytes); the load is unaligned.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

/// The group of taps at `image[at..]`, four bytes, broadcast to eight lanes.
///
/// # Safety
/// `at` and the four bytes from there are inside `image`.
#[inline(always)]
unsafe fn broadcast<V>(image: &[V], at: usize) -> __m256i {
    // SAFETY: in bounds (the caller's promise); an unaligned read.
    let v = unsafe { image.as_ptr().add(at).cast::<i32>().read_unaligned() };
    // SAFETY: AVX2 (every caller has it).
    unsafe { _mm256_set1_epi32(v) }
}

/// `acc + Σ products of w's taps and x's`, on the unit `UNIT` (a [`Unit`] as `u8`).
#[inline(always)]
unsafe fn multiply_add<const UNIT: u8>(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
    // SAFETY: the unit's instructions exist (every caller is compiled for it).
    unsafe {
        if UNIT == Unit::Avx512Vnni as u8 {
            _mm256_dpbusd_epi32(acc, x, w)
        } else {
            _mm256_add_epi32(acc, _mm256_madd_epi16(w, x))
        }
    }
}

/// Windows whose accumulators a unit keeps in registers at once: all eight with AVX-512's 32
/// vector registers, four with AVX2's 16 (the group then takes two runs over the weights).
const fn live<const UNIT: u8>() -> usize {
    if UNIT == Unit::Avx512Vnni as u8 {
        WINDOWS
    } else {
        4
    }
}

/// The accumulators of a group of windows for eight filters: `init` (the biases) plus the sums
/// of products, where `w` holds the packed groups of taps of eight filters, `image` the padded
/// image, the windows start at `starts` and their groups of taps at `offsets` from there.
///
/// # Safety
/// The unit's instructions, and `start + offset` plus one group inside `image` for every start
/// and offset.
#[inline(always)]
unsafe fn dot<V, const UNIT: u8>(
    w: &[i32],
    init: __m256i,
    image: &[V],
    starts: [usize; WINDOWS],
    offsets: &[usize],
) -> [__m256i; WINDOWS] {
    // SAFETY: the caller's promises, passed on.
    unsafe {
        let mut acc = [init; WINDOWS];
        for first in (0..WINDOWS).step_by(live::<UNIT>()) {
            for (&offset, lanes) in offsets.iter().zip(w.chunks_exact(8)) {
                let wj = load(lanes);
                for i in first..first + live::<UNIT>() {
                    let x = broadcast(image, starts[i] + offset);
                    acc[i] = multiply_add::<UNIT>(acc[i], wj, x);
                }
            }
        }
        acc
    }
}

/// [`dot`] for two blocks of eight filters (`w` holds both, `groups · 8` values each): each
/// window value broadcast serves sixteen filters.
///
/// # Safety
/// As [`dot`].
#[inline(always)]
unsafe fn dot2<V, const UNIT: u8>(
    w: &[i32],
    groups: usize,
    init: (__m256i, __m256i),
    image: &[V],
    starts: [usize; WINDOWS],
    offsets: &[usize],
) -> ([__m256i; WINDOWS], [__m256i; WINDOWS]) {
    // SAFETY: the caller's promises, passed on.
    unsafe {
        let (w0, w1) = w.split_at(groups * 8);
        let mut a = [init.0; WINDOWS];
        let mut b = [init.1; WINDOWS];
        for first in (0..WINDOWS).step_by(live::<UNIT>()) {
            let taps = offsets
                .iter()
                .zip(w0.chunks_exact(8))
                .zip(w1.chunks_exact(8));
            for ((&offset, l0), l1) in taps {
                let (u, v) = (load(l0), load(l1));
                for i in first..first + live::<UNIT>() {
                    let x = broadcast(image, starts[i] + offset);
                    a[i] = multiply_add::<UNIT>(a[i], u, x);
                    b[i] = multiply_add::<UNIT>(b[i], v, x);
                }
            }
        }
        (a, b)
    }
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

/// [`super::ChannelTile::output`] on eight channels' accumulators (bias included): the saturating left shift,
/// `rounding_doubling_high_mul`, `rounding_divide_by_pot`, the zero point and the activation's
/// clamp, each giving exactly the scalar code's integers.
#[target_feature(enable = "avx2")]
fn requantize8(acc: __m256i, c: &Block) -> __m256i {
    // saturating_add(zero point), then the clamp: with the zero point in [−128, 127], the same
    // as clamping to [act_min − zp, act_max − zp] first and adding it after.
    let v = rescale8(acc, c);
    let v = _mm256_min_epi32(_mm256_max_epi32(v, c.low), c.high);
    _mm256_add_epi32(v, c.out_zero_point)
}

/// [`requantize8`] up to the zero point: the saturating left shift,
/// `rounding_doubling_high_mul` and `rounding_divide_by_pot`.
#[target_feature(enable = "avx2")]
fn rescale8(acc: __m256i, c: &Block) -> __m256i {
    let zero = _mm256_setzero_si256();
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
    let odd = _mm256_mul_epi32(_mm256_srli_epi64(shifted, 32), c.multiplier_odd);
    // The low 32 bits of a logical shift are those of the arithmetic one.
    let even = _mm256_srli_epi64(_mm256_add_epi64(even, half), 31);
    // Bits 31–62 of the odd sums to the high halves (the blend keeps only those).
    let odd = _mm256_slli_epi64(_mm256_add_epi64(odd, half), 1);
    let high = _mm256_blend_epi32(even, odd, 0b1010_1010);
    // rounding_divide_by_pot(high, right).
    let remainder = _mm256_and_si256(high, c.mask);
    let threshold = _mm256_sub_epi32(c.half_mask, _mm256_cmpgt_epi32(zero, high));
    _mm256_sub_epi32(
        _mm256_srav_epi32(high, c.right),
        _mm256_cmpgt_epi32(remainder, threshold),
    )
}
