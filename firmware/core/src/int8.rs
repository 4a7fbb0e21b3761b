//! int8 kernels: the arithmetic of a quantized network, on the laptop and on the board.
//!
//! Conventions are TensorFlow Lite's, so the numbers mean the same thing there:
//! - a tensor holds `q` with `real = scale · (q − zero_point)`;
//! - weights are symmetric per output channel (zero point 0), biases are `i32` with scale
//!   `input_scale · weight_scale[channel]`;
//! - an accumulator goes back to int8 through a fixed-point multiplier and shift
//!   ([`requantize`]), then the output zero point is added and the fused activation's range
//!   `[act_min, act_max]` clamps it.
//!
//! Every kernel has a plain `*_reference` version written as the definition reads, and the
//! multiply-accumulate kernels have a faster version (`conv2d`, `depthwise_conv2d`,
//! `fully_connected`) that must give the same bytes; the tests check that on random shapes and
//! on the edges. Pooling, ReLU and softmax are one implementation each (they are already as
//! plain as they get). On a laptop, the convolution, the dense layer and max pooling also run on
//! the processor's [`VectorUnit`] (AVX2 or AVX-512 VNNI, found at run time, `int8/x86.rs`),
//! computing the same integers; `*_on` runs them on a given unit, for the tests.
//!
//! Integer arithmetic only, with wrapping or saturating operations where a malformed model could
//! overflow: no kernel panics, whatever the bytes. Shapes and lengths are the caller's to check
//! ([`crate::model`] validates them before the first inference); a kernel given slices that are
//! too short stops early instead of reading past them.

#[cfg(target_arch = "x86_64")]
mod x86;

/// Weights as stored: one `i8` per byte.
#[inline(always)]
fn w8(b: u8) -> i32 {
    b as i8 as i32
}

/// `i32` values stored little-endian in a byte slice (model files are not aligned for `i32`).
#[derive(Debug, Clone, Copy)]
pub struct I32s<'a>(pub &'a [u8]);

impl I32s<'_> {
    /// The `i`th value, or 0 past the end.
    #[inline(always)]
    pub fn get(&self, i: usize) -> i32 {
        match self.0.get(4 * i..4 * i + 4) {
            Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.len() < 4
    }
}

/// `round(a · b / 2³¹)` with the rounding and the one saturating case of gemmlowp's
/// `SaturatingRoundingDoublingHighMul`.
#[inline(always)]
pub fn rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp's `RoundingDivideByPOT`).
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let exponent = exponent.min(31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// `acc · multiplier · 2^shift / 2³¹`, rounded as TFLite's `MultiplyByQuantizedMultiplier`
/// (a positive `shift` shifts left first, saturating; a negative one rounds right after).
#[inline(always)]
pub fn requantize(acc: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.clamp(0, 31) as u32;
    let right = (-shift).clamp(0, 31) as u32;
    let shifted = ((acc as i64) << left).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    rounding_divide_by_pot(rounding_doubling_high_mul(shifted, multiplier), right)
}

/// A real multiplier `m > 0` as `(multiplier, shift)` with `m ≈ multiplier · 2^shift / 2³¹` and
/// `multiplier` in `[2³⁰, 2³¹)` (TFLite's `QuantizeMultiplier`); `(0, 0)` for `m = 0` or a
/// value too small to matter. Computed on the laptop when quantizing; the board only reads the
/// result.
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if !(m.is_finite() && m > 0.0) {
        return (0, 0);
    }
    let (fraction, mut shift) = libm::frexp(m);
    let mut q = libm::round(fraction * (1i64 << 31) as f64) as i64;
    if q == 1i64 << 31 {
        q /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    if shift > 30 {
        return (i32::MAX, 30);
    }
    (q as i32, shift)
}

/// How an accumulator becomes an output value: per-channel multipliers and shifts, the output
/// zero point and the fused activation's range.
#[derive(Debug, Clone, Copy)]
pub struct Requant<'a> {
    /// One multiplier per output channel.
    pub multiplier: I32s<'a>,
    /// One shift per output channel.
    pub shift: I32s<'a>,
    /// Output zero point.
    pub out_zero_point: i32,
    /// Smallest output (the fused ReLU's zero, or −128).
    pub act_min: i8,
    /// Largest output (the fused ReLU6's six, or 127).
    pub act_max: i8,
}

