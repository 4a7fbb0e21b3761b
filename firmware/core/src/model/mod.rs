//! The int8 model file (`.tkm`) and the interpreter that runs it, on the laptop and on the board.
//!
//! [`Model::parse`] checks everything before the first inference: magic, version, lengths, the
//! CRC, the bounds of every offset, the op set, every shape, the quantization constants, the
//! labels, the feature configuration and the arena layout. After that [`Model::invoke`] runs
//! the ops one after another in a caller-given arena, allocating nothing. Neither panics nor
//! reads out of bounds, whatever the bytes (a fuzz target and a corpus of malformed files check
//! that). The byte layout is in `FORMAT.md` beside this crate.

use crate::int8::{self, Geometry, I32s, Requant, SOFTMAX_ONE, SOFTMAX_TABLE_LEN};
use crate::limits::Limits;
use crate::mfcc::FeatureConfig;

pub mod file;

use file::{f32_at, header, u16_at, u32_at};
pub use file::{
    ChannelParams, ModelFile, CHANNEL_LEN, FRONT_END_IMAGE, FRONT_END_MFCC, FRONT_END_MOTION,
    HEADER_LEN, MAGIC, MFCC_FRONT_END_LEN, MOTION_FRONT_END_LEN, OP_LEN, TENSOR_LEN, VERSION,
};

/// Most tensors in a model.
pub const MAX_TENSORS: usize = 64;
/// Most ops in a model.
pub const MAX_OPS: usize = 64;
/// Most weights one output of a layer may sum (keeps the `i32` accumulator from overflowing).
pub const MAX_FAN_IN: usize = 32_768;
/// Largest arena a model may ask for (16 MiB; the board has 256 KiB of RAM in all).
pub const MAX_ARENA: usize = 16 << 20;
/// A model file's identity: the CRC-32 of every byte before its last four, i.e. the CRC the
/// file itself ends with. (The CRC-32 of a whole valid file, its own CRC included, is the same
/// constant for every file, CRC's "residue", so it cannot tell two models apart.) BeginModel
/// announces it and the board's Info reports it for the active model.
pub fn file_crc(bytes: &[u8]) -> u32 {
    crate::crc32::crc32(&bytes[..bytes.len().saturating_sub(4)])
}

/// What a board keeps for a model: flash for the `.tkm` file and RAM for its arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The board's name.
    pub board: &'static str,
    /// Bytes of flash for one model file (one slot of the model store).
    pub model_flash: usize,
    /// Bytes of RAM for the arena.
    pub arena_ram: usize,
    /// The features its firmware computes.
    pub limits: Limits,
}

impl Budget {
    /// The Arduino Nano 33 BLE Sense (nRF52840: 1 MB flash, 256 KB RAM) with the kit's firmware:
    /// 64 KB of flash for Arduino's bootloader, 192 KB for the firmware, two 256 KB model slots
    /// (an upload never overwrites the model that runs); of the RAM, 128 KB for the arena, the
    /// rest for the firmware, the audio buffer, the MFCC and the stack.
    pub const NANO_33_BLE: Budget = Budget {
        board: "Arduino Nano 33 BLE Sense",
        model_flash: 256 * 1024,
        arena_ram: 128 * 1024,
        limits: Limits::BOARD,
    };

    /// Whether `model` fits, and its features are within the board's limits.
    pub fn fits(&self, model: &Model) -> bool {
        model.file_len() <= self.model_flash
            && model.arena_bytes() <= self.arena_ram
            && self.limits.check(model).is_ok()
    }
}

/// The operations the interpreter runs. Codes are stable: they are in model files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpCode {
    /// Convolution with per-channel weights and a fused activation.
    Conv2d = 1,
    /// Depthwise convolution (one filter per channel).
    DepthwiseConv2d = 2,
    /// Fully connected (dense) layer; reads its input flat.
    FullyConnected = 3,
    /// Max pooling.
    MaxPool = 4,
    /// Average pooling.
    AvgPool = 5,
    /// ReLU or ReLU6 on its own.
    Relu = 6,
    /// A new shape for the same values (flatten).
    Reshape = 7,
    /// Softmax to probabilities (scale 1/256, zero point −128).
    Softmax = 8,
}

impl OpCode {
    /// The op with this code.
    pub fn from_code(code: u8) -> Option<OpCode> {
        Some(match code {
            1 => OpCode::Conv2d,
            2 => OpCode::DepthwiseConv2d,
            3 => OpCode::FullyConnected,
            4 => OpCode::MaxPool,
            5 => OpCode::AvgPool,
            6 => OpCode::Relu,
            7 => OpCode::Reshape,
            8 => OpCode::Softmax,
            _ => return None,
        })
    }

    /// Name as in `tinyml inspect`.
    pub fn name(self) -> &'static str {
        match self {
            OpCode::Conv2d => "conv2d",
            OpCode::DepthwiseConv2d => "depthwise_conv2d",
            OpCode::FullyConnected => "fully_connected",
            OpCode::MaxPool => "max_pool",
            OpCode::AvgPool => "avg_pool",
            OpCode::Relu => "relu",
            OpCode::Reshape => "reshape",
            OpCode::Softmax => "softmax",
        }
    }

    /// Whether the op has weights (and per-channel constants).
    pub fn has_weights(self) -> bool {
        matches!(
            self,
            OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected
        )
    }
}

