//! Post-training int8 quantization: from a trained float [`Network`] to the `.tkm` bytes that
//! the board runs ([`tinyml_core::model`]).
//!
//! What happens, in TensorFlow Lite's conventions:
//! 1. **Calibration.** The float network runs on a representative set and every activation's
//!    range is recorded: the smallest and largest value ([`Calibration::MinMax`]), or the
//!    `p`-th and `(100 − p)`-th percentiles ([`Calibration::Percentile`]), which ignores rare
//!    outliers and keeps more resolution for the common values.
//! 2. **Activations** are asymmetric per tensor: `real = scale · (q − zero_point)` with the
//!    range (stretched to include 0) mapped onto −128…127.
//! 3. **Weights** are symmetric per output channel: `scale = max |w| / 127`, zero point 0.
//! 4. **Biases** become `i32` with scale `input_scale · weight_scale`.
//! 5. **Requantization**: each output channel's `input_scale · weight_scale / output_scale` is a
//!    fixed-point multiplier and shift ([`tinyml_core::int8::quantize_multiplier`]).
//! 6. **Fused activations**: a ReLU after a layer becomes the clamp `[q(0), 127]` (ReLU6:
//!    `[q(0), q(6)]`) of that layer's output.
//!
//! The model ends with an int8 softmax (scale 1/256), as on TFLite Micro. Everything after
//! calibration (the interpreter, the input quantization of the features) is `tinyml-core`: the
//! same code on the laptop and on the board.

use std::path::Path;

use serde::Serialize;
use tinyml_core::int8::{quantize_multiplier, SOFTMAX_ONE, SOFTMAX_TABLE_LEN};
use tinyml_core::limits::{LimitError, Limits};
use tinyml_core::mfcc::{FeatureConfig, Mfcc};
use tinyml_core::model::file::{
    encode_layer_params, encode_softmax_table, layer_params_len, ChannelParams, ModelFile,
    SOFTMAX_PARAMS_LEN,
};
use tinyml_core::model::{
    folded_bias, quantize_real, Budget, FrontEnd, Kernels, Model, ModelError, Op, OpCode, Tensor,
    VERSION,
};

use crate::error::{Error, Result};
use crate::front_end::InputKind;
use crate::nn::{Layer, Network, Shape};
use crate::plot::{Figure, Table};

/// How activation ranges are taken from the calibration set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calibration {
    /// The smallest and largest value seen.
    MinMax,
    /// The `p`-th and `(100 − p)`-th percentiles (e.g. `0.01`): clips rare outliers.
    Percentile(f32),
}

/// One op of the int8 plan, with its float weights and what follows it.
#[derive(Debug, Clone)]
struct PlanOp {
    code: OpCode,
    /// Index into the network's layers (weighted ops) for the weights.
    layer: Option<usize>,
    /// Output shape `(h, w, c)`.
    out: (usize, usize, usize),
    kernel: (usize, usize),
    stride: usize,
    pad: [usize; 4],
    /// The activation fused into it (or, for a ReLU op, its own).
    activation: Activation,
    /// The network's layers up to this op's output (its fused ReLU included): the op's values
    /// are the training engine's after that many layers.
    through: usize,
}

/// An activation after an op's values, applied by clamping them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    None,
    /// Below 0 becomes 0.
    Relu,
    /// Clamped to 0..6.
    Relu6,
}

impl Activation {
    /// The activation `layer` is, if it is one.
    fn of(layer: Option<Layer>) -> Activation {
        match layer {
            Some(Layer::Relu) => Activation::Relu,
            Some(Layer::Relu6) => Activation::Relu6,
            _ => Activation::None,
        }
    }

    fn apply(self, v: f32) -> f32 {
        match self {
            Activation::None => v,
            Activation::Relu => v.max(0.0),
            Activation::Relu6 => v.clamp(0.0, 6.0),
        }
    }
}

fn hwc(shape: Shape) -> (usize, usize, usize) {
    match shape {
        Shape::Image {
            height,
            width,
            channels,
        } => (height, width, channels),
        Shape::Flat(n) => (1, 1, n),
    }
}

/// Padding `[top, left, bottom, right]` and output size of a convolution on `h × w`: the
/// training engine's own window (so that the int8 model pads exactly as training did), with
/// the rows and columns after the image that the output size needs.
fn window(layer: &Layer, (h, w): (usize, usize)) -> Result<([usize; 4], usize, usize)> {
    let win = layer
        .window(h, w)
        .ok_or_else(|| Error::Network(format!("{layer:?} has no window on {h}×{w}")))?;
    let (oh, ow) = (win.out_height, win.out_width);
    let after = |size: usize, out: usize, before: usize| {
        ((out - 1) * win.stride + win.kernel).saturating_sub(size + before)
    };
    Ok((
        [
            win.pad_top,
            win.pad_left,
            after(h, oh, win.pad_top),
            after(w, ow, win.pad_left),
        ],
        oh,
        ow,
    ))
}