impl Requant<'_> {
    #[inline(always)]
    fn output(&self, acc: i32, channel: usize) -> i8 {
        let v = requantize(acc, self.multiplier.get(channel), self.shift.get(channel))
            .saturating_add(self.out_zero_point);
        v.clamp(self.act_min as i32, self.act_max as i32) as i8
    }
}

/// Output channels whose constants the faster kernels decode at once (on the stack).
const CHANNEL_TILE: usize = 64;

/// The constants of up to [`CHANNEL_TILE`] output channels, decoded once per op instead of once
/// per output value: the faster kernels spend as long requantizing as multiplying otherwise.
/// [`ChannelTile::output`] computes exactly [`Requant`]'s result.
struct ChannelTile {
    bias: [i32; CHANNEL_TILE],
    multiplier: [i32; CHANNEL_TILE],
    left: [u8; CHANNEL_TILE],
    right: [u8; CHANNEL_TILE],
}

impl ChannelTile {
    /// Channels `first..first + n` (`n` at most [`CHANNEL_TILE`]).
    fn new(bias: I32s, q: &Requant, first: usize, n: usize) -> ChannelTile {
        let mut t = ChannelTile {
            bias: [0; CHANNEL_TILE],
            multiplier: [0; CHANNEL_TILE],
            left: [0; CHANNEL_TILE],
            right: [0; CHANNEL_TILE],
        };
        for i in 0..n.min(CHANNEL_TILE) {
            let shift = q.shift.get(first + i);
            t.bias[i] = bias.get(first + i);
            t.multiplier[i] = q.multiplier.get(first + i);
            t.left[i] = shift.clamp(0, 31) as u8;
            t.right[i] = (-shift).clamp(0, 31) as u8;
        }
        t
    }

    /// The output value of tile channel `i` for the sum of products `sum` (bias added here).
    #[inline(always)]
    fn output(&self, i: usize, sum: i32, q: &Requant) -> i8 {
        let i = i % CHANNEL_TILE;
        let acc = self.bias[i].wrapping_add(sum);
        let shifted = match self.left[i] {
            0 => acc,
            left => ((acc as i64) << left).clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        };
        let v = rounding_divide_by_pot(
            rounding_doubling_high_mul(shifted, self.multiplier[i]),
            self.right[i] as u32,
        )
        .saturating_add(q.out_zero_point);
        v.clamp(q.act_min as i32, q.act_max as i32) as i8
    }
}

/// The geometry of a convolution or pooling window on an NHWC image (batch 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Input rows.
    pub in_h: usize,
    /// Input columns.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output rows.
    pub out_h: usize,
    /// Output columns.
    pub out_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel rows.
    pub kh: usize,
    /// Kernel columns.
    pub kw: usize,
    /// Step between windows (rows and columns).
    pub stride: usize,
    /// Zero rows above the image.
    pub pad_top: usize,
    /// Zero columns left of the image.
    pub pad_left: usize,
}

impl Geometry {
    /// The input row under output row `oy` and kernel row `ky`, if it is inside the image.
    #[inline(always)]
    fn row(&self, oy: usize, ky: usize) -> Option<usize> {
        // Wrapping: an absurd geometry (which the loader rejects) gives a wrong row, never a
        // panic; the filter and the slices' bounds keep it inside the image.
        oy.wrapping_mul(self.stride)
            .wrapping_add(ky)
            .checked_sub(self.pad_top)
            .filter(|&y| y < self.in_h)
    }

    #[inline(always)]
    fn col(&self, ox: usize, kx: usize) -> Option<usize> {
        ox.wrapping_mul(self.stride)
            .wrapping_add(kx)
            .checked_sub(self.pad_left)
            .filter(|&x| x < self.in_w)
    }