/// The op codes this interpreter runs (the board reports them in its Hello).
pub const OP_SET: [OpCode; 8] = [
    OpCode::Conv2d,
    OpCode::DepthwiseConv2d,
    OpCode::FullyConnected,
    OpCode::MaxPool,
    OpCode::AvgPool,
    OpCode::Relu,
    OpCode::Reshape,
    OpCode::Softmax,
];

/// Why a model was refused or could not run. Codes are stable: they travel over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ModelError {
    /// Shorter than its header or than the length it declares.
    Truncated = 32,
    /// Does not start with `TKM8`.
    BadMagic = 33,
    /// A format version this interpreter does not read.
    UnsupportedVersion = 34,
    /// The declared file length is not the length given, or reserved bytes are not zero.
    BadHeader = 35,
    /// The CRC-32 does not match: the bytes were damaged.
    BadChecksum = 36,
    /// An offset or length points outside the file, or sections overlap.
    OutOfBounds = 37,
    /// More tensors or ops than the interpreter supports, or none.
    TooLarge = 38,
    /// A tensor has a zero dimension, a bad scale or zero point, or lies outside the arena.
    BadTensor = 39,
    /// An op code this interpreter does not know.
    UnknownOp = 40,
    /// An op's shapes do not agree with its kernel, stride and padding.
    BadShape = 41,
    /// An op's constants have the wrong length.
    BadParams = 42,
    /// A multiplier, shift, folded bias or softmax table is out of range or inconsistent.
    BadQuantization = 43,
    /// An op reads a tensor nothing wrote yet, writes one twice, or the last op is not the
    /// output.
    BadGraph = 44,
    /// Tensors an op reads and writes overlap, or the arena is too small for them.
    BadArena = 45,
    /// The labels are not one valid UTF-8 name per output.
    BadLabels = 46,
    /// The feature configuration or its statistics are invalid or do not fit the input.
    BadFrontEnd = 47,
    /// The arena given to `invoke` is smaller than the model needs.
    ArenaTooSmall = 48,
    /// The input or output buffer given to `invoke` has the wrong length.
    WrongIoSize = 49,
}

impl ModelError {
    /// Every model error, in code order.
    pub const ALL: [ModelError; 18] = [
        ModelError::Truncated,
        ModelError::BadMagic,
        ModelError::UnsupportedVersion,
        ModelError::BadHeader,
        ModelError::BadChecksum,
        ModelError::OutOfBounds,
        ModelError::TooLarge,
        ModelError::BadTensor,
        ModelError::UnknownOp,
        ModelError::BadShape,
        ModelError::BadParams,
        ModelError::BadQuantization,
        ModelError::BadGraph,
        ModelError::BadArena,
        ModelError::BadLabels,
        ModelError::BadFrontEnd,
        ModelError::ArenaTooSmall,
        ModelError::WrongIoSize,
    ];

    /// The stable wire code of this error.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The error with wire code `code` (as a Nak carries it).
    pub fn from_code(code: u8) -> Option<ModelError> {
        ModelError::ALL.into_iter().find(|e| e.code() == code)
    }

    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            ModelError::Truncated => "the model is truncated",
            ModelError::BadMagic => "not a tinyml-kit int8 model (no TKM8 magic)",
            ModelError::UnsupportedVersion => "a model format version this firmware cannot read",
            ModelError::BadHeader => "the model header is inconsistent",
            ModelError::BadChecksum => "the model's CRC does not match: it was damaged",
            ModelError::OutOfBounds => "an offset or length points outside the model",
            ModelError::TooLarge => "too many (or no) tensors or ops",
            ModelError::BadTensor => "a tensor has a bad shape, scale, zero point or place",
            ModelError::UnknownOp => "the model uses an op this firmware does not have",
            ModelError::BadShape => "an op's shapes do not fit together",
            ModelError::BadParams => "an op's constants have the wrong length",
            ModelError::BadQuantization => "a quantization constant is out of range",
            ModelError::BadGraph => "the ops do not form a chain from input to output",
            ModelError::BadArena => "tensors overlap in the arena",
            ModelError::BadLabels => "the labels do not match the outputs",
            ModelError::BadFrontEnd => "the feature configuration is invalid",
            ModelError::ArenaTooSmall => "the arena is smaller than the model needs",
            ModelError::WrongIoSize => "input or output has the wrong number of values",
        }
    }
}

impl core::fmt::Display for ModelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

/// True when `n` means and standard deviations are finite and every deviation is positive.
fn stats_ok(mean: &[u8], std: &[u8], n: usize) -> bool {
    (0..n).all(|i| {
        let (m, s) = (f32_at(mean, 4 * i), f32_at(std, 4 * i));
        m.is_finite() && s.is_finite() && s > 0.0
    })
}

/// `bytes[offset..offset + len]`, or [`ModelError::OutOfBounds`].
fn section(bytes: &[u8], offset: u32, len: u32) -> Result<&[u8], ModelError> {
    let start = offset as usize;
    let end = start
        .checked_add(len as usize)
        .ok_or(ModelError::OutOfBounds)?;
    bytes.get(start..end).ok_or(ModelError::OutOfBounds)
}

/// One activation tensor: its shape (height × width × channels), where it lives in the arena
/// and its quantization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tensor {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Byte offset in the arena.
    pub offset: usize,
    /// `real = scale · (q − zero_point)`.
    pub scale: f32,
    /// The quantized value of real zero.
    pub zero_point: i32,
}

impl Tensor {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// True for an empty tensor (never, in a valid model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The arena bytes it occupies.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }

    fn same_quantization(&self, other: &Tensor) -> bool {
        self.scale.to_bits() == other.scale.to_bits() && self.zero_point == other.zero_point
    }