/// The int8 ops for `net`'s layers: ReLUs fused into the layer before them, dropout gone,
/// flatten as a reshape, a softmax at the end.
fn plan(net: &Network) -> Result<Vec<PlanOp>> {
    let layers = net.layers();
    let mut shape = hwc(net.input());
    let mut ops: Vec<PlanOp> = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let layer = layers[i];
        let next = layers.get(i + 1).copied();
        let fused = Activation::of(next);
        let (h, w, c) = shape;
        let mut op = PlanOp {
            code: OpCode::Reshape,
            layer: None,
            out: shape,
            kernel: (0, 0),
            stride: 0,
            pad: [0; 4],
            activation: Activation::None,
            through: 0,
        };
        match layer {
            Layer::Dense { units } => {
                op.code = OpCode::FullyConnected;
                op.layer = Some(i);
                op.out = (1, 1, units);
                op.activation = fused;
            }
            Layer::Conv2d { kernel, stride, .. }
            | Layer::DepthwiseConv2d { kernel, stride, .. } => {
                let (code, channels) = match layer {
                    Layer::Conv2d { filters, .. } => (OpCode::Conv2d, filters),
                    _ => (OpCode::DepthwiseConv2d, c),
                };
                let (pad, oh, ow) = window(&layer, (h, w))?;
                op = PlanOp {
                    code,
                    layer: Some(i),
                    out: (oh, ow, channels),
                    kernel: (kernel, kernel),
                    stride,
                    pad,
                    activation: fused,
                    through: 0,
                };
            }
            Layer::MaxPool { size } | Layer::AvgPool { size } => {
                op.code = if matches!(layer, Layer::MaxPool { .. }) {
                    OpCode::MaxPool
                } else {
                    OpCode::AvgPool
                };
                op.out = (h / size, w / size, c);
                op.kernel = (size, size);
                op.stride = size;
            }
            Layer::Relu | Layer::Relu6 => {
                op.code = OpCode::Relu;
                op.activation = Activation::of(Some(layer));
            }
            Layer::Flatten => {
                op.out = (1, 1, h * w * c);
            }
            Layer::Dropout { .. } => {
                i += 1;
                continue;
            }
        }
        if op.layer.is_some() && fused != Activation::None {
            i += 1; // the ReLU is part of this op
        }
        shape = op.out;
        i += 1;
        op.through = i;
        ops.push(op);
    }
    if ops.is_empty() {
        return Err(Error::Network(
            "the network has no layers to quantize".into(),
        ));
    }
    let n = shape.0 * shape.1 * shape.2;
    ops.push(PlanOp {
        code: OpCode::Softmax,
        layer: None,
        out: (1, 1, n),
        kernel: (0, 0),
        stride: 0,
        pad: [0; 4],
        activation: Activation::None,
        through: layers.len(),
    });
    Ok(ops)
}

/// The float weights of layer `i` as `(weight [fan_in, outputs], bias)`.
fn layer_weights(net: &Network) -> Vec<Option<(Vec<f32>, Vec<f32>)>> {
    let mut all = net.weights().into_iter();
    net.layers()
        .iter()
        .map(|l| match l {
            Layer::Dense { .. } | Layer::Conv2d { .. } | Layer::DepthwiseConv2d { .. } => {
                let w = all.next().unwrap_or_default();
                let b = all.next().unwrap_or_default();
                Some((w, b))
            }
            _ => None,
        })
        .collect()
}

/// One op in plain `f32` (the calibration's forward pass), on one example.
fn run_float(
    op: &PlanOp,
    input: (usize, usize, usize),
    x: &[f32],
    weights: &Option<(Vec<f32>, Vec<f32>)>,
) -> Vec<f32> {
    let (h, w, c) = input;
    let (oh, ow, oc) = op.out;
    let act = |v: f32| op.activation.apply(v);
    let at = |y: usize, x_: usize, ch: usize| (y * w + x_) * c + ch;
    let mut y = vec![0f32; oh * ow * oc];
    let (kh, kw) = op.kernel;
    // Input row/column under output position and kernel offset, if inside.
    let src = |o: usize, k: usize, pad: usize, n: usize| {
        (o * op.stride + k).checked_sub(pad).filter(|&v| v < n)
    };
    match op.code {
        OpCode::Conv2d => {
            let (wt, b) = weights.as_ref().expect("a conv has weights");
            for py in 0..oh {
                for px in 0..ow {
                    for f in 0..oc {
                        let mut acc = b[f];
                        for ky in 0..kh {
                            let Some(iy) = src(py, ky, op.pad[0], h) else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = src(px, kx, op.pad[1], w) else {
                                    continue;
                                };
                                for ch in 0..c {
                                    acc +=
                                        x[at(iy, ix, ch)] * wt[((ky * kw + kx) * c + ch) * oc + f];
                                }
                            }
                        }
                        y[(py * ow + px) * oc + f] = act(acc);
                    }
                }
            }
        }
        OpCode::DepthwiseConv2d => {
            let (wt, b) = weights.as_ref().expect("a depthwise conv has weights");
            for py in 0..oh {
                for px in 0..ow {
                    for ch in 0..c {
                        let mut acc = b[ch];
                        for ky in 0..kh {
                            let Some(iy) = src(py, ky, op.pad[0], h) else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = src(px, kx, op.pad[1], w) else {
                                    continue;
                                };
                                acc += x[at(iy, ix, ch)] * wt[(ky * kw + kx) * c + ch];
                            }
                        }
                        y[(py * ow + px) * c + ch] = act(acc);
                    }
                }
            }
        }
        OpCode::FullyConnected => {
            let (wt, b) = weights.as_ref().expect("a dense layer has weights");
            for (j, out) in y.iter_mut().enumerate() {
                let mut acc = b[j];
                for (i, &v) in x.iter().enumerate() {
                    acc += v * wt[i * oc + j];
                }
                *out = act(acc);
            }
        }
        OpCode::MaxPool | OpCode::AvgPool => {
            for py in 0..oh {
                for px in 0..ow {
                    for ch in 0..c {
                        let vals = (0..kh).flat_map(|ky| {
                            (0..kw).map(move |kx| (py * op.stride + ky, px * op.stride + kx))
                        });
                        let v = if op.code == OpCode::MaxPool {
                            vals.map(|(iy, ix)| x[at(iy, ix, ch)])
                                .fold(f32::MIN, f32::max)
                        } else {
                            vals.map(|(iy, ix)| x[at(iy, ix, ch)]).sum::<f32>() / (kh * kw) as f32
                        };
                        y[(py * ow + px) * c + ch] = v;
                    }
                }
            }
        }
        OpCode::Relu => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = act(v);
            }
        }
        OpCode::Reshape => y.copy_from_slice(x),
        OpCode::Softmax => y = crate::nn::softmax(x),
    }
    y
}