    /// Weights per output channel of a full convolution: `kh · kw · in_c`.
    pub fn patch_len(&self) -> usize {
        self.kh * self.kw * self.in_c
    }
}

/// Convolution, as its definition reads: for every output value, the bias plus the sum of
/// `(input − input_zero_point) · weight` over the window (padding contributes nothing), then
/// [`requantize`]. Weights are `[out_c][kh][kw][in_c]`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_reference(
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) {
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for oc in 0..g.out_c {
                let mut acc = bias.get(oc);
                for ky in 0..g.kh {
                    let Some(iy) = g.row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.col(ox, kx) else { continue };
                        for ic in 0..g.in_c {
                            let x = input.get((iy * g.in_w + ix) * g.in_c + ic);
                            let w = weights.get(((oc * g.kh + ky) * g.kw + kx) * g.in_c + ic);
                            if let (Some(&x), Some(&w)) = (x, w) {
                                acc = acc.wrapping_add(
                                    (x as i32).wrapping_sub(in_zero_point).wrapping_mul(w8(w)),
                                );
                            }
                        }
                    }
                }
                if let Some(o) = output.get_mut((oy * g.out_w + ox) * g.out_c + oc) {
                    *o = q.output(acc, oc);
                }
            }
        }
    }
}

/// `Σ a[i] · b[i]` of int8 values (the faster kernels' inner loop; the compiler vectorises it on
/// the laptop).
#[cfg(not(all(feature = "cortex-m4-dsp", target_arch = "arm")))]
#[inline(always)]
fn dot(a: &[i8], b: &[u8]) -> i32 {
    a.iter()
        .zip(b)
        .fold(0i32, |acc, (&x, &w)| acc.wrapping_add(x as i32 * w8(w)))
}

/// `Σ a[i] · b[i]` of int8 values with the Cortex-M4's DSP instructions (feature
/// `cortex-m4-dsp`, on `target_arch = "arm"` only): `SXTB16` splits four int8 values into two
/// pairs of int16, and `SMLAD` multiplies both pairs and adds them to the accumulator in one
/// instruction, so four products cost six instructions and two loads. The sum is the same
/// integer as the portable loop's (`SMLAD` wraps like `wrapping_add`), which the QEMU tests
/// check byte for byte.
#[cfg(all(feature = "cortex-m4-dsp", target_arch = "arm"))]
#[inline(always)]
#[allow(unsafe_code)]
fn dot(a: &[i8], b: &[u8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = 0i32;
    let mut xs = a.chunks_exact(4);
    let mut ws = b.chunks_exact(4);
    for (x, w) in (&mut xs).zip(&mut ws) {
        let x = u32::from_le_bytes([x[0] as u8, x[1] as u8, x[2] as u8, x[3] as u8]);
        let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        // SAFETY: register-only DSP instructions of ARMv7E-M (the Cortex-M4); no memory, no
        // stack, no flags read.
        unsafe {
            core::arch::asm!(
                "sxtb16 {xl}, {x}",
                "sxtb16 {xh}, {x}, ror #8",
                "sxtb16 {wl}, {w}",
                "sxtb16 {wh}, {w}, ror #8",
                "smlad {acc}, {xl}, {wl}, {acc}",
                "smlad {acc}, {xh}, {wh}, {acc}",
                x = in(reg) x,
                w = in(reg) w,
                xl = out(reg) _,
                xh = out(reg) _,
                wl = out(reg) _,
                wh = out(reg) _,
                acc = inout(reg) acc,
                options(pure, nomem, nostack),
            );
        }
    }
    for (&x, &w) in xs.remainder().iter().zip(ws.remainder()) {
        acc = acc.wrapping_add(x as i32 * w8(w));
    }
    acc
}

/// [`conv2d_reference`], faster: on a laptop, on the best [`VectorUnit`] its processor has
/// (`int8/x86.rs`), else (and on the board) [`conv2d_portable`]. All give the reference's bytes.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
    patch: &mut [i8],
) {
    let unit = VectorUnit::best();
    conv2d_on(
        unit,
        g,
        in_zero_point,
        weights,
        folded_bias,
        q,
        input,
        output,
        patch,
    );
}