    /// The real value of `q`.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (q as i32 - self.zero_point) as f32
    }

    /// The int8 value nearest `real` (saturated): `round(real / scale) + zero_point`.
    pub fn quantize(&self, real: f32) -> i8 {
        quantize_real(real, self.scale, self.zero_point)
    }
}

/// One op record.
#[derive(Debug, Clone, Copy)]
pub struct Op<'a> {
    /// What it computes.
    pub code: OpCode,
    /// Tensor read.
    pub input: usize,
    /// Tensor written.
    pub output: usize,
    /// Kernel rows.
    pub kh: usize,
    /// Kernel columns.
    pub kw: usize,
    /// Stride.
    pub stride: usize,
    /// Padding above, left, below, right.
    pub pad: [usize; 4],
    /// Fused activation range.
    pub act_min: i8,
    /// Fused activation range.
    pub act_max: i8,
    /// The op's constants (per-channel values then weights, or the softmax table).
    pub params: &'a [u8],
}

/// A layer's constants, split.
#[derive(Debug, Clone, Copy)]
pub struct LayerParams<'a> {
    /// `i32` bias per output channel.
    pub bias: I32s<'a>,
    /// `bias − input_zero_point · Σ weights` per output channel.
    pub folded_bias: I32s<'a>,
    /// Requantization multiplier per output channel.
    pub multiplier: I32s<'a>,
    /// Requantization shift per output channel.
    pub shift: I32s<'a>,
    /// `f32` weight scale per output channel (documentation; the kernels do not use it).
    pub weight_scale: &'a [u8],
    /// The int8 weights.
    pub weights: &'a [u8],
}

impl<'a> Op<'a> {
    /// The per-channel constants and weights of a layer with `channels` outputs.
    pub fn layer_params(&self, channels: usize) -> LayerParams<'a> {
        let p = self.params;
        let part = |i: usize| {
            p.get(4 * channels * i..4 * channels * (i + 1))
                .unwrap_or(&[])
        };
        LayerParams {
            bias: I32s(part(0)),
            folded_bias: I32s(part(1)),
            multiplier: I32s(part(2)),
            shift: I32s(part(3)),
            weight_scale: part(4),
            weights: p.get(CHANNEL_LEN * channels..).unwrap_or(&[]),
        }
    }

    /// How this layer's accumulators become values of `output`: its constants `p`, the output's
    /// zero point and the fused activation.
    fn requant(&self, p: LayerParams<'a>, output: &Tensor) -> Requant<'a> {
        Requant {
            multiplier: p.multiplier,
            shift: p.shift,
            out_zero_point: output.zero_point,
            act_min: self.act_min,
            act_max: self.act_max,
        }
    }

    fn geometry(&self, input: &Tensor, output: &Tensor) -> Geometry {
        Geometry {
            in_h: input.h,
            in_w: input.w,
            in_c: input.c,
            out_h: output.h,
            out_w: output.w,
            out_c: output.c,
            kh: self.kh,
            kw: self.kw,
            stride: self.stride,
            pad_top: self.pad[0],
            pad_left: self.pad[1],
        }
    }
}

/// What turns raw sensor data into the model's input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FrontEnd<'a> {
    /// The caller gives int8 values directly.
    None,
    /// Pixels 0–255, scaled to `[0, 1]` (`p / 255`) then quantized (the digits).
    Image,
    /// MFCC (or log-mel) features of a 1 s clip, then optionally the clip-mean subtraction, then
    /// per-coefficient standardisation `(x − mean) / std`, then quantization.
    Mfcc {
        /// The features, computed by [`crate::mfcc::Mfcc`].
        config: FeatureConfig,
        /// Subtract each coefficient's mean over the clip first.
        clip_mean: bool,
        /// Frames in one clip.
        frames: usize,
        /// Coefficients per frame.
        coefficients: usize,
        /// Per-coefficient training-set mean, `f32` little-endian.
        mean: &'a [u8],
        /// Per-coefficient training-set standard deviation, `f32` little-endian.
        std: &'a [u8],
    },
    /// The [`crate::imu::window_features`] of an accelerometer window, then per-feature
    /// standardisation `(x − mean) / std`, then quantization (the activity models).
    Motion {
        /// Accelerometer samples per second.
        sample_rate_hz: u16,
        /// Samples (x, y, z triples) in one window.
        window: u16,
        /// Samples between two windows on the board.
        hop: u16,
        /// Per-feature training-set mean, `f32` little-endian.
        mean: &'a [u8],
        /// Per-feature training-set standard deviation, `f32` little-endian.
        std: &'a [u8],
    },
}

/// Which kernels [`Model::invoke`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// The faster kernels (what the board runs).
    #[default]
    Optimized,
    /// The plain reference kernels (the definition; tests compare the two).
    Reference,
}

/// A validated int8 model, borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    bytes: &'a [u8],
    arena: usize,
    activations_end: usize,
    tensors: usize,
    ops: usize,
    input: usize,
    output: usize,
    tensors_at: usize,
    ops_at: usize,
    labels: &'a [u8],
    front_end: &'a [u8],
}

impl<'a> Model<'a> {
    /// Checks `bytes` completely and gives the model, or the first thing wrong with it.
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, ModelError> {
        Model::parse_with(bytes, Checks::All)
    }