/// Range `(lo, hi)` of `values` by `calibration`, stretched to include 0.
fn range_of(values: &mut [f32], calibration: Calibration) -> (f32, f32) {
    let (lo, hi) = match calibration {
        Calibration::MinMax => values
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v))),
        Calibration::Percentile(p) => {
            values.sort_by(f32::total_cmp);
            let n = values.len();
            let at = |q: f64| values[((q * (n - 1) as f64).round() as usize).min(n - 1)];
            let p = (p as f64 / 100.0).clamp(0.0, 0.5);
            (at(p), at(1.0 - p))
        }
    };
    (lo.min(0.0), hi.max(0.0))
}

/// `(scale, zero_point)` mapping `[lo, hi]` (containing 0) onto −128…127.
fn asymmetric(lo: f32, hi: f32) -> (f32, i32) {
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    (scale, zp)
}

/// Calibration examples the lessons, the CLI and the speaker folds quantize with.
pub const CALIBRATION_EXAMPLES: usize = 500;

/// Options of [`quantize`].
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    /// How ranges are taken.
    pub calibration: Calibration,
    /// What the model is (stored for `inspect`), e.g. `digits-cnn`.
    pub kind: String,
}

/// Quantizes `net` with `labels`, the `input` front end, and `calibration` examples (already
/// the network's real inputs, one after another).
pub fn quantize(
    net: &Network,
    labels: &[String],
    input: &InputKind,
    calibration: &[f32],
    options: &QuantizeOptions,
) -> Result<QuantizedModel> {
    let per = net.input().len();
    if calibration.is_empty() || per == 0 || !calibration.len().is_multiple_of(per) {
        return Err(Error::param(
            "calibration",
            "needs at least one whole example of the network's input",
        ));
    }
    if labels.len() != net.outputs() {
        return Err(Error::param(
            "labels",
            format!("{} labels for {} outputs", labels.len(), net.outputs()),
        ));
    }
    if let InputKind::Keywords(front_end) = input {
        // What the board's loader would refuse, said with what to change.
        front_end
            .features
            .validate()
            .map_err(|e| Error::param("features", crate::audio::mfcc_message(e)))?;
    }
    let ops = plan(net)?;
    let weights = layer_weights(net);
    // Calibration: run every example, keep every op's outputs.
    let mut seen: Vec<Vec<f32>> = vec![Vec::new(); ops.len()];
    for x in calibration.chunks_exact(per) {
        let mut shape = hwc(net.input());
        let mut x = x.to_vec();
        for (k, op) in ops.iter().enumerate() {
            let w = op.layer.map_or(&None, |l| &weights[l]);
            let y = run_float(op, shape, &x, w);
            if k + 1 < ops.len() {
                seen[k].extend_from_slice(&y);
            }
            shape = op.out;
            x = y;
        }
    }
    // Input quantization: the digits' pixels are exactly 0..1 (q = pixel − 128); features are
    // calibrated like any activation.
    let input_q = match input {
        InputKind::Image => (1.0 / 255.0, -128),
        _ => {
            let mut v = calibration.to_vec();
            let (lo, hi) = range_of(&mut v, options.calibration);
            asymmetric(lo, hi)
        }
    };
    let mut qparams = vec![input_q];
    for (k, op) in ops.iter().enumerate() {
        let prev = *qparams.last().expect("input first");
        let q = match op.code {
            // Same scale as the input: the op moves or compares values.
            OpCode::MaxPool | OpCode::AvgPool | OpCode::Relu | OpCode::Reshape => prev,
            OpCode::Softmax => (1.0 / 256.0, -128),
            _ => {
                let (lo, hi) = range_of(&mut seen[k], options.calibration);
                asymmetric(lo, hi)
            }
        };
        qparams.push(q);
    }
    drop(seen);
    let bytes = write(net, &ops, &weights, &qparams, labels, input)?;
    QuantizedModel::from_bytes(bytes, &options.kind)
}

/// Quantized constants of one weighted op, in file order.
fn layer_params(
    op: &PlanOp,
    (w, b): &(Vec<f32>, Vec<f32>),
    in_q: (f32, i32),
    out_q: (f32, i32),
) -> Result<Vec<u8>> {
    let outputs = b.len();
    let fan_in = w.len() / outputs.max(1);
    // Weight `k` of output channel `ch` in the float layout `[fan_in, outputs]` (depthwise:
    // `[kh·kw, channels]`).
    let get = |k: usize, ch: usize| w[k * outputs + ch];
    let mut q = vec![0i8; w.len()];
    let (mut biases, mut scales) = (Vec::with_capacity(outputs), Vec::with_capacity(outputs));
    for (ch, &float_bias) in b.iter().enumerate() {
        let max = (0..fan_in).map(|k| get(k, ch).abs()).fold(0f32, f32::max);
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        for k in 0..fan_in {
            q[weight_at(op.code, k, ch, fan_in, outputs)] =
                (get(k, ch) / scale).round().clamp(-127.0, 127.0) as i8;
        }
        biases.push(
            (float_bias as f64 / (in_q.0 as f64 * scale as f64))
                .round()
                .clamp(i32::MIN as f64 / 4.0, i32::MAX as f64 / 4.0) as i32,
        );
        scales.push(scale);
    }
    int8_layer_params(op.code, &q, &biases, &scales, in_q, out_q)
}