/// [`conv2d`] on the given unit: the portable kernel when the processor does not have it, or
/// when the layer is larger than its stack buffers (filters of more than 512 groups of taps,
/// a group being two taps of a kernel row with AVX2 and four with VNNI, so about 1,024 and
/// 2,048 taps; a padded input of more than 16,384 values, as far as the windows reach). Tests
/// run every unit against the reference.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_on(
    unit: VectorUnit,
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
    patch: &mut [i8],
) {
    #[cfg(target_arch = "x86_64")]
    if x86::conv2d(
        unit,
        g,
        in_zero_point,
        weights,
        folded_bias,
        q,
        input,
        output,
    ) {
        return;
    }
    let _ = unit;
    conv2d_portable(
        g,
        in_zero_point,
        weights,
        folded_bias,
        q,
        input,
        output,
        patch,
    );
}

/// [`conv2d`] followed by [`max_pool`] over 2 × 2 windows with stride 2 and no padding, in one
/// pass on a laptop's vector unit: `output` is the pooling's output (`pool` its geometry,
/// whose input is the convolution's output). Max pooling commutes with requantization, which
/// never decreases as the accumulator grows, so the kernel requantizes only the largest of each
/// four accumulators, and writes the two ops' bytes. False, with nothing written, when the
/// processor has no vector unit, on the board, or for any other pooling: then run the two ops.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_max_pool(
    g: &Geometry,
    pool: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    let unit = VectorUnit::best();
    conv2d_max_pool_on(
        unit,
        g,
        pool,
        in_zero_point,
        weights,
        folded_bias,
        q,
        input,
        output,
    )
}

/// [`conv2d_max_pool`] on the given unit (false on [`VectorUnit::Portable`]).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_max_pool_on(
    unit: VectorUnit,
    g: &Geometry,
    pool: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    return x86::conv2d_max_pool(
        unit,
        g,
        pool,
        in_zero_point,
        weights,
        folded_bias,
        q,
        input,
        output,
    );
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (
            unit,
            g,
            pool,
            in_zero_point,
            weights,
            folded_bias,
            q,
            input,
            output,
        );
        false
    }
}

/// Where the convolution runs: the portable kernel (the board's: with its DSP instructions
/// there), or a laptop processor's vector unit (x86_64, found at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorUnit {
    /// Plain Rust, the board's kernel.
    Portable,
    /// AVX2 (x86_64): two int8 taps per 16-bit multiply-add (`VPMADDWD`).
    Avx2,
    /// AVX-512 VNNI (x86_64, on 256-bit registers): four taps per `VPDPBUSD`.
    Avx512Vnni,
}

impl VectorUnit {
    /// Every unit, fastest last.
    pub const ALL: [VectorUnit; 3] = [
        VectorUnit::Portable,
        VectorUnit::Avx2,
        VectorUnit::Avx512Vnni,
    ];

    /// Whether this processor has it (the portable kernel runs everywhere).
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return x86::has(self);
        #[cfg(not(target_arch = "x86_64"))]
        return self == VectorUnit::Portable;
    }

    /// The fastest one this processor has: what [`conv2d`] uses.
    pub fn best() -> VectorUnit {
        #[cfg(target_arch = "x86_64")]
        return x86::best();
        #[cfg(not(target_arch = "x86_64"))]
        return VectorUnit::Portable;
    }

    /// `"portable"`, `"avx2"` or `"avx512-vnni"`.
    pub fn name(self) -> &'static str {
        match self {
            VectorUnit::Portable => "portable",
            VectorUnit::Avx2 => "avx2",
            VectorUnit::Avx512Vnni => "avx512-vnni",
        }
    }
}