    /// [`Model::parse`] of bytes that passed it before and cannot have changed since (the model
    /// store's active slot): skips the two checks that read every byte, the CRC and the folded
    /// biases' weight sums; every bound, shape and table is still checked, so a wrong call can
    /// never make the interpreter read out of bounds. The board opens its model this way for
    /// every inference (about 0.3 M instructions less on the Cortex-M4 for the keyword CNN).
    pub fn parse_stored(bytes: &'a [u8]) -> Result<Model<'a>, ModelError> {
        Model::parse_with(bytes, Checks::Structure)
    }

    fn parse_with(bytes: &'a [u8], checks: Checks) -> Result<Model<'a>, ModelError> {
        if bytes.len() < HEADER_LEN + 4 {
            return Err(if bytes.len() >= 4 && bytes[..4] != MAGIC {
                ModelError::BadMagic
            } else {
                ModelError::Truncated
            });
        }
        if bytes[..4] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        if u16_at(bytes, header::VERSION) != VERSION {
            return Err(ModelError::UnsupportedVersion);
        }
        let file_len = u32_at(bytes, header::FILE_LEN) as usize;
        if file_len > bytes.len() {
            return Err(ModelError::Truncated);
        }
        if u16_at(bytes, header::HEADER_LEN) as usize != HEADER_LEN || file_len != bytes.len() {
            return Err(ModelError::BadHeader);
        }
        let body = &bytes[..file_len - 4];
        if checks == Checks::All && crate::crc32::crc32(body) != u32_at(bytes, file_len - 4) {
            return Err(ModelError::BadChecksum);
        }
        let tensors = u16_at(bytes, header::TENSOR_COUNT) as usize;
        let ops = u16_at(bytes, header::OP_COUNT) as usize;
        if tensors == 0 || tensors > MAX_TENSORS || ops == 0 || ops > MAX_OPS {
            return Err(ModelError::TooLarge);
        }
        let tensors_at = u32_at(bytes, header::TENSORS_AT);
        let ops_at = u32_at(bytes, header::OPS_AT);
        // Tables and sections must lie in the body, after the header.
        let in_body = |offset: u32, len: usize| -> Result<&'a [u8], ModelError> {
            if (offset as usize) < HEADER_LEN && len > 0 {
                return Err(ModelError::OutOfBounds);
            }
            section(body, offset, len as u32)
        };
        in_body(tensors_at, tensors * TENSOR_LEN)?;
        in_body(ops_at, ops * OP_LEN)?;
        let labels = in_body(
            u32_at(bytes, header::LABELS_AT),
            u32_at(bytes, header::LABELS_LEN) as usize,
        )?;
        let front_end = in_body(
            u32_at(bytes, header::FRONT_END_AT),
            u32_at(bytes, header::FRONT_END_LEN) as usize,
        )?;
        let arena = u32_at(bytes, header::ARENA) as usize;
        if arena > MAX_ARENA {
            return Err(ModelError::TooLarge);
        }
        let mut model = Model {
            bytes: body,
            arena,
            activations_end: 0,
            tensors,
            ops,
            input: u16_at(bytes, header::INPUT) as usize,
            output: u16_at(bytes, header::OUTPUT) as usize,
            tensors_at: tensors_at as usize,
            ops_at: ops_at as usize,
            labels,
            front_end,
        };
        model.check(checks)?;
        Ok(model)
    }

    fn check(&mut self, checks: Checks) -> Result<(), ModelError> {
        if self.input >= self.tensors || self.output >= self.tensors || self.input == self.output {
            return Err(ModelError::BadGraph);
        }
        // Tensors: shapes, quantization, place in the arena.
        let mut end = 0usize;
        for i in 0..self.tensors {
            let at = self.tensors_at + i * TENSOR_LEN;
            let b = self.bytes;
            if u16_at(b, at + file::tensor::RESERVED) != 0 {
                return Err(ModelError::BadHeader);
            }
            let t = self.tensor(i);
            let len = t.h as u64 * t.w as u64 * t.c as u64;
            let zp_ok = (-128..=127).contains(&t.zero_point);
            let scale_ok = t.scale.is_finite() && t.scale > 0.0;
            let fits = t.offset as u64 + len <= MAX_ARENA as u64;
            if len == 0 || !zp_ok || !scale_ok || !fits {
                return Err(ModelError::BadTensor);
            }
            end = end.max(t.offset + len as usize);
        }
        self.activations_end = end;
        // Ops: a chain from the input to the output, each checked against its tensors.
        let mut written = 1u64 << self.input;
        // The op after the one that wrote each tensor (0: the input, written before op 0).
        let mut after_writer = [0u8; MAX_TENSORS];
        let mut scratch = 0usize;
        for i in 0..self.ops {
            let op = self.op(i)?;
            if op.input >= self.tensors || op.output >= self.tensors {
                return Err(ModelError::BadGraph);
            }
            if written & (1 << op.input) == 0 || written & (1 << op.output) != 0 {
                return Err(ModelError::BadGraph);
            }
            written |= 1 << op.output;
            after_writer[op.output] = i as u8 + 1;
            if checks == Checks::All {
                self.check_still_there(op.input, after_writer[op.input] as usize, i)?;
            }
            if i + 1 == self.ops && op.output != self.output {
                return Err(ModelError::BadGraph);
            }
            let (x, y) = (self.tensor(op.input), self.tensor(op.output));
            scratch = scratch.max(check_op(&op, &x, &y, checks)?);
            // What an op reads and what it writes must not overlap, except the element-wise
            // ops exactly in place.
            let in_place = x.offset == y.offset
                && x.len() == y.len()
                && matches!(op.code, OpCode::Relu | OpCode::Reshape);
            let (a, b) = (x.range(), y.range());
            if !in_place && a.start < b.end && b.start < a.end {
                return Err(ModelError::BadArena);
            }
        }
        if self.activations_end + scratch > self.arena {
            return Err(ModelError::BadArena);
        }
        self.check_labels()?;
        self.check_front_end(checks)
    }

    /// An op (`reader`) reads tensor `t` after ops `since..reader` ran: none of them may have
    /// written over its bytes (the board would read what they wrote; the laptop's fused
    /// convolution and pooling, which skips writing the convolution's output, would not).
    /// Models the kit writes read each tensor right after it is written.
    fn check_still_there(&self, t: usize, since: usize, reader: usize) -> Result<(), ModelError> {
        let read = self.tensor(t).range();
        for j in since..reader {
            let written = self.tensor(self.op(j)?.output).range();
            if written.start < read.end && read.start < written.end {
                return Err(ModelError::BadArena);
            }
        }
        Ok(())
    }

    fn check_labels(&self) -> Result<(), ModelError> {
        let outputs = self.tensor(self.output).len();
        let (mut at, mut count) = (0usize, 0usize);
        while at < self.labels.len() {
            let n = self.labels[at] as usize;
            let name = self
                .labels
                .get(at + 1..at + 1 + n)
                .ok_or(ModelError::BadLabels)?;
            if n == 0 || core::str::from_utf8(name).is_err() {
                return Err(ModelError::BadLabels);
            }
            at += 1 + n;
            count += 1;
        }
        if count != outputs {
            return Err(ModelError::BadLabels);
        }
        Ok(())
    }

    fn check_front_end(&self, checks: Checks) -> Result<(), ModelError> {
        let input = self.tensor(self.input).len();
        match self.front_end()? {
            FrontEnd::None | FrontEnd::Image => Ok(()),
            FrontEnd::Mfcc {
                config,
                frames,
                coefficients,
                mean,
                std,
                ..
            } => {
                let valid = match checks {
                    Checks::All => config.validate(),
                    Checks::Structure => config.validate_fields(),
                };
                let ok = valid.is_ok()
                    && coefficients == config.coefficients()
                    && frames == config.clip_frames()
                    && frames * coefficients == input
                    && stats_ok(mean, std, coefficients);
                if ok {
                    Ok(())
                } else {
                    Err(ModelError::BadFrontEnd)
                }
            }
            FrontEnd::Motion {
                sample_rate_hz,
                window,
                hop,
                mean,
                std,
            } => {
                let window = window as usize;
                let ok = sample_rate_hz > 0
                    && (crate::imu::MIN_WINDOW_LEN..=crate::imu::MAX_WINDOW_LEN).contains(&window)
                    && (1..=window).contains(&(hop as usize))
                    && input == crate::imu::FEATURE_COUNT
                    && stats_ok(mean, std, crate::imu::FEATURE_COUNT);
                if ok {
                    Ok(())
                } else {
                    Err(ModelError::BadFrontEnd)
                }
            }
        }
    }

    /// Tensor `i` (`i` below [`Model::tensor_count`]).
    pub fn tensor(&self, i: usize) -> Tensor {
        let at = self.tensors_at + i.min(self.tensors.saturating_sub(1)) * TENSOR_LEN;
        let b = self.bytes;
        use file::tensor::*;
        Tensor {
            h: u16_at(b, at + HEIGHT) as usize,
            w: u16_at(b, at + WIDTH) as usize,
            c: u16_at(b, at + CHANNELS) as usize,
            offset: u32_at(b, at + OFFSET) as usize,
            scale: f32_at(b, at + SCALE),
            zero_point: u32_at(b, at + ZERO_POINT) as i32,
        }
    }

    /// Op `i`, or why its record is invalid.
    pub fn op(&self, i: usize) -> Result<Op<'a>, ModelError> {
        let at = self.ops_at + i * OP_LEN;
        let b: &'a [u8] = self.bytes;
        let r = b.get(at..at + OP_LEN).ok_or(ModelError::OutOfBounds)?;
        use file::op::*;
        let code = OpCode::from_code(r[CODE]).ok_or(ModelError::UnknownOp)?;
        if r[RESERVED] != 0 || r[RESERVED_2] != 0 || r[RESERVED_TAIL..].iter().any(|&x| x != 0) {
            return Err(ModelError::BadHeader);
        }
        let params_at = u32_at(r, PARAMS_AT);
        let params_len = u32_at(r, PARAMS_LEN);
        let params = if params_len == 0 {
            &b[..0]
        } else if (params_at as usize) < HEADER_LEN {
            return Err(ModelError::OutOfBounds);
        } else {
            section(b, params_at, params_len)?
        };
        Ok(Op {
            code,
            input: u16_at(r, INPUT) as usize,
            output: u16_at(r, OUTPUT) as usize,
            kh: r[KERNEL_HEIGHT] as usize,
            kw: r[KERNEL_WIDTH] as usize,
            stride: r[STRIDE] as usize,
            pad: core::array::from_fn(|k| r[PAD + k] as usize),
            act_min: r[ACT_MIN] as i8,
            act_max: r[ACT_MAX] as i8,
            params,
        })
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensors
    }