/// Where weight `k` of output channel `ch` is in the file: convolution `[oc][ky][kx][ic]` and
/// dense `[out][in]` are channel-major; depthwise `[ky][kx][c]` is channel-minor.
fn weight_at(code: OpCode, k: usize, ch: usize, fan_in: usize, outputs: usize) -> usize {
    match code {
        OpCode::DepthwiseConv2d => k * outputs + ch,
        _ => ch * fan_in + k,
    }
}

/// A weighted op's constants in file order, from its int8 weights (in the file's layout),
/// `i32` biases and weight scales (one per output channel): each channel's folded bias, and
/// its requantization multiplier and shift from `input_scale · weight_scale / output_scale`
/// (TFLite's rule). The quantizer and the `.tflite` importer both end here.
pub(crate) fn int8_layer_params(
    code: OpCode,
    weights: &[i8],
    biases: &[i32],
    scales: &[f32],
    in_q: (f32, i32),
    out_q: (f32, i32),
) -> Result<Vec<u8>> {
    let outputs = biases.len();
    let fan_in = weights.len() / outputs.max(1);
    let channels: Vec<ChannelParams> = biases
        .iter()
        .zip(scales)
        .enumerate()
        .map(|(ch, (&bias, &scale))| {
            // Wrapping, as the core checks it (an imported file may hold any weights).
            let sum = (0..fan_in).fold(0i32, |sum, k| {
                sum.wrapping_add(weights[weight_at(code, k, ch, fan_in, outputs)] as i32)
            });
            let (multiplier, shift) =
                quantize_multiplier(in_q.0 as f64 * scale as f64 / out_q.0 as f64);
            ChannelParams {
                bias,
                folded_bias: folded_bias(bias, in_q.1, sum),
                multiplier,
                shift,
                weight_scale: scale,
            }
        })
        .collect();
    let mut out = vec![0; layer_params_len(outputs, weights.len())];
    encode_layer_params(&channels, weights, &mut out)
        .map_err(|e| Error::model_file("quantize", e))?;
    Ok(out)
}

/// The softmax table for an input of scale `scale`.
pub(crate) fn softmax_table(scale: f32) -> Result<Vec<u8>> {
    let table: [i32; SOFTMAX_TABLE_LEN] = std::array::from_fn(|d| {
        (SOFTMAX_ONE as f64 * (-(d as f64) * scale as f64).exp()).round() as i32
    });
    let mut out = vec![0; SOFTMAX_PARAMS_LEN];
    encode_softmax_table(&table, &mut out).map_err(|e| Error::model_file("quantize", e))?;
    Ok(out)
}

/// The fused activation's range `[min, max]` in the output's int8 values.
fn activation_range(op: &PlanOp, (scale, zero_point): (f32, i32)) -> (i8, i8) {
    let q = |v: f32| quantize_real(v, scale, zero_point);
    let clamps = matches!(
        op.code,
        OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected | OpCode::Relu
    );
    match op.activation {
        Activation::Relu if clamps => (q(0.0), 127),
        Activation::Relu6 if clamps => (q(0.0), q(6.0)),
        _ if op.code.has_weights() => (-128, 127),
        _ => (0, 0),
    }
}

/// The `.tkm` bytes of the planned ops: every op's constants quantized, then [`lay_out`].
fn write(
    net: &Network,
    ops: &[PlanOp],
    weights: &[Option<(Vec<f32>, Vec<f32>)>],
    qparams: &[(f32, i32)],
    labels: &[String],
    input: &InputKind,
) -> Result<Vec<u8>> {
    // Tensors: the input, then one per op.
    let mut shapes = vec![hwc(net.input())];
    shapes.extend(ops.iter().map(|o| o.out));
    let chain =
        ops.iter()
            .enumerate()
            .map(|(k, op)| {
                let params = match op.code {
                    OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected => {
                        let w = op.layer.and_then(|l| weights[l].as_ref()).ok_or_else(|| {
                            Error::Network("a weighted layer without weights".into())
                        })?;
                        layer_params(op, w, qparams[k], qparams[k + 1])?
                    }
                    OpCode::Softmax => softmax_table(qparams[k].0)?,
                    _ => Vec::new(),
                };
                Ok(ChainOp {
                    code: op.code,
                    kernel: op.kernel,
                    stride: op.stride,
                    pad: op.pad,
                    activation: activation_range(op, qparams[k + 1]),
                    params,
                })
            })
            .collect::<Result<Vec<_>>>()?;
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let statistics = input.statistics();
    lay_out(
        &shapes,
        qparams,
        &chain,
        &labels,
        input.to_core(&statistics)?,
    )
}

/// One int8 op of a chain (op `k` reads tensor `k` and writes tensor `k + 1`), with its
/// constants in file order.
pub(crate) struct ChainOp {
    pub code: OpCode,
    pub kernel: (usize, usize),
    pub stride: usize,
    /// Padding above, left, below, right.
    pub pad: [usize; 4],
    /// The fused activation's clamp `[min, max]` (`(0, 0)` for ops without one).
    pub activation: (i8, i8),
    pub params: Vec<u8>,
}