/// [`conv2d_reference`], faster, in portable code (what the board runs): each window is copied
/// once into `patch` (`kh · kw · in_c` bytes, padding filled with the input zero point) and
/// dotted with each filter, and the zero point's share `in_zero_point · Σ weights` comes
/// precomputed in `folded_bias` (`bias − in_zero_point · Σ weights`, one per output channel,
/// checked by the model loader).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_portable(
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
    patch: &mut [i8],
) {
    let k = g.patch_len();
    let Some(patch) = patch.get_mut(..k) else {
        return;
    };
    let row_len = g.kw * g.in_c;
    let pad = in_zero_point.clamp(-128, 127) as i8;
    let mut first = 0;
    while first < g.out_c {
        let n = CHANNEL_TILE.min(g.out_c - first);
        let tile = ChannelTile::new(folded_bias, q, first, n);
        let Some(filters) = weights.get(first * k..(first + n) * k) else {
            return;
        };
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                if !gather(g, oy, ox, row_len, pad, input, patch) {
                    return;
                }
                let at = (oy * g.out_w + ox) * g.out_c + first;
                let Some(out) = output.get_mut(at..at + n) else {
                    return;
                };
                for (i, (o, filter)) in out.iter_mut().zip(filters.chunks_exact(k)).enumerate() {
                    *o = tile.output(i, dot(patch, filter), q);
                }
            }
        }
        first += n;
    }
}

/// Copies the window of output position `(oy, ox)` into `patch`, one kernel row (`kw · in_c`
/// contiguous values inside the image) at a time, padding with `pad`. False if `input` is
/// shorter than the geometry says.
#[inline(always)]
fn gather(
    g: &Geometry,
    oy: usize,
    ox: usize,
    row_len: usize,
    pad: i8,
    input: &[i8],
    patch: &mut [i8],
) -> bool {
    for ky in 0..g.kh {
        let Some(dst) = patch.get_mut(ky * row_len..(ky + 1) * row_len) else {
            return false;
        };
        let Some(iy) = g.row(oy, ky) else {
            dst.fill(pad);
            continue;
        };
        let x0 = (ox * g.stride) as isize - g.pad_left as isize;
        if x0 >= 0 && x0 as usize + g.kw <= g.in_w {
            let at = (iy * g.in_w + x0 as usize) * g.in_c;
            match input.get(at..at + row_len) {
                Some(src) => dst.copy_from_slice(src),
                None => return false,
            }
        } else {
            for kx in 0..g.kw {
                let cell = &mut dst[kx * g.in_c..(kx + 1) * g.in_c];
                match g.col(ox, kx) {
                    Some(ix) => {
                        let at = (iy * g.in_w + ix) * g.in_c;
                        match input.get(at..at + g.in_c) {
                            Some(src) => cell.copy_from_slice(src),
                            None => return false,
                        }
                    }
                    None => cell.fill(pad),
                }
            }
        }
    }
    true
}

/// Depthwise convolution (one filter per channel, `out_c = in_c`), as its definition reads.
/// Weights are `[kh][kw][channels]`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_reference(
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) {
    let c = g.in_c;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for ch in 0..c {
                let mut acc = bias.get(ch);
                for ky in 0..g.kh {
                    let Some(iy) = g.row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.col(ox, kx) else { continue };
                        let x = input.get((iy * g.in_w + ix) * c + ch);
                        let w = weights.get((ky * g.kw + kx) * c + ch);
                        if let (Some(&x), Some(&w)) = (x, w) {
                            acc = acc.wrapping_add(
                                (x as i32).wrapping_sub(in_zero_point).wrapping_mul(w8(w)),
                            );
                        }
                    }
                }
                if let Some(o) = output.get_mut((oy * g.out_w + ox) * c + ch) {
                    *o = q.output(acc, ch);
                }
            }
        }
    }
}

/// Channels a depthwise tile accumulates at once (on the stack).
const TILE: usize = 32;