    /// Number of ops.
    pub fn op_count(&self) -> usize {
        self.ops
    }

    /// The input tensor.
    pub fn input(&self) -> Tensor {
        self.tensor(self.input)
    }

    /// The input tensor's index (for [`Model::tensor`]).
    pub fn input_index(&self) -> usize {
        self.input
    }

    /// The output tensor's index (for [`Model::tensor`]).
    pub fn output_index(&self) -> usize {
        self.output
    }

    /// The output tensor.
    pub fn output(&self) -> Tensor {
        self.tensor(self.output)
    }

    /// Arena bytes the model needs (activations and the convolution patch).
    pub fn arena_bytes(&self) -> usize {
        self.arena
    }

    /// Bytes of the model file.
    pub fn file_len(&self) -> usize {
        self.bytes.len() + 4
    }

    /// The `i`th label (empty past the end).
    pub fn label(&self, i: usize) -> &'a str {
        let mut at = 0;
        let mut k = 0;
        let labels: &'a [u8] = self.labels;
        while at < labels.len() {
            let n = labels[at] as usize;
            if k == i {
                return labels
                    .get(at + 1..at + 1 + n)
                    .and_then(|b| core::str::from_utf8(b).ok())
                    .unwrap_or("");
            }
            at += 1 + n;
            k += 1;
        }
        ""
    }

    /// Number of labels (= outputs).
    pub fn label_count(&self) -> usize {
        self.output().len()
    }

    /// The front end, or why it is invalid.
    pub fn front_end(&self) -> Result<FrontEnd<'a>, ModelError> {
        FrontEnd::decode(self.front_end)
    }

    /// Turns the front end's real values into the model's int8 input: for MFCC, `features`
    /// (`frames × coefficients`, as [`crate::mfcc::Mfcc::process`] gives them) are changed in
    /// place by the clip-mean subtraction and standardisation first; for motion, the
    /// [`crate::imu::window_features`] are standardised; then every value is
    /// quantized with the input tensor's scale and zero point. The laptop and the board both
    /// call this, so they feed the network the same bytes.
    pub fn quantize_input(&self, features: &mut [f32], out: &mut [i8]) -> Result<(), ModelError> {
        let input = self.input();
        if features.len() != input.len() || out.len() != input.len() {
            return Err(ModelError::WrongIoSize);
        }
        if let FrontEnd::Mfcc {
            clip_mean,
            coefficients,
            mean,
            std,
            ..
        } = self.front_end()?
        {
            if clip_mean {
                crate::mfcc::subtract_clip_mean(features, coefficients);
            }
            crate::mfcc::standardize(features, coefficients, |c| {
                (f32_at(mean, 4 * c), f32_at(std, 4 * c))
            });
        }
        if let FrontEnd::Motion { mean, std, .. } = self.front_end()? {
            crate::mfcc::standardize(features, crate::imu::FEATURE_COUNT, |c| {
                (f32_at(mean, 4 * c), f32_at(std, 4 * c))
            });
        }
        for (q, &v) in out.iter_mut().zip(features.iter()) {
            *q = input.quantize(v);
        }
        Ok(())
    }

    /// Quantizes a 0–255 image (the digits' front end: `p / 255`, then the input quantization).
    pub fn quantize_image(&self, pixels: &[u8], out: &mut [i8]) -> Result<(), ModelError> {
        let input = self.input();
        if pixels.len() != input.len() || out.len() != input.len() {
            return Err(ModelError::WrongIoSize);
        }
        for (q, &p) in out.iter_mut().zip(pixels) {
            *q = input.quantize(p as f32 / 255.0);
        }
        Ok(())
    }

    /// Runs the network on `input` (the input tensor's values) and writes the output tensor's
    /// values to `output`, using `arena` (at least [`Model::arena_bytes`]) for activations.
    pub fn invoke(
        &self,
        arena: &mut [i8],
        input: &[i8],
        output: &mut [i8],
        kernels: Kernels,
    ) -> Result<(), ModelError> {
        let (x, y) = (self.input(), self.output());
        if arena.len() < self.arena {
            return Err(ModelError::ArenaTooSmall);
        }
        if input.len() != x.len() || output.len() != y.len() {
            return Err(ModelError::WrongIoSize);
        }
        arena
            .get_mut(x.range())
            .ok_or(ModelError::ArenaTooSmall)?
            .copy_from_slice(input);
        let mut i = 0;
        while i < self.ops {
            let op = self.op(i)?;
            if kernels == Kernels::Optimized && self.conv_then_pool(&op, i, arena)? {
                // The pooling after the convolution ran with it.
                i += 2;
            } else {
                self.run_op(&op, arena, kernels)?;
                i += 1;
            }
        }
        output.copy_from_slice(arena.get(y.range()).ok_or(ModelError::ArenaTooSmall)?);
        Ok(())
    }

    /// On a laptop, op `i` (a convolution) and the 2 × 2 max pooling after it in one pass
    /// ([`int8::conv2d_max_pool`]: the same bytes, a quarter of the requantizations), when
    /// nothing else reads the convolution's output; false, with nothing run, otherwise (and
    /// always on the board, where the two ops run one after the other).
    #[cfg(target_arch = "x86_64")]
    fn conv_then_pool(&self, op: &Op<'a>, i: usize, arena: &mut [i8]) -> Result<bool, ModelError> {
        /// Largest input read from a copy (on the stack).
        const COPY: usize = 16 * 1024;
        if op.code != OpCode::Conv2d || i + 1 >= self.ops {
            return Ok(false);
        }
        let pool = self.op(i + 1)?;
        if pool.code != OpCode::MaxPool || pool.input != op.output {
            return Ok(false);
        }
        for j in i + 2..self.ops {
            if self.op(j)?.input == op.output {
                return Ok(false);
            }
        }
        let (xt, yt, zt) = (
            self.tensor(op.input),
            self.tensor(op.output),
            self.tensor(pool.output),
        );
        let (g, pooling) = (op.geometry(&xt, &yt), pool.geometry(&yt, &zt));
        let p = op.layer_params(yt.c);
        let q = op.requant(p, &yt);
        let run = |x: &[i8], z: &mut [i8]| {
            int8::conv2d_max_pool(
                &g,
                &pooling,
                xt.zero_point,
                p.weights,
                p.folded_bias,
                &q,
                x,
                z,
            )
        };
        let activations = arena
            .get_mut(..self.activations_end)
            .ok_or(ModelError::BadArena)?;
        let (a, b) = (xt.range(), zt.range());
        if a.start < b.end && b.start < a.end {
            // The pooling's output shares the arena with the convolution's input (the ops
            // take two regions in turn): the input is read from a copy.
            let mut copy = [0i8; COPY];
            let Some(copy) = copy.get_mut(..a.len()) else {
                return Ok(false);
            };
            copy.copy_from_slice(activations.get(a).ok_or(ModelError::BadArena)?);
            let z = activations.get_mut(b).ok_or(ModelError::BadArena)?;
            Ok(run(copy, z))
        } else {
            let (x, z) = split_two(activations, a, b)?;
            Ok(run(x, z))
        }
    }

    /// The board runs every op on its own.
    #[cfg(not(target_arch = "x86_64"))]
    fn conv_then_pool(&self, _: &Op<'a>, _: usize, _: &mut [i8]) -> Result<bool, ModelError> {
        Ok(false)
    }

    fn run_op(&self, op: &Op<'a>, arena: &mut [i8], kernels: Kernels) -> Result<(), ModelError> {
        let (xt, yt) = (self.tensor(op.input), self.tensor(op.output));
        let (activations, scratch) = arena.split_at_mut(self.activations_end);
        if xt.offset == yt.offset {
            // In place (validated: ReLU or Reshape of the same length).
            let values = activations
                .get_mut(xt.range())
                .ok_or(ModelError::BadArena)?;
            if op.code == OpCode::Relu {
                int8::clamp_in_place(op.act_min, op.act_max, values);
            }
            return Ok(());
        }
        let (x, y) = split_two(activations, xt.range(), yt.range())?;
        let g = op.geometry(&xt, &yt);
        let zp = xt.zero_point;
        let reference = kernels == Kernels::Reference;
        match op.code {
            OpCode::Conv2d => {
                let p = op.layer_params(yt.c);
                let q = op.requant(p, &yt);
                if reference {
                    int8::conv2d_reference(&g, zp, p.weights, p.bias, &q, x, y);
                } else {
                    int8::conv2d(&g, zp, p.weights, p.folded_bias, &q, x, y, scratch);
                }
            }
            OpCode::DepthwiseConv2d => {
                let p = op.layer_params(yt.c);
                let q = op.requant(p, &yt);
                if reference {
                    int8::depthwise_conv2d_reference(&g, zp, p.weights, p.bias, &q, x, y);
                } else {
                    int8::depthwise_conv2d(&g, zp, p.weights, p.bias, &q, x, y);
                }
            }
            OpCode::FullyConnected => {
                let p = op.layer_params(yt.len());
                let q = op.requant(p, &yt);
                if reference {
                    int8::fully_connected_reference(zp, p.weights, p.bias, &q, x, y);
                } else {
                    int8::fully_connected(p.weights, p.folded_bias, &q, x, y);
                }
            }
            OpCode::MaxPool => int8::max_pool(&g, x, y),
            OpCode::AvgPool => int8::avg_pool(&g, x, y),
            OpCode::Relu => int8::clamp(op.act_min, op.act_max, x, y),
            OpCode::Reshape => y.copy_from_slice(x),
            OpCode::Softmax => int8::softmax(I32s(op.params), x, y),
        }
        Ok(())
    }
}

