//! The `.tkm` byte layout in one place: the offset of every field (the tables of `FORMAT.md`,
//! which mirrors this file), the writer ([`ModelFile::write`]) and the front end's encoding and
//! decoding ([`FrontEnd::encode`], [`FrontEnd::decode`]). The reader in [`super`] and the
//! laptop's quantizer both go through these names, so a field cannot be written in one place
//! and read from another.

use super::{FrontEnd, ModelError, Op, Tensor};
use crate::mfcc::{FeatureConfig, MelScale};

/// Magic bytes at the start of an int8 model.
pub const MAGIC: [u8; 4] = *b"TKM8";
/// The format version written and read.
pub const VERSION: u16 = 1;
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 48;
/// Bytes of one tensor record.
pub const TENSOR_LEN: usize = 20;
/// Bytes of one op record.
pub const OP_LEN: usize = 32;
/// Bytes per channel of a layer's constants before its weights: bias, folded bias, multiplier,
/// shift (`i32`) and weight scale (`f32`).
pub const CHANNEL_LEN: usize = 20;
/// Bytes of the front end before the per-coefficient statistics (MFCC kind).
pub const MFCC_FRONT_END_LEN: usize = 36;
/// Bytes of the motion front end before its statistics.
pub const MOTION_FRONT_END_LEN: usize = 12;
/// Bytes of the image front end.
pub const IMAGE_FRONT_END_LEN: usize = 4;

/// Front-end kinds in the file.
pub const FRONT_END_IMAGE: u8 = 1;
/// Front-end kinds in the file.
pub const FRONT_END_MFCC: u8 = 2;
/// Front-end kinds in the file.
pub const FRONT_END_MOTION: u8 = 3;

/// Offsets of the header's fields, from the start of the file.
pub mod header {
    /// `TKM8`, 4 bytes.
    pub const MAGIC: usize = 0;
    /// `u16` format version.
    pub const VERSION: usize = 4;
    /// `u16` header length ([`super::HEADER_LEN`]).
    pub const HEADER_LEN: usize = 6;
    /// `u32` file length, CRC included.
    pub const FILE_LEN: usize = 8;
    /// `u32` arena bytes.
    pub const ARENA: usize = 12;
    /// `u16` tensor count.
    pub const TENSOR_COUNT: usize = 16;
    /// `u16` op count.
    pub const OP_COUNT: usize = 18;
    /// `u16` input tensor index.
    pub const INPUT: usize = 20;
    /// `u16` output tensor index.
    pub const OUTPUT: usize = 22;
    /// `u32` offset of the tensor table.
    pub const TENSORS_AT: usize = 24;
    /// `u32` offset of the op table.
    pub const OPS_AT: usize = 28;
    /// `u32` offset of the labels.
    pub const LABELS_AT: usize = 32;
    /// `u32` length of the labels.
    pub const LABELS_LEN: usize = 36;
    /// `u32` offset of the front end (0 when there is none).
    pub const FRONT_END_AT: usize = 40;
    /// `u32` length of the front end.
    pub const FRONT_END_LEN: usize = 44;
}

/// Offsets of a tensor record's fields, from the record's start.
pub mod tensor {
    /// `u16` rows.
    pub const HEIGHT: usize = 0;
    /// `u16` columns.
    pub const WIDTH: usize = 2;
    /// `u16` channels.
    pub const CHANNELS: usize = 4;
    /// `u16`, zero.
    pub const RESERVED: usize = 6;
    /// `u32` offset in the arena.
    pub const OFFSET: usize = 8;
    /// `f32` scale.
    pub const SCALE: usize = 12;
    /// `i32` zero point.
    pub const ZERO_POINT: usize = 16;
}

/// Offsets of an op record's fields, from the record's start.
pub mod op {
    /// `u8` op code.
    pub const CODE: usize = 0;
    /// `u8`, zero.
    pub const RESERVED: usize = 1;
    /// `u16` input tensor.
    pub const INPUT: usize = 2;
    /// `u16` output tensor.
    pub const OUTPUT: usize = 4;
    /// `u8` kernel rows.
    pub const KERNEL_HEIGHT: usize = 6;
    /// `u8` kernel columns.
    pub const KERNEL_WIDTH: usize = 7;
    /// `u8` stride.
    pub const STRIDE: usize = 8;
    /// Four `u8`: padding above, left, below, right.
    pub const PAD: usize = 9;
    /// `i8` activation minimum.
    pub const ACT_MIN: usize = 13;
    /// `i8` activation maximum.
    pub const ACT_MAX: usize = 14;
    /// `u8`, zero.
    pub const RESERVED_2: usize = 15;
    /// `u32` offset of the op's constants.
    pub const PARAMS_AT: usize = 16;
    /// `u32` length of the op's constants.
    pub const PARAMS_LEN: usize = 20;
    /// Eight bytes, zero, to the end of the record.
    pub const RESERVED_TAIL: usize = 24;
}