/// [`depthwise_conv2d_reference`], faster: channels innermost in tiles of 32 accumulators, so
/// each window position reads contiguous inputs and weights.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    g: &Geometry,
    in_zero_point: i32,
    weights: &[u8],
    bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) {
    let c = g.in_c;
    let mut c0 = 0;
    while c0 < c {
        let n = TILE.min(c - c0);
        let tile = ChannelTile::new(bias, q, c0, n);
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let mut acc = [0i32; TILE];
                for ky in 0..g.kh {
                    let Some(iy) = g.row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.col(ox, kx) else { continue };
                        let xi = (iy * g.in_w + ix) * c + c0;
                        let wi = (ky * g.kw + kx) * c + c0;
                        let (Some(xs), Some(ws)) = (input.get(xi..xi + n), weights.get(wi..wi + n))
                        else {
                            return;
                        };
                        for ((a, &x), &w) in acc[..n].iter_mut().zip(xs).zip(ws) {
                            *a = a.wrapping_add(
                                (x as i32).wrapping_sub(in_zero_point).wrapping_mul(w8(w)),
                            );
                        }
                    }
                }
                let at = (oy * g.out_w + ox) * c + c0;
                let Some(out) = output.get_mut(at..at + n) else {
                    return;
                };
                for (i, (o, &a)) in out.iter_mut().zip(&acc[..n]).enumerate() {
                    *o = tile.output(i, a, q);
                }
            }
        }
        c0 += n;
    }
}

/// Fully connected, as its definition reads: `out[j] = bias[j] + Σ (x[i] − zp) · w[j][i]`.
/// Weights are `[outputs][inputs]`.
pub fn fully_connected_reference(
    in_zero_point: i32,
    weights: &[u8],
    bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) {
    let n = input.len();
    for (j, o) in output.iter_mut().enumerate() {
        let mut acc = bias.get(j);
        for (i, &x) in input.iter().enumerate() {
            if let Some(&w) = weights.get(j * n + i) {
                acc = acc.wrapping_add((x as i32).wrapping_sub(in_zero_point).wrapping_mul(w8(w)));
            }
        }
        *o = q.output(acc, j);
    }
}

/// [`fully_connected_reference`], faster: one dot product per output with the zero point's
/// share precomputed in `folded_bias`; on a laptop, compiled for the best [`VectorUnit`] its
/// processor has.
pub fn fully_connected(
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) {
    fully_connected_on(VectorUnit::best(), weights, folded_bias, q, input, output);
}

/// [`fully_connected`] on the given unit (the portable code when the processor does not have
/// it).
pub fn fully_connected_on(
    unit: VectorUnit,
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) {
    #[cfg(target_arch = "x86_64")]
    if x86::fully_connected(unit, weights, folded_bias, q, input, output) {
        return;
    }
    let _ = unit;
    fully_connected_portable(weights, folded_bias, q, input, output);
}

/// [`fully_connected`] in portable code (the board's; on a laptop, the same source compiled
/// for its vector unit).
#[inline(always)]
pub fn fully_connected_portable(
    weights: &[u8],
    folded_bias: I32s,
    q: &Requant,
    input: &[i8],
    output: &mut [i8],
) {
    let n = input.len();
    if n == 0 {
        return;
    }
    for (t, (out, rows)) in output
        .chunks_mut(CHANNEL_TILE)
        .zip(weights.chunks(CHANNEL_TILE * n))
        .enumerate()
    {
        let tile = ChannelTile::new(folded_bias, q, t * CHANNEL_TILE, out.len());
        for (i, (o, row)) in out.iter_mut().zip(rows.chunks_exact(n)).enumerate() {
            *o = tile.output(i, dot(input, row), q);
        }
    }
}

/// Max pooling over `kh × kw` windows (no padding; input and output share scale and zero point);
/// on a laptop, compiled for the best [`VectorUnit`] its processor has.
pub fn max_pool(g: &Geometry, input: &[i8], output: &mut [i8]) {
    max_pool_on(VectorUnit::best(), g, input, output);
}