/// The `.tkm` bytes of a chain of int8 ops on tensors of `shapes` (`h, w, c`) and `qparams`
/// (scale, zero point), the input first: the arena planned (two regions used in turn, an op
/// reading one and writing the other, ReLU and reshape in place, the convolution patch after
/// both), the file laid out by the core's [`ModelFile`].
pub(crate) fn lay_out(
    shapes: &[(usize, usize, usize)],
    qparams: &[(f32, i32)],
    ops: &[ChainOp],
    labels: &[&str],
    front_end: FrontEnd,
) -> Result<Vec<u8>> {
    let len = |s: &(usize, usize, usize)| s.0 * s.1 * s.2;
    let mut region = vec![0usize];
    for (k, op) in ops.iter().enumerate() {
        let r = region[k];
        let in_place = matches!(op.code, OpCode::Relu | OpCode::Reshape);
        region.push(if in_place { r } else { 1 - r });
    }
    let size = |r: usize| {
        shapes
            .iter()
            .zip(&region)
            .filter(|(_, &g)| g == r)
            .map(|(s, _)| len(s))
            .max()
            .unwrap_or(0)
    };
    let (a, b) = (size(0), size(1));
    let mut patch = 0;
    for (k, op) in ops.iter().enumerate() {
        if op.code == OpCode::Conv2d {
            patch = patch.max(op.kernel.0 * op.kernel.1 * shapes[k].2);
        }
    }
    let tensors: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(k, &(h, w, c))| Tensor {
            h,
            w,
            c,
            offset: if region[k] == 0 { 0 } else { a },
            scale: qparams[k].0,
            zero_point: qparams[k].1,
        })
        .collect();
    let records: Vec<Op> = ops
        .iter()
        .enumerate()
        .map(|(k, op)| Op {
            code: op.code,
            input: k,
            output: k + 1,
            kh: op.kernel.0,
            kw: op.kernel.1,
            stride: op.stride,
            pad: op.pad,
            act_min: op.activation.0,
            act_max: op.activation.1,
            params: &op.params,
        })
        .collect();
    let file = ModelFile {
        arena: a + b + patch,
        tensors: &tensors,
        ops: &records,
        input: 0,
        output: ops.len(),
        labels,
        front_end,
    };
    let written = |e: ModelError| match e {
        ModelError::BadTensor => Error::DoesNotFit(
            "a tensor does not fit the model format (dimensions up to 65535)".into(),
        ),
        ModelError::BadShape => {
            Error::DoesNotFit("kernels, strides and padding up to 255 fit the model format".into())
        }
        ModelError::BadLabels => {
            Error::DoesNotFit("labels are 1 to 255 bytes of UTF-8 in the model format".into())
        }
        e => Error::model_file("quantize", e),
    };
    let mut bytes = vec![0; file.file_len().map_err(written)?];
    file.write(&mut bytes).map_err(written)?;
    Ok(bytes)
}

/// Writes a model file (`.tkm` or `.tflite`), making its folder first.
pub(crate) fn write_model_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// What a model with `front_end` is for, when nothing else says: `digits`, `kws`, `activity`
/// or `model`.
pub(crate) fn kind_of(front_end: &FrontEnd) -> &'static str {
    match front_end {
        FrontEnd::Image => "digits",
        FrontEnd::Mfcc { .. } => "kws",
        FrontEnd::Motion { .. } => "activity",
        FrontEnd::None => "model",
    }
}

/// An int8 model: validated `.tkm` bytes and what `tinyml-core` makes of them.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedModel {
    bytes: Vec<u8>,
    /// What the model is for (`digits-cnn`, `kws-cnn`, …; not stored in the file).
    pub kind: String,
}

impl QuantizedModel {
    /// Validates `bytes` (the whole `.tkm` file) with the board's loader.
    pub fn from_bytes(bytes: Vec<u8>, kind: &str) -> Result<QuantizedModel> {
        Model::parse(&bytes).map_err(|e| Error::model_file(kind, e))?;
        Ok(QuantizedModel {
            bytes,
            kind: kind.to_string(),
        })
    }