/// Offsets of the front end's fields, from the section's start (kind and flags first, then
/// each kind's own fields).
pub mod front_end {
    /// `u8` kind ([`super::FRONT_END_IMAGE`], …).
    pub const KIND: usize = 0;
    /// `u8` flags: bit 0 subtracts each clip's mean (MFCC only).
    pub const FLAGS: usize = 1;
    /// `u16`: the MFCC kind's clip length in milliseconds, 0 for 1,000 (so that one-second
    /// models keep the bytes they had before the field); zero for the other kinds.
    pub const CLIP_MS: usize = 2;

    /// The MFCC kind's fields.
    pub mod mfcc {
        /// `u32` sample rate, Hz.
        pub const SAMPLE_RATE: usize = 4;
        /// `u16` window, ms.
        pub const WINDOW_MS: usize = 8;
        /// `u16` stride, ms.
        pub const STRIDE_MS: usize = 10;
        /// `u16` FFT length.
        pub const FFT_LEN: usize = 12;
        /// `u16` mel filters.
        pub const MEL_BINS: usize = 14;
        /// `u16` MFCC count (0: log-mel energies).
        pub const MFCC: usize = 16;
        /// `u8` mel scale: 0 HTK, 1 Slaney.
        pub const MEL_SCALE: usize = 18;
        /// `u8` Slaney area normalisation: 0 or 1.
        pub const SLANEY_NORM: usize = 19;
        /// `f32` lowest filter frequency, Hz.
        pub const FMIN: usize = 20;
        /// `f32` highest filter frequency, Hz.
        pub const FMAX: usize = 24;
        /// `f32` pre-emphasis coefficient.
        pub const PREEMPHASIS: usize = 28;
        /// `u16` frames in one clip.
        pub const FRAMES: usize = 32;
        /// `u16` coefficients per frame.
        pub const COEFFICIENTS: usize = 34;
    }

    /// The motion kind's fields.
    pub mod motion {
        /// `u16` accelerometer samples per second.
        pub const SAMPLE_RATE: usize = 4;
        /// `u16` samples in one window.
        pub const WINDOW: usize = 6;
        /// `u16` samples between two windows.
        pub const HOP: usize = 8;
        /// `u16` features (always [`crate::imu::FEATURE_COUNT`]).
        pub const FEATURES: usize = 10;
    }
}

/// Flag bit of an MFCC front end: subtract each clip's mean per coefficient first.
const FLAG_CLIP_MEAN: u8 = 1;

pub(super) fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |x| u16::from_le_bytes([x[0], x[1]]))
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
}

pub(super) fn f32_at(b: &[u8], at: usize) -> f32 {
    f32::from_bits(u32_at(b, at))
}

/// Little-endian stores into a buffer the caller sized (every store is in bounds: the writers
/// below check the length first).
struct Out<'b>(&'b mut [u8]);

impl Out<'_> {
    fn u8(&mut self, at: usize, v: u8) {
        self.0[at] = v;
    }
    fn u16(&mut self, at: usize, v: u16) {
        self.0[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, at: usize, v: i32) {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, at: usize, v: f32) {
        self.u32(at, v.to_bits());
    }
    fn bytes(&mut self, at: usize, v: &[u8]) {
        self.0[at..at + v.len()].copy_from_slice(v);
    }
}

/// `n` rounded up to a multiple of 4 (every section starts 4-byte aligned).
const fn align4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn u16_of(v: usize, error: ModelError) -> Result<u16, ModelError> {
    u16::try_from(v).map_err(|_| error)
}

fn u8_of(v: usize, error: ModelError) -> Result<u8, ModelError> {
    u8::try_from(v).map_err(|_| error)
}