/// [`max_pool`] on the given unit (the portable code when the processor does not have it).
pub fn max_pool_on(unit: VectorUnit, g: &Geometry, input: &[i8], output: &mut [i8]) {
    #[cfg(target_arch = "x86_64")]
    if x86::max_pool(unit, g, input, output) {
        return;
    }
    let _ = unit;
    max_pool_portable(g, input, output);
}

/// [`max_pool`] in portable code (the board's; on a laptop, the same source compiled for its
/// vector unit).
#[inline(always)]
pub fn max_pool_portable(g: &Geometry, input: &[i8], output: &mut [i8]) {
    let c = g.in_c;
    // In checked arithmetic, so that absurd shapes (which the loader rejects) cannot wrap into
    // passing: then every index below is less than `input.len()`.
    let reach = |out: usize, kernel: usize| {
        out.saturating_sub(1)
            .checked_mul(g.stride)?
            .checked_add(kernel)
    };
    let inside = g.pad_top == 0
        && g.pad_left == 0
        && reach(g.out_h, g.kh).is_some_and(|r| r <= g.in_h)
        && reach(g.out_w, g.kw).is_some_and(|r| r <= g.in_w)
        && g.in_h
            .checked_mul(g.in_w)
            .and_then(|n| n.checked_mul(c))
            .is_some_and(|n| n <= input.len());
    if inside && g.out_h > 0 && g.out_w > 0 {
        // Every window inside the image: whole rows of channels at a time.
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let at = (oy * g.out_w + ox) * c;
                let Some(out) = output.get_mut(at..at + c) else {
                    return;
                };
                out.fill(i8::MIN);
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let xi = ((oy * g.stride + ky) * g.in_w + ox * g.stride + kx) * c;
                        let Some(xs) = input.get(xi..xi + c) else {
                            return;
                        };
                        for (o, &x) in out.iter_mut().zip(xs) {
                            *o = (*o).max(x);
                        }
                    }
                }
            }
        }
        return;
    }
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for ch in 0..c {
                let mut m = i8::MIN;
                for ky in 0..g.kh {
                    let Some(iy) = g.row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.col(ox, kx) else { continue };
                        if let Some(&x) = input.get((iy * g.in_w + ix) * c + ch) {
                            m = m.max(x);
                        }
                    }
                }
                if let Some(o) = output.get_mut((oy * g.out_w + ox) * c + ch) {
                    *o = m;
                }
            }
        }
    }
}

/// Average pooling over `kh × kw` windows, rounded to nearest with ties away from zero (TFLite's
/// rule; input and output share scale and zero point).
pub fn avg_pool(g: &Geometry, input: &[i8], output: &mut [i8]) {
    let c = g.in_c;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for ch in 0..c {
                let (mut sum, mut count) = (0i32, 0i32);
                for ky in 0..g.kh {
                    let Some(iy) = g.row(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.col(ox, kx) else { continue };
                        if let Some(&x) = input.get((iy * g.in_w + ix) * c + ch) {
                            sum += x as i32;
                            count += 1;
                        }
                    }
                }
                let avg = if count == 0 {
                    0
                } else if sum >= 0 {
                    (sum + count / 2) / count
                } else {
                    (sum - count / 2) / count
                };
                if let Some(o) = output.get_mut((oy * g.out_w + ox) * c + ch) {
                    *o = avg.clamp(-128, 127) as i8;
                }
            }
        }
    }
}

/// ReLU or ReLU6 on its own (not fused into a layer): clamps to `[act_min, act_max]`, the
/// quantized zero and six (input and output share scale and zero point).
pub fn clamp(act_min: i8, act_max: i8, input: &[i8], output: &mut [i8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = x.clamp(act_min, act_max.max(act_min));
    }
}

/// The same clamp in place.
pub fn clamp_in_place(act_min: i8, act_max: i8, values: &mut [i8]) {
    for v in values {
        *v = (*v).clamp(act_min, act_max.max(act_min));
    }
}