/// Two disjoint ranges of `arena`, the first read-only.
fn split_two(
    arena: &mut [i8],
    a: core::ops::Range<usize>,
    b: core::ops::Range<usize>,
) -> Result<(&[i8], &mut [i8]), ModelError> {
    if a.end > arena.len() || b.end > arena.len() {
        return Err(ModelError::ArenaTooSmall);
    }
    if a.end <= b.start {
        let (lo, hi) = arena.split_at_mut(b.start);
        Ok((&lo[a], &mut hi[..b.end - b.start]))
    } else if b.end <= a.start {
        let (lo, hi) = arena.split_at_mut(a.start);
        Ok((&hi[..a.end - a.start], &mut lo[b]))
    } else {
        Err(ModelError::BadArena)
    }
}

/// `(size + pad_before + pad_after − kernel) / stride + 1`, if the kernel fits.
fn window_output(
    size: usize,
    kernel: usize,
    stride: usize,
    before: usize,
    after: usize,
) -> Option<usize> {
    if kernel == 0 || stride == 0 || before >= kernel || after >= kernel {
        return None;
    }
    (size + before + after)
        .checked_sub(kernel)
        .map(|n| n / stride + 1)
}

/// Checks one op against its tensors; gives the scratch bytes it needs.
fn check_op(op: &Op, x: &Tensor, y: &Tensor, checks: Checks) -> Result<usize, ModelError> {
    let shape_ok = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(ModelError::BadShape)
        }
    };
    let windowed = || {
        let oh = window_output(x.h, op.kh, op.stride, op.pad[0], op.pad[2]);
        let ow = window_output(x.w, op.kw, op.stride, op.pad[1], op.pad[3]);
        oh == Some(y.h) && ow == Some(y.w)
    };
    let no_window = op.kh == 0 && op.kw == 0 && op.stride == 0 && op.pad == [0; 4];
    let act_ok = op.act_min <= op.act_max;
    let params_len = |expected: usize| {
        if op.params.len() == expected {
            Ok(())
        } else {
            Err(ModelError::BadParams)
        }
    };
    match op.code {
        OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected => {
            shape_ok(act_ok)?;
            let (channels, fan_in) = match op.code {
                OpCode::Conv2d => {
                    shape_ok(windowed())?;
                    (y.c, op.kh * op.kw * x.c)
                }
                OpCode::DepthwiseConv2d => {
                    shape_ok(windowed() && y.c == x.c)?;
                    (y.c, op.kh * op.kw)
                }
                _ => {
                    shape_ok(no_window)?;
                    (y.len(), x.len())
                }
            };
            if fan_in > MAX_FAN_IN {
                return Err(ModelError::TooLarge);
            }
            // Checked: on the board's 32-bit `usize` a large dense layer's product wraps.
            let len = fan_in
                .checked_mul(channels)
                .and_then(|weights| weights.checked_add(CHANNEL_LEN.checked_mul(channels)?))
                .ok_or(ModelError::BadParams)?;
            params_len(len)?;
            check_layer_params(op, channels, fan_in, x.zero_point, checks)?;
            Ok(if op.code == OpCode::Conv2d { fan_in } else { 0 })
        }
        OpCode::MaxPool | OpCode::AvgPool => {
            shape_ok(windowed() && op.pad == [0; 4] && y.c == x.c && x.same_quantization(y))?;
            params_len(0)?;
            Ok(0)
        }
        OpCode::Relu => {
            shape_ok(no_window && act_ok && x.len() == y.len() && x.same_quantization(y))?;
            params_len(0)?;
            Ok(0)
        }
        OpCode::Reshape => {
            shape_ok(no_window && x.len() == y.len() && x.same_quantization(y))?;
            params_len(0)?;
            Ok(0)
        }
        OpCode::Softmax => {
            let out_q = y.zero_point == -128 && y.scale.to_bits() == (1.0f32 / 256.0).to_bits();
            shape_ok(no_window && x.len() == y.len())?;
            if !out_q {
                return Err(ModelError::BadQuantization);
            }
            params_len(4 * SOFTMAX_TABLE_LEN)?;
            let table = I32s(op.params);
            let in_range =
                (0..SOFTMAX_TABLE_LEN).all(|d| (0..=SOFTMAX_ONE as i32).contains(&table.get(d)));
            if !in_range || table.get(0) < 1 {
                return Err(ModelError::BadQuantization);
            }
            Ok(0)
        }
    }
}