impl<'a> FrontEnd<'a> {
    /// Reads a front-end section (empty: [`FrontEnd::None`]), or says why it is invalid. Checks
    /// the section's own structure; [`super::Model::parse`] also checks it against the input.
    pub fn decode(f: &'a [u8]) -> Result<FrontEnd<'a>, ModelError> {
        use front_end::{mfcc, motion, CLIP_MS, FLAGS, KIND};
        if f.is_empty() {
            return Ok(FrontEnd::None);
        }
        if f.len() < 4 {
            return Err(ModelError::BadFrontEnd);
        }
        let (flags, clip_ms) = (f[FLAGS], u16_at(f, CLIP_MS));
        match f[KIND] {
            FRONT_END_IMAGE if f.len() == IMAGE_FRONT_END_LEN && flags == 0 && clip_ms == 0 => {
                Ok(FrontEnd::Image)
            }
            // A second is written 0, never 1,000: one model, one encoding.
            FRONT_END_MFCC
                if f.len() >= MFCC_FRONT_END_LEN
                    && flags & !FLAG_CLIP_MEAN == 0
                    && clip_ms != 1_000 =>
            {
                let mel_scale = match f[mfcc::MEL_SCALE] {
                    0 => MelScale::Htk,
                    1 => MelScale::Slaney,
                    _ => return Err(ModelError::BadFrontEnd),
                };
                let slaney_norm = match f[mfcc::SLANEY_NORM] {
                    0 => false,
                    1 => true,
                    _ => return Err(ModelError::BadFrontEnd),
                };
                let config = FeatureConfig {
                    sample_rate_hz: u32_at(f, mfcc::SAMPLE_RATE),
                    window_ms: u16_at(f, mfcc::WINDOW_MS),
                    stride_ms: u16_at(f, mfcc::STRIDE_MS),
                    fft_len: u16_at(f, mfcc::FFT_LEN),
                    num_mel_bins: u16_at(f, mfcc::MEL_BINS),
                    num_mfcc: u16_at(f, mfcc::MFCC),
                    mel_scale,
                    slaney_norm,
                    fmin_hz: f32_at(f, mfcc::FMIN),
                    fmax_hz: f32_at(f, mfcc::FMAX),
                    preemphasis: f32_at(f, mfcc::PREEMPHASIS),
                    clip_ms: if clip_ms == 0 { 1_000 } else { clip_ms },
                };
                let coefficients = u16_at(f, mfcc::COEFFICIENTS) as usize;
                let stats = &f[MFCC_FRONT_END_LEN..];
                if stats.len() != 8 * coefficients {
                    return Err(ModelError::BadFrontEnd);
                }
                Ok(FrontEnd::Mfcc {
                    config,
                    clip_mean: flags & FLAG_CLIP_MEAN != 0,
                    frames: u16_at(f, mfcc::FRAMES) as usize,
                    coefficients,
                    mean: &stats[..4 * coefficients],
                    std: &stats[4 * coefficients..],
                })
            }
            FRONT_END_MOTION if f.len() >= MOTION_FRONT_END_LEN && flags == 0 && clip_ms == 0 => {
                let features = u16_at(f, motion::FEATURES) as usize;
                let stats = &f[MOTION_FRONT_END_LEN..];
                if features != crate::imu::FEATURE_COUNT || stats.len() != 8 * features {
                    return Err(ModelError::BadFrontEnd);
                }
                Ok(FrontEnd::Motion {
                    sample_rate_hz: u16_at(f, motion::SAMPLE_RATE),
                    window: u16_at(f, motion::WINDOW),
                    hop: u16_at(f, motion::HOP),
                    mean: &stats[..4 * features],
                    std: &stats[4 * features..],
                })
            }
            _ => Err(ModelError::BadFrontEnd),
        }
    }

    /// Bytes of the encoded section (0 for [`FrontEnd::None`]).
    pub fn encoded_len(&self) -> usize {
        match self {
            FrontEnd::None => 0,
            FrontEnd::Image => IMAGE_FRONT_END_LEN,
            FrontEnd::Mfcc { mean, std, .. } => MFCC_FRONT_END_LEN + mean.len() + std.len(),
            FrontEnd::Motion { mean, std, .. } => MOTION_FRONT_END_LEN + mean.len() + std.len(),
        }
    }

    /// Writes the section into `out` (at least [`FrontEnd::encoded_len`] bytes) and gives its
    /// length; [`ModelError::BadFrontEnd`] when the statistics do not have one `f32` mean and
    /// standard deviation per coefficient or feature, or a count does not fit its field.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ModelError> {
        use front_end::{mfcc, motion, CLIP_MS, FLAGS, KIND};
        let len = self.encoded_len();
        let out = out.get_mut(..len).ok_or(ModelError::BadFrontEnd)?;
        out.fill(0);
        let mut o = Out(out);
        match *self {
            FrontEnd::None => {}
            FrontEnd::Image => o.u8(KIND, FRONT_END_IMAGE),
            FrontEnd::Mfcc {
                config,
                clip_mean,
                frames,
                coefficients,
                mean,
                std,
            } => {
                if mean.len() != 4 * coefficients || std.len() != 4 * coefficients {
                    return Err(ModelError::BadFrontEnd);
                }
                o.u8(KIND, FRONT_END_MFCC);
                o.u8(FLAGS, if clip_mean { FLAG_CLIP_MEAN } else { 0 });
                o.u16(
                    CLIP_MS,
                    if config.clip_ms == 1_000 {
                        0
                    } else {
                        config.clip_ms
                    },
                );
                o.u32(mfcc::SAMPLE_RATE, config.sample_rate_hz);
                o.u16(mfcc::WINDOW_MS, config.window_ms);
                o.u16(mfcc::STRIDE_MS, config.stride_ms);
                o.u16(mfcc::FFT_LEN, config.fft_len);
                o.u16(mfcc::MEL_BINS, config.num_mel_bins);
                o.u16(mfcc::MFCC, config.num_mfcc);
                o.u8(mfcc::MEL_SCALE, config.mel_scale as u8);
                o.u8(mfcc::SLANEY_NORM, config.slaney_norm as u8);
                o.f32(mfcc::FMIN, config.fmin_hz);
                o.f32(mfcc::FMAX, config.fmax_hz);
                o.f32(mfcc::PREEMPHASIS, config.preemphasis);
                o.u16(mfcc::FRAMES, u16_of(frames, ModelError::BadFrontEnd)?);
                o.u16(
                    mfcc::COEFFICIENTS,
                    u16_of(coefficients, ModelError::BadFrontEnd)?,
                );
                o.bytes(MFCC_FRONT_END_LEN, mean);
                o.bytes(MFCC_FRONT_END_LEN + mean.len(), std);
            }
            FrontEnd::Motion {
                sample_rate_hz,
                window,
                hop,
                mean,
                std,
            } => {
                let features = crate::imu::FEATURE_COUNT;
                if mean.len() != 4 * features || std.len() != 4 * features {
                    return Err(ModelError::BadFrontEnd);
                }
                o.u8(KIND, FRONT_END_MOTION);
                o.u16(motion::SAMPLE_RATE, sample_rate_hz);
                o.u16(motion::WINDOW, window);
                o.u16(motion::HOP, hop);
                o.u16(motion::FEATURES, features as u16);
                o.bytes(MOTION_FRONT_END_LEN, mean);
                o.bytes(MOTION_FRONT_END_LEN + mean.len(), std);
            }
        }
        Ok(len)
    }
}