/// The index of the first largest value (0 for an empty slice): the class a board reports for
/// its raw int8 outputs.
pub fn argmax(values: &[i8]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(
            (0, i8::MIN),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        )
        .0
}

/// Entries of a softmax table: `table[d] = round(2¹⁶ · exp(−d · input_scale · β))` for the
/// distance `d = max − x` in quantized steps.
pub const SOFTMAX_TABLE_LEN: usize = 256;

/// Largest softmax table entry, `exp(0)` in Q16.
pub const SOFTMAX_ONE: u32 = 1 << 16;

/// Softmax with int8 output (scale 1/256, zero point −128, as TFLite): for each value its
/// distance `d` below the largest, `e = table[d]` (computed when quantizing), and the output
/// `round(256 · e / Σ e) − 128`, saturated to 127. Integer only.
pub fn softmax(table: I32s, input: &[i8], output: &mut [i8]) {
    let Some(max) = input.iter().copied().max() else {
        return;
    };
    let e = |x: i8| {
        table
            .get((max as i32 - x as i32) as usize)
            .clamp(0, SOFTMAX_ONE as i32) as u64
    };
    let sum: u64 = input.iter().map(|&x| e(x)).sum();
    for (o, &x) in output.iter_mut().zip(input) {
        let p = ((e(x) << 8) + sum / 2).checked_div(sum).unwrap_or(0);
        *o = (p.min(255) as i32 - 128) as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requantize_matches_tflite_examples() {
        // 0.5 as a multiplier: (2^30, 0).
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        let (m, s) = quantize_multiplier(0.5);
        assert_eq!(requantize(100, m, s), 50);
        assert_eq!(requantize(101, m, s), 51); // 50.5 rounds up…
        assert_eq!(requantize(-101, m, s), -50); // …and so does −50.5 (gemmlowp's high multiply)
        let (m, s) = quantize_multiplier(0.25);
        assert_eq!(requantize(-6, m, s), -2); // −1.5 → −2
        assert_eq!(requantize(6, m, s), 2);
        // A multiplier above one shifts left, saturating.
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!(requantize(7, m, s), 21);
        // 3 = 0.75 · 2²: the left shift saturates first, then the 0.75 applies.
        assert_eq!(requantize(i32::MAX, m, s), 1_610_612_735);
        assert_eq!(rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(f64::NAN), (0, 0));
    }

    #[test]
    fn requantize_is_close_to_the_real_product() {
        let mut seed = 1u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..10_000 {
            let m = (next() % 1_000_000) as f64 / 1e6 * 2.0 + 1e-6;
            let acc = (next() % 200_000) as i32 - 100_000;
            let (qm, s) = quantize_multiplier(m);
            let got = requantize(acc, qm, s) as f64;
            // Two roundings (the high multiply, then the shift): off by at most one.
            assert!((got - acc as f64 * m).abs() <= 1.0 + 1e-6 * acc.abs() as f64);
        }
    }

    #[test]
    fn argmax_takes_the_first_largest() {
        assert_eq!(argmax(&[-128, 5, 7, 7, -3]), 2);
        assert_eq!(argmax(&[-128, -128]), 0);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn softmax_sums_to_about_one() {
        let mut table = [0u8; 4 * SOFTMAX_TABLE_LEN];
        for d in 0..SOFTMAX_TABLE_LEN {
            let v = libm::round(SOFTMAX_ONE as f64 * libm::exp(-(d as f64) * 0.1)) as i32;
            table[4 * d..4 * d + 4].copy_from_slice(&v.to_le_bytes());
        }
        let input = [10i8, 20, 30, -128, 127];
        let mut out = [0i8; 5];
        softmax(I32s(&table), &input, &mut out);
        assert_eq!(out[4], 127); // 127 is far above the rest: probability ~1
        assert!(out[..4].iter().all(|&o| o == -128));
        let input = [5i8, 5];
        softmax(I32s(&table), &input, &mut out[..2]);
        assert_eq!(&out[..2], &[0, 0]); // 0.5 each: 128 − 128
    }
}