/// How much [`Model::parse_with`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// Everything.
    All,
    /// Everything but the CRC, the folded biases' weight sums (the two checks that read every
    /// byte) and the mel filters' coverage (the planner refuses an empty filter anyway):
    /// nothing the kernels' safety relies on.
    Structure,
}

/// The int8 value nearest `real` on a tensor of `scale` and `zero_point` (saturated):
/// `round(real / scale) + zero_point`, ties away from zero (TFLite's rule, also for the clamps
/// of fused activations). NaN gives the zero point.
pub fn quantize_real(real: f32, scale: f32, zero_point: i32) -> i8 {
    let q = libm::roundf(real / scale);
    // The clamp keeps huge values (and a scale near zero) in range before the cast.
    let q = if q.is_nan() {
        0.0
    } else {
        q.clamp(-1000.0, 1000.0)
    };
    (q as i32).saturating_add(zero_point).clamp(-128, 127) as i8
}

/// A channel's folded bias: `bias − input_zero_point · Σ weights`, in wrapping `i32` arithmetic
/// (the faster kernels add it to `Σ input · weight`, which then equals the reference's
/// `bias + Σ (input − zero_point) · weight`). The writer stores it, the loader checks it.
pub fn folded_bias(bias: i32, in_zero_point: i32, weight_sum: i32) -> i32 {
    bias.wrapping_sub(in_zero_point.wrapping_mul(weight_sum))
}