/// One output channel's constants of a weighted layer (conv2d, depthwise conv2d, fully
/// connected), as the file stores them before the weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelParams {
    /// `i32` bias, scale `input_scale · weight_scale`.
    pub bias: i32,
    /// `bias − input_zero_point · Σ weights` ([`super::folded_bias`]).
    pub folded_bias: i32,
    /// Requantization multiplier (TFLite's quantized multiplier).
    pub multiplier: i32,
    /// Requantization shift (positive: left).
    pub shift: i32,
    /// `max |w| / 127` of the channel (for tools; the kernels do not read it).
    pub weight_scale: f32,
}

/// Bytes of a weighted layer's constants: `CHANNEL_LEN` per channel, then the weights.
pub const fn layer_params_len(channels: usize, weights: usize) -> usize {
    CHANNEL_LEN * channels + weights
}

/// Writes a weighted layer's constants into `out` (at least [`layer_params_len`] bytes): each
/// part for every channel in turn (biases, folded biases, multipliers, shifts, weight scales),
/// then the `i8` weights in the op's layout (`FORMAT.md`). Gives the length written.
pub fn encode_layer_params(
    channels: &[ChannelParams],
    weights: &[i8],
    out: &mut [u8],
) -> Result<usize, ModelError> {
    let n = channels.len();
    let len = layer_params_len(n, weights.len());
    let mut o = Out(out.get_mut(..len).ok_or(ModelError::BadParams)?);
    for (ch, p) in channels.iter().enumerate() {
        o.i32(4 * ch, p.bias);
        o.i32(4 * (n + ch), p.folded_bias);
        o.i32(4 * (2 * n + ch), p.multiplier);
        o.i32(4 * (3 * n + ch), p.shift);
        o.f32(4 * (4 * n + ch), p.weight_scale);
    }
    for (k, &w) in weights.iter().enumerate() {
        o.u8(CHANNEL_LEN * n + k, w as u8);
    }
    Ok(len)
}