    /// Reads and validates a `.tkm` file.
    pub fn load(path: impl AsRef<Path>) -> Result<QuantizedModel> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let model =
            Model::parse(&bytes).map_err(|e| Error::model_file(path.display().to_string(), e))?;
        let kind = model.front_end().map_or("model", |f| kind_of(&f));
        Ok(QuantizedModel {
            kind: kind.to_string(),
            bytes,
        })
    }

    /// Writes the `.tkm` file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_model_file(path.as_ref(), &self.bytes)
    }

    /// The file bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The core's view of the model (what the board sees). The bytes were checked in full when
    /// this was created and never change, so this is the board's lighter open.
    pub fn model(&self) -> Model<'_> {
        Model::parse_stored(&self.bytes).expect("validated when created")
    }

    /// Size of the file in bytes (what goes to the board's flash).
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Arena bytes (the RAM the board needs for activations).
    pub fn arena_bytes(&self) -> usize {
        self.model().arena_bytes()
    }

    /// Class names in output order.
    pub fn labels(&self) -> Vec<String> {
        let m = self.model();
        (0..m.label_count())
            .map(|i| m.label(i).to_string())
            .collect()
    }

    /// Checks the model fits `budget` (e.g. [`Budget::NANO_33_BLE`]), with the numbers when not.
    pub fn check_fits(&self, budget: &Budget) -> Result<()> {
        let (flash, ram) = (self.size_bytes(), self.arena_bytes());
        let mut problems = Vec::new();
        if flash > budget.model_flash {
            problems.push(format!(
                "the model file is {flash} bytes ({:.1} KB) but {} keeps {} bytes ({:.1} KB) for a model",
                flash as f64 / 1024.0,
                budget.board,
                budget.model_flash,
                budget.model_flash as f64 / 1024.0
            ));
        }
        if ram > budget.arena_ram {
            problems.push(format!(
                "it needs {ram} bytes ({:.1} KB) of RAM for activations but {} has {} bytes ({:.1} KB) for them",
                ram as f64 / 1024.0,
                budget.board,
                budget.arena_ram,
                budget.arena_ram as f64 / 1024.0
            ));
        }
        // The keyword loop keeps its clip after the model's arena.
        let listening = tinyml_core::listen::keyword_arena_bytes(&self.model()).ok();
        if let Some(listening) = listening.filter(|_| ram <= budget.arena_ram) {
            if listening > budget.arena_ram {
                problems.push(format!(
                    "listening needs {listening} bytes ({:.1} KB) of RAM, its activations and \
                     the clip's samples, but {} has {} bytes ({:.1} KB) for them",
                    listening as f64 / 1024.0,
                    budget.board,
                    budget.arena_ram,
                    budget.arena_ram as f64 / 1024.0
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::DoesNotFit(format!(
                "{} does not fit the {}: {}. Use a smaller network (fewer filters or units, \
                 pooling earlier) and quantize it again",
                self.kind,
                budget.board,
                problems.join("; ")
            )));
        }
        self.check_limits(budget.board, &budget.limits)
    }

    /// Checks that a board with `limits` (called `board` in the message) computes the model's
    /// features: within its tables, and planned (every mel filter covers an FFT bin); says
    /// which limit they pass, or why they cannot be planned, when not.
    pub fn check_limits(&self, board: &str, limits: &Limits) -> Result<()> {
        let model = self.model();
        limits.check(&model).map_err(|e| {
            let what = match e {
                LimitError::FftLength { needed, most } => format!(
                    "its features need a {needed}-point FFT but the {board} computes up to \
                     {most} points (a window of at most {} ms at 16 kHz)",
                    most * 1000 / 16_000
                ),
                LimitError::MelBins { needed, most } => format!(
                    "its features use {needed} mel filters but the {board} has room for {most}"
                ),
                LimitError::Mfcc { needed, most } => format!(
                    "its features have {needed} MFCCs but the {board} computes up to {most}"
                ),
                LimitError::KeywordInputs { needed, most } => format!(
                    "it takes {needed} input values (frames × coefficients) but the {board}'s \
                     keyword loop holds {most}"
                ),
            };
            let default = FeatureConfig::KEYWORDS;
            Error::DoesNotFit(format!(
                "{} cannot run on the {board}: {what}. Train it with features the board \
                 computes (the kit's default: {} ms windows, {} mel filters, {} MFCCs) and \
                 quantize it again",
                self.kind, default.window_ms, default.num_mel_bins, default.num_mfcc
            ))
        })?;
        let planned = match model.front_end() {
            Ok(FrontEnd::Mfcc { config, .. }) => Mfcc::new(config).err(),
            _ => None,
        };
        match planned {
            Some(e) => Err(Error::DoesNotFit(format!(
                "{} cannot run on the {board}: its features cannot be computed: {}",
                self.kind,
                crate::audio::mfcc_message(e)
            ))),
            None => Ok(()),
        }
    }

    /// Will it fit? Flash and RAM the model needs beside what `budget` keeps for a model.
    pub fn fit_table(&self, budget: &Budget) -> Table {
        let mut t = Table::new(&[
            "",
            "the model needs",
            &format!("the {} keeps", budget.board),
            "fits",
        ]);
        let row = |what: &str, need: usize, have: usize| {
            vec![
                what.to_string(),
                format!("{need} bytes ({:.1} KB)", need as f64 / 1024.0),
                format!("{have} bytes ({:.0} KB)", have as f64 / 1024.0),
                if need <= have { "yes" } else { "NO" }.to_string(),
            ]
        };
        t.push(row(
            "flash (the .tkm file)",
            self.size_bytes(),
            budget.model_flash,
        ));
        t.push(row("RAM (the arena)", self.arena_bytes(), budget.arena_ram));
        t
    }

    /// Runs the int8 network on `input` (the input tensor's int8 values) with the same
    /// interpreter the board runs, and gives the raw int8 outputs.
    pub fn simulate(&self, input: &[i8]) -> Result<Vec<i8>> {
        let model = self.model();
        let mut session = Session::new(&model);
        session.run(&model, input, Kernels::Optimized)
    }

    /// Quantizes real input values with the model's front end (the board's code).
    pub fn quantize_input(&self, features: &[f32]) -> Result<Vec<i8>> {
        let model = self.model();
        let mut f = features.to_vec();
        let mut out = vec![0i8; model.input().len()];
        model
            .quantize_input(&mut f, &mut out)
            .map_err(|e| Error::model_file(&self.kind, e))?;
        Ok(out)
    }

    /// The output values as probabilities (the softmax's scale, 1/256).
    pub fn probabilities(&self, outputs: &[i8]) -> Vec<f32> {
        let t = self.model().output();
        outputs.iter().map(|&q| t.dequantize(q)).collect()
    }

    /// The int8 weights of op `op` (counting from 1 as `tinyml inspect` does), or why there
    /// are none.
    pub fn weights(&self, op: usize) -> Result<Vec<i8>> {
        let m = self.model();
        let o = op
            .checked_sub(1)
            .and_then(|i| m.op(i).ok())
            .filter(|o| o.code.has_weights())
            .ok_or_else(|| {
                Error::param("op", format!("op {op} of {} has no weights", self.kind))
            })?;
        let out = m.tensor(o.output);
        let channels = if o.code == OpCode::FullyConnected {
            out.len()
        } else {
            out.c
        };
        Ok(o.layer_params(channels)
            .weights
            .iter()
            .map(|&w| w as i8)
            .collect())
    }

    /// A histogram of op `op`'s int8 weights: how the 255 levels are used.
    pub fn weights_figure(&self, op: usize, title: &str) -> Result<Figure> {
        let w = self.weights(op)?;
        Ok(Figure::histograms(
            title,
            "int8 weight (−127 … 127; per channel, 127 is the largest |weight|)",
            vec![(
                format!("{} weights", w.len()),
                w.iter().map(|&v| v as f64).collect(),
            )],
            51,
        ))
    }

    /// `ops`, shapes and sizes, as `tinyml inspect` prints them.
    pub fn table(&self) -> Table {
        let m = self.model();
        let mut t = Table::new(&["#", "op", "input", "output", "kernel", "params (bytes)"]);
        let shape = |k: usize| {
            let x = m.tensor(k);
            format!("{}×{}×{}", x.h, x.w, x.c)
        };
        for i in 0..m.op_count() {
            let Ok(op) = m.op(i) else { continue };
            t.push(vec![
                (i + 1).to_string(),
                op.code.name().into(),
                shape(op.input),
                shape(op.output),
                if op.kh > 0 {
                    format!("{}×{} /{}", op.kh, op.kw, op.stride)
                } else {
                    String::new()
                },
                op.params.len().to_string(),
            ]);
        }
        t
    }

    /// Everything `tinyml inspect --json` prints.
    pub fn json(&self) -> serde_json::Value {
        let m = self.model();
        let tensor = |k: usize| {
            let x = m.tensor(k);
            serde_json::json!({"shape": [x.h, x.w, x.c], "offset": x.offset, "scale": x.scale, "zero_point": x.zero_point})
        };
        let ops: Vec<serde_json::Value> = (0..m.op_count())
            .filter_map(|i| m.op(i).ok())
            .map(|op| {
                serde_json::json!({
                    "op": op.code.name(), "input": op.input, "output": op.output,
                    "kernel": [op.kh, op.kw], "stride": op.stride, "padding": op.pad,
                    "activation_range": [op.act_min, op.act_max], "params_bytes": op.params.len(),
                })
            })
            .collect();
        let front_end = match m.front_end() {
            Ok(FrontEnd::Mfcc {
                config,
                clip_mean,
                frames,
                coefficients,
                ..
            }) => {
                serde_json::json!({"kind": "mfcc", "features": config, "clip_mean_normalization": clip_mean, "frames": frames, "coefficients": coefficients})
            }
            Ok(FrontEnd::Image) => serde_json::json!({"kind": "image", "scale": "pixel / 255"}),
            Ok(FrontEnd::Motion {
                sample_rate_hz,
                window,
                hop,
                ..
            }) => serde_json::json!({
                "kind": "motion", "sample_rate_hz": sample_rate_hz, "window": window, "hop": hop,
                "features": tinyml_core::imu::FEATURE_NAMES,
            }),
            _ => serde_json::json!({"kind": "none"}),
        };
        serde_json::json!({
            "format": "TKM8", "version": VERSION, "bytes": self.size_bytes(),
            "arena_bytes": m.arena_bytes(), "labels": self.labels(),
            "input": tensor(0), "output": tensor(m.tensor_count() - 1),
            "tensors": (0..m.tensor_count()).map(tensor).collect::<Vec<_>>(),
            "ops": ops, "front_end": front_end,
            "fits": {"board": Budget::NANO_33_BLE.board, "model_flash": Budget::NANO_33_BLE.model_flash, "arena_ram": Budget::NANO_33_BLE.arena_ram, "ok": self.check_fits(&Budget::NANO_33_BLE).is_ok()},
        })
    }

    /// Shows sizes, labels and the op table in Jupyter.
    pub fn evcxr_display(&self) {
        let m = self.model();
        let input = m.input();
        println!(
            "int8 {}: {} bytes (flash), arena {} bytes (RAM); input {}×{}×{} (scale {:.4}, zero point {}); labels {}",
            self.kind,
            self.size_bytes(),
            m.arena_bytes(),
            input.h,
            input.w,
            input.c,
            input.scale,
            input.zero_point,
            self.labels().join(", ")
        );
        match self.check_fits(&Budget::NANO_33_BLE) {
            Ok(()) => println!("fits the {}", Budget::NANO_33_BLE.board),
            Err(e) => println!("{e}"),
        }
        self.table().evcxr_display();
    }

    /// The model as a C/C++ header for TensorFlow Lite Micro: its `.tflite` file as `NAME[]`
    /// with the labels and the front end's settings as constants
    /// ([`crate::tflite::TfliteModel::to_c`]).
    pub fn to_c(&self, name: &str) -> Result<String> {
        self.to_tflite()?.to_c(name)
    }

    /// The model as a TensorFlow Lite file (`.tflite`): the same int8 network with TFLite's
    /// builtin ops, for Netron, LiteRT and TensorFlow Lite Micro ([`crate::tflite`]).
    pub fn to_tflite(&self) -> Result<crate::tflite::TfliteModel> {
        crate::tflite::to_tflite(self)
    }

    /// The file as a Rust `const` byte array, for `Model::parse(&NAME)` in a `no_std` crate.
    pub fn to_rust(&self, name: &str) -> String {
        let mut s = format!(
            "// {} int8 model ({} bytes, arena {} bytes), made by tinyml-kit.\n\
             // Format: TKM8 version {VERSION} (firmware/core/FORMAT.md).\n\
             pub const {name}: [u8; {}] = [\n",
            self.kind,
            self.bytes.len(),
            self.arena_bytes(),
            self.bytes.len()
        );
        hex_rows(&mut s, &self.bytes);
        s.push_str("];\n");
        s
    }
}

fn hex_rows(s: &mut String, bytes: &[u8]) {
    use std::fmt::Write;
    for row in bytes.chunks(16) {
        s.push_str("   ");
        for b in row {
            let _ = write!(s, " 0x{b:02x},");
        }
        s.push('\n');
    }
}

/// An arena and output buffer for running one model many times without allocating.
pub struct Session {
    arena: Vec<i8>,
    output: Vec<i8>,
}

impl Session {
    /// Buffers for `model`.
    pub fn new(model: &Model) -> Session {
        Session {
            arena: vec![0; model.arena_bytes()],
            output: vec![0; model.output().len()],
        }
    }

    /// Runs `model` on `input`.
    pub fn run(&mut self, model: &Model, input: &[i8], kernels: Kernels) -> Result<Vec<i8>> {
        model
            .invoke(&mut self.arena, input, &mut self.output, kernels)
            .map_err(|e| Error::model_file("model", e))?;
        Ok(self.output.clone())
    }

    /// Runs `model` on `input`, the outputs borrowed.
    pub fn run_ref(&mut self, model: &Model, input: &[i8], kernels: Kernels) -> Result<&[i8]> {
        model
            .invoke(&mut self.arena, input, &mut self.output, kernels)
            .map_err(|e| Error::model_file("model", e))?;
        Ok(&self.output)
    }
}

/// Float and int8 side by side: accuracy and bytes.
#[derive(Debug, Clone, Serialize)]
pub struct QuantizationReport {
    /// What the model is.
    pub model: String,
    /// Examples the accuracies are measured on.
    pub examples: usize,
    /// Float accuracy.
    pub float_accuracy: f64,
    /// int8 accuracy (the interpreter the board runs).
    pub int8_accuracy: f64,
    /// Float weights in bytes (4 per value).
    pub float_bytes: usize,
    /// The `.tkm` file in bytes.
    pub int8_bytes: usize,
    /// Arena bytes the board needs.
    pub arena_bytes: usize,
    /// Examples where float and int8 predict different classes.
    pub disagreements: usize,
}

impl QuantizationReport {
    /// The comparison as a table.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["", "accuracy", "model bytes", "arena bytes (RAM)"]);
        t.push(vec![
            format!("float32 {}", self.model),
            crate::metrics::percent(self.float_accuracy),
            self.float_bytes.to_string(),
            "-".into(),
        ]);
        t.push(vec![
            format!("int8 {}", self.model),
            crate::metrics::percent(self.int8_accuracy),
            self.int8_bytes.to_string(),
            self.arena_bytes.to_string(),
        ]);
        t
    }

    /// `{"model", "examples", "float_accuracy", "int8_accuracy", …}`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    /// Shows the table in Jupyter.
    pub fn evcxr_display(&self) {
        let ratio = self.float_bytes as f64 / self.int8_bytes.max(1) as f64;
        let size = if ratio >= 1.0 {
            format!("int8 is {ratio:.1}× smaller")
        } else {
            // A tiny network: the file's header, labels and feature statistics outweigh it.
            format!(
                "the int8 file is larger than the float weights alone: its header, labels, \
                 feature settings and softmax table take more bytes than its {} weights",
                self.float_bytes / 4
            )
        };
        println!(
            "{} examples; float and int8 disagree on {}; {size}",
            self.examples, self.disagreements
        );
        self.table().evcxr_display();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kws::KwsArchitecture;
    use crate::nn::Padding;
    use crate::rng::Rng;

    /// Every op kind the planner makes: convolution, depthwise, ReLU and ReLU6 fused and on
    /// their own, max and average pooling, flatten, dense.
    fn every_op() -> Network {
        let input = Shape::Image {
            height: 10,
            width: 8,
            channels: 2,
        };
        let layers = vec![
            Layer::Conv2d {
                filters: 6,
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
            },
            Layer::Relu,
            Layer::DepthwiseConv2d {
                kernel: 3,
                stride: 2,
                padding: Padding::Same,
            },
            Layer::Relu6,
            Layer::MaxPool { size: 1 },
            Layer::Relu6,
            Layer::AvgPool { size: 2 },
            Layer::Flatten,
            Layer::Dense { units: 4 },
        ];
        Network::new(input, layers, 3).unwrap()
    }

    /// The calibration's float pass (`run_float`, op by op) gives the training engine's values
    /// after the same layers, value by value, on every keyword architecture and on a network
    /// with every op: one float reference, checked where it is written twice.
    #[test]
    fn the_calibration_pass_equals_the_engine_layer_by_layer() {
        let mut nets = vec![("every op", every_op())];
        for arch in [
            KwsArchitecture::TinyConv,
            KwsArchitecture::Cnn,
            KwsArchitecture::DsCnn,
            KwsArchitecture::Embedding,
        ] {
            let (input, layers) = arch.layers(49, 13, 5);
            nets.push((arch.name(), Network::new(input, layers, 5).unwrap()));
        }
        let mut rng = Rng::new(9);
        for (name, net) in nets {
            let x: Vec<f32> = (0..net.input().len())
                .map(|_| rng.normal(0.0, 1.0) as f32)
                .collect();
            let weights = layer_weights(&net);
            let mut shape = hwc(net.input());
            let mut y = x.clone();
            let logits = net.logits(&x).unwrap();
            for (k, op) in plan(&net).unwrap().iter().enumerate() {
                y = run_float(op, shape, &y, op.layer.map_or(&None, |l| &weights[l]));
                shape = op.out;
                let engine = if op.code == OpCode::Softmax {
                    crate::nn::softmax(&logits)
                } else if op.through == net.layers().len() {
                    logits.clone()
                } else {
                    net.split_at(op.through).unwrap().0.logits(&x).unwrap()
                };
                assert_eq!(y.len(), engine.len(), "{name}, op {k}");
                for (i, (a, b)) in y.iter().zip(&engine).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                        "{name}, op {k} ({:?}), value {i}: {a} vs the engine's {b}",
                        op.code
                    );
                }
            }
        }
    }
}