/// Multipliers and shifts in TFLite's ranges (the kernels rely on them), and with
/// [`Checks::All`] each folded bias equal to `bias − zero_point · Σ weights` (so the fast and
/// the reference kernels agree on every model).
fn check_layer_params(
    op: &Op,
    channels: usize,
    fan_in: usize,
    in_zero_point: i32,
    checks: Checks,
) -> Result<(), ModelError> {
    let p = op.layer_params(channels);
    for ch in 0..channels {
        let m = p.multiplier.get(ch);
        let s = p.shift.get(ch);
        if m < 0 || !(-31..=30).contains(&s) {
            return Err(ModelError::BadQuantization);
        }
        if checks == Checks::Structure {
            continue;
        }
        let sum = match op.code {
            OpCode::DepthwiseConv2d => (0..fan_in)
                .map(|k| {
                    p.weights
                        .get(k * channels + ch)
                        .map_or(0, |&w| w as i8 as i32)
                })
                .fold(0i32, i32::wrapping_add),
            _ => p
                .weights
                .get(ch * fan_in..(ch + 1) * fan_in)
                .unwrap_or(&[])
                .iter()
                .fold(0i32, |a, &w| a.wrapping_add(w as i8 as i32)),
        };
        if folded_bias(p.bias.get(ch), in_zero_point, sum) != p.folded_bias.get(ch) {
            return Err(ModelError::BadQuantization);
        }
    }
    Ok(())
}