/// Bytes of the softmax op's constants.
pub const SOFTMAX_PARAMS_LEN: usize = 4 * crate::int8::SOFTMAX_TABLE_LEN;

/// Writes the softmax op's table (`table[d]`, `i32`) into `out` (at least
/// [`SOFTMAX_PARAMS_LEN`] bytes).
pub fn encode_softmax_table(
    table: &[i32; crate::int8::SOFTMAX_TABLE_LEN],
    out: &mut [u8],
) -> Result<usize, ModelError> {
    let mut o = Out(out
        .get_mut(..SOFTMAX_PARAMS_LEN)
        .ok_or(ModelError::BadParams)?);
    for (d, &e) in table.iter().enumerate() {
        o.i32(4 * d, e);
    }
    Ok(SOFTMAX_PARAMS_LEN)
}

/// Everything a `.tkm` file holds, borrowed, for [`ModelFile::write`]: the sections are laid
/// out in the order `FORMAT.md` gives (header, tensor table, op table, labels, front end, each
/// op's constants, each 4-byte aligned), the offsets filled in, and the CRC appended.
///
/// The writer checks only what the format can hold (counts and dimensions that fit their
/// fields, labels of 1–255 bytes); whether the model makes sense is [`super::Model::parse`]'s
/// job, which the laptop runs on every file it writes.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile<'a> {
    /// Arena bytes the model needs (activations and the convolution patch).
    pub arena: usize,
    /// The activation tensors.
    pub tensors: &'a [Tensor],
    /// The ops, in the order they run; each op's `params` are its constants.
    pub ops: &'a [Op<'a>],
    /// The input tensor's index.
    pub input: usize,
    /// The output tensor's index.
    pub output: usize,
    /// One label per output value.
    pub labels: &'a [&'a str],
    /// What turns sensor data into the input.
    pub front_end: FrontEnd<'a>,
}

/// Where [`ModelFile::write`] puts each section.
#[derive(Debug, Clone, Copy)]
struct Layout {
    ops_at: usize,
    labels_at: usize,
    labels_len: usize,
    front_end_at: usize,
    params_at: usize,
    file_len: usize,
}

impl ModelFile<'_> {
    fn layout(&self) -> Result<Layout, ModelError> {
        let ops_at = HEADER_LEN + TENSOR_LEN * self.tensors.len();
        let labels_at = ops_at + OP_LEN * self.ops.len();
        let mut labels_len = 0;
        for label in self.labels {
            if label.is_empty() || label.len() > 255 {
                return Err(ModelError::BadLabels);
            }
            labels_len += 1 + label.len();
        }
        let front_end_at = align4(labels_at + labels_len);
        let params_at = align4(front_end_at + self.front_end.encoded_len());
        let params: usize = self.ops.iter().map(|op| align4(op.params.len())).sum();
        let file_len = params_at + params + 4;
        if file_len > u32::MAX as usize {
            return Err(ModelError::TooLarge);
        }
        Ok(Layout {
            ops_at,
            labels_at,
            labels_len,
            front_end_at,
            params_at,
            file_len,
        })
    }

    /// Bytes of the file, CRC included, or why it cannot be written.
    pub fn file_len(&self) -> Result<usize, ModelError> {
        Ok(self.layout()?.file_len)
    }

    /// Writes the file into `out` (at least [`ModelFile::file_len`] bytes) and gives its length.
    /// Errors: more than 65,535 tensors or ops ([`ModelError::TooLarge`]), a dimension over
    /// 65,535 ([`ModelError::BadTensor`]), a kernel, stride or padding over 255
    /// ([`ModelError::BadShape`]), a label of 0 or over 255 bytes ([`ModelError::BadLabels`]),
    /// a front end that cannot be encoded ([`ModelError::BadFrontEnd`]), `out` too short
    /// ([`ModelError::Truncated`]).
    pub fn write(&self, out: &mut [u8]) -> Result<usize, ModelError> {
        let layout = self.layout()?;
        let out = out
            .get_mut(..layout.file_len)
            .ok_or(ModelError::Truncated)?;
        out.fill(0);
        let mut o = Out(out);
        // Header.
        {
            use header::*;
            o.bytes(MAGIC, &super::MAGIC);
            o.u16(VERSION, super::VERSION);
            o.u16(HEADER_LEN, super::HEADER_LEN as u16);
            o.u32(FILE_LEN, layout.file_len as u32);
            o.u32(
                ARENA,
                u32::try_from(self.arena).map_err(|_| ModelError::TooLarge)?,
            );
            let count = |n: usize| u16_of(n, ModelError::TooLarge);
            o.u16(TENSOR_COUNT, count(self.tensors.len())?);
            o.u16(OP_COUNT, count(self.ops.len())?);
            o.u16(INPUT, count(self.input)?);
            o.u16(OUTPUT, count(self.output)?);
            o.u32(TENSORS_AT, super::HEADER_LEN as u32);
            o.u32(OPS_AT, layout.ops_at as u32);
            o.u32(LABELS_AT, layout.labels_at as u32);
            o.u32(LABELS_LEN, layout.labels_len as u32);
            let front_end_len = self.front_end.encoded_len();
            if front_end_len > 0 {
                o.u32(FRONT_END_AT, layout.front_end_at as u32);
                o.u32(FRONT_END_LEN, front_end_len as u32);
            }
        }
        // Tensor table.
        for (i, t) in self.tensors.iter().enumerate() {
            use tensor::*;
            let at = HEADER_LEN + i * TENSOR_LEN;
            let dim = |n: usize| u16_of(n, ModelError::BadTensor);
            o.u16(at + HEIGHT, dim(t.h)?);
            o.u16(at + WIDTH, dim(t.w)?);
            o.u16(at + CHANNELS, dim(t.c)?);
            o.u32(
                at + OFFSET,
                u32::try_from(t.offset).map_err(|_| ModelError::BadTensor)?,
            );
            o.f32(at + SCALE, t.scale);
            o.i32(at + ZERO_POINT, t.zero_point);
        }
        // Op table and each op's constants.
        let mut params_at = layout.params_at;
        for (i, p) in self.ops.iter().enumerate() {
            use op::*;
            let at = layout.ops_at + i * OP_LEN;
            let byte = |n: usize| u8_of(n, ModelError::BadShape);
            o.u8(at + CODE, p.code as u8);
            o.u16(at + INPUT, u16_of(p.input, ModelError::BadGraph)?);
            o.u16(at + OUTPUT, u16_of(p.output, ModelError::BadGraph)?);
            o.u8(at + KERNEL_HEIGHT, byte(p.kh)?);
            o.u8(at + KERNEL_WIDTH, byte(p.kw)?);
            o.u8(at + STRIDE, byte(p.stride)?);
            for (k, &pad) in p.pad.iter().enumerate() {
                o.u8(at + PAD + k, byte(pad)?);
            }
            o.u8(at + ACT_MIN, p.act_min as u8);
            o.u8(at + ACT_MAX, p.act_max as u8);
            if !p.params.is_empty() {
                o.u32(at + PARAMS_AT, params_at as u32);
                o.u32(at + PARAMS_LEN, p.params.len() as u32);
                o.bytes(params_at, p.params);
                params_at += align4(p.params.len());
            }
        }
        // Labels: a length byte, then the UTF-8.
        let mut at = layout.labels_at;
        for label in self.labels {
            o.u8(at, label.len() as u8);
            o.bytes(at + 1, label.as_bytes());
            at += 1 + label.len();
        }
        self.front_end.encode(&mut o.0[layout.front_end_at..])?;
        let body = layout.file_len - 4;
        let crc = crate::crc32::crc32(&o.0[..body]);
        o.u32(body, crc);
        Ok(layout.file_len)
    }
}
