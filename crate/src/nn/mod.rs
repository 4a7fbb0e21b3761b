//! The kit's training engine: small networks (dense, convolution, pooling) trained on the CPU
//! with dfdx's automatic differentiation.
//!
//! A [`Network`] is a list of [`Layer`]s with their weights, nothing generic: a notebook cell
//! sees `Network`, `TrainParams`, `History`. The layer set is the set of operations the board
//! runs (Day 3), so every model a student trains can be deployed.
//!
//! Activations of image layers are `[batch * height * width, channels]` matrices (channels last),
//! so a convolution is [`ops::im2col`] followed by one matrix product, and `Flatten` orders
//! features `(row, column, channel)`.

pub mod file;
pub(crate) mod ops;
mod train;

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;
use ops::{Image, PoolKind, Window, T2};

pub(crate) use train::train_settings;
pub use train::{EpochReport, History, Optimizer, TrainParams};

/// How a convolution treats the image border.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// Only positions where the kernel fits inside: the image shrinks by `kernel - 1`.
    Valid,
    /// Zeros around the image so that the output is `ceil(size / stride)`.
    Same,
}

/// One layer of a [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    /// Fully connected: every input to each of `units` outputs, plus a bias.
    Dense {
        /// Outputs.
        units: usize,
    },
    /// `filters` learned `kernel × kernel` filters slid over the image.
    Conv2d {
        /// Output channels.
        filters: usize,
        /// Kernel rows and columns.
        kernel: usize,
        /// Step between positions.
        stride: usize,
        /// Border handling.
        padding: Padding,
    },
    /// One `kernel × kernel` filter per input channel (cheap on the board).
    DepthwiseConv2d {
        /// Kernel rows and columns.
        kernel: usize,
        /// Step between positions.
        stride: usize,
        /// Border handling.
        padding: Padding,
    },
    /// Largest value of each `size × size` window.
    MaxPool {
        /// Window rows and columns (also the stride).
        size: usize,
    },
    /// Mean of each `size × size` window.
    AvgPool {
        /// Window rows and columns (also the stride).
        size: usize,
    },
    /// `max(0, x)`.
    Relu,
    /// `min(max(0, x), 6)`.
    Relu6,
    /// Image to a flat vector, ordered (row, column, channel).
    Flatten,
    /// While training, zeroes each value with probability `rate` (and scales the rest).
    Dropout {
        /// Probability of dropping, in `[0, 1)`.
        rate: f32,
    },
}

/// The shape of one example's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// `height × width × channels`.
    Image {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
        /// Channels.
        channels: usize,
    },
    /// A vector.
    Flat(usize),
}

impl Shape {
    /// Numbers per example.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Image {
                height,
                width,
                channels,
            } => height.saturating_mul(width).saturating_mul(channels),
            Shape::Flat(n) => n,
        }
    }

    /// True for a zero-sized shape.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Layer {
    /// The output shape for `input`, or why this layer cannot take it.
    pub fn output_shape(&self, input: Shape) -> Result<Shape> {
        let image = |what: &str| -> Result<(usize, usize, usize)> {
            match input {
                Shape::Image {
                    height,
                    width,
                    channels,
                } => Ok((height, width, channels)),
                Shape::Flat(_) => Err(Error::Network(format!(
                    "{what} needs an image input, got a flat vector: put it before Flatten"
                ))),
            }
        };
        Ok(match *self {
            Layer::Dense { units } => match input {
                Shape::Flat(_) if units > 0 => Shape::Flat(units),
                Shape::Flat(_) => return Err(Error::Network("Dense needs at least 1 unit".into())),
                Shape::Image { .. } => {
                    return Err(Error::Network(
                        "Dense needs a flat input: put Flatten before it".into(),
                    ))
                }
            },
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            } => {
                let (h, w, _) = image("Conv2d")?;
                if filters == 0 {
                    return Err(Error::Network("Conv2d needs at least 1 filter".into()));
                }
                Shape::Image {
                    height: conv_output(h, kernel, stride, padding)?,
                    width: conv_output(w, kernel, stride, padding)?,
                    channels: filters,
                }
            }
            Layer::DepthwiseConv2d {
                kernel,
                stride,
                padding,
            } => {
                let (h, w, c) = image("DepthwiseConv2d")?;
                Shape::Image {
                    height: conv_output(h, kernel, stride, padding)?,
                    width: conv_output(w, kernel, stride, padding)?,
                    channels: c,
                }
            }
            Layer::MaxPool { size } | Layer::AvgPool { size } => {
                let (h, w, c) = image("pooling")?;
                if size == 0 || size > h || size > w {
                    return Err(Error::Network(format!(
                        "a {size}×{size} pool does not fit a {h}×{w} image"
                    )));
                }
                Shape::Image {
                    height: h / size,
                    width: w / size,
                    channels: c,
                }
            }
            Layer::Relu | Layer::Relu6 => input,
            Layer::Dropout { rate } => {
                if !(0.0..1.0).contains(&rate) {
                    return Err(Error::Network(format!(
                        "dropout rate {rate} is outside [0, 1)"
                    )));
                }
                input
            }
            Layer::Flatten => Shape::Flat(input.len()),
        })
    }

    /// Kernel geometry of a convolution on an `h × w` input (also what the int8 model's
    /// padding is planned from).
    pub(crate) fn window(&self, h: usize, w: usize) -> Option<Window> {
        let (kernel, stride, padding) = match *self {
            Layer::Conv2d {
                kernel,
                stride,
                padding,
                ..
            }
            | Layer::DepthwiseConv2d {
                kernel,
                stride,
                padding,
            } => (kernel, stride, padding),
            _ => return None,
        };
        // The sizes were checked when the network was built.
        let (oh, ow) = (
            conv_output(h, kernel, stride, padding).ok()?,
            conv_output(w, kernel, stride, padding).ok()?,
        );
        let before = |size: usize| match padding {
            Padding::Same => same_padding(size, kernel, stride).0,
            Padding::Valid => 0,
        };
        Some(Window {
            kernel,
            stride,
            pad_top: before(h),
            pad_left: before(w),
            out_height: oh,
            out_width: ow,
        })
    }

    /// Shapes of this layer's weight matrix and bias vector for `input` (`None`: no weights).
    fn param_shapes(&self, input: Shape) -> Option<((usize, usize), usize)> {
        match (*self, input) {
            (Layer::Dense { units }, Shape::Flat(n)) => Some(((n, units), units)),
            (
                Layer::Conv2d {
                    filters, kernel, ..
                },
                Shape::Image { channels, .. },
            ) => Some(((kernel * kernel * channels, filters), filters)),
            (Layer::DepthwiseConv2d { kernel, .. }, Shape::Image { channels, .. }) => {
                Some(((kernel * kernel, channels), channels))
            }
            _ => None,
        }
    }
}

/// Output rows (or columns) of a convolution over `size` input rows, or why it cannot run.
/// TFLite's `SAME` padding of one axis of `size` values, for a `kernel` moved by `stride`:
/// `(before, after)`, the total that `ceil(size / stride)` outputs need, the extra one after.
/// The training engine, the int8 plan and the `.tflite` export and import all pad by this.
pub(crate) fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride.max(1));
    let total = (out.saturating_sub(1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

fn conv_output(size: usize, kernel: usize, stride: usize, padding: Padding) -> Result<usize> {
    if kernel == 0 || stride == 0 {
        return Err(Error::Network(
            "kernel and stride must be at least 1".into(),
        ));
    }
    match padding {
        Padding::Same => Ok(size.div_ceil(stride)),
        Padding::Valid if size >= kernel => Ok((size - kernel) / stride + 1),
        Padding::Valid => Err(Error::Network(format!(
            "a {kernel}×{kernel} kernel does not fit in {size} pixels: use Padding::Same or a smaller kernel"
        ))),
    }
}

/// Weights of one layer: `weight` is `[fan_in, outputs]` (dense: inputs × units; conv:
/// `(ky, kx, in_channel)` × filters; depthwise: `(ky, kx)` × channels), `bias` has one value
/// per output.
#[derive(Debug, Clone)]
pub(crate) struct Params<E: Dtype> {
    pub(crate) weight: Tensor<(usize, usize), E, Cpu>,
    pub(crate) bias: Tensor<(usize,), E, Cpu>,
}

/// A trained or untrained network: its input shape, layers and weights.
#[derive(Debug, Clone)]
pub struct Network {
    input: Shape,
    layers: Vec<Layer>,
    /// `params[i]` belongs to `layers[i]` (`None` for layers without weights).
    params: Vec<Option<Params<f32>>>,
    dev: Cpu,
}

impl Network {
    /// A network on `input` with `layers`, its weights drawn with `seed` (He initialisation for
    /// layers followed by ReLU, Glorot otherwise; biases zero). Checks every shape first.
    pub fn new(input: Shape, layers: Vec<Layer>, seed: u64) -> Result<Network> {
        tensor_lengths(input, &layers)?;
        let shapes = shapes(input, &layers)?;
        let mut rng = Rng::new(seed);
        let dev = Cpu::seed_from_u64(seed);
        let mut params = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            params.push(
                layer
                    .param_shapes(shapes[i])
                    .map(|((fan_in, fan_out), n_bias)| {
                        let relu_next =
                            matches!(layers.get(i + 1), Some(Layer::Relu | Layer::Relu6));
                        // He for ReLU (keeps the signal's variance), Glorot otherwise.
                        let std = if relu_next {
                            (2.0 / fan_in as f64).sqrt()
                        } else {
                            (2.0 / (fan_in + fan_out) as f64).sqrt()
                        };
                        let w: Vec<f32> = (0..fan_in * fan_out)
                            .map(|_| rng.normal(0.0, std) as f32)
                            .collect();
                        Params {
                            weight: dev.tensor_from_vec(w, (fan_in, fan_out)),
                            bias: dev.tensor_from_vec(vec![0.0; n_bias], (n_bias,)),
                        }
                    }),
            );
        }
        Ok(Network {
            input,
            layers,
            params,
            dev,
        })
    }

    /// The input shape.
    pub fn input(&self) -> Shape {
        self.input
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The output size (number of classes for a classifier).
    pub fn outputs(&self) -> usize {
        shapes(self.input, &self.layers)
            .ok()
            .and_then(|s| s.last().map(Shape::len))
            .unwrap_or(0)
    }

    /// Total number of learned values.
    pub fn parameter_count(&self) -> usize {
        self.params
            .iter()
            .flatten()
            .map(|p| p.weight.shape().0 * p.weight.shape().1 + p.bias.shape().0)
            .sum()
    }

    /// The biases among [`Network::parameter_count`]: one per neuron or filter.
    pub fn bias_count(&self) -> usize {
        self.params.iter().flatten().map(|p| p.bias.shape().0).sum()
    }

    /// A table of layers, output shapes and parameter counts.
    pub fn summary(&self) -> crate::plot::Table {
        let mut t = crate::plot::Table::new(&["layer", "output", "parameters"]);
        let shapes = shapes(self.input, &self.layers).unwrap_or_default();
        t.push(vec!["input".into(), describe(self.input), "0".into()]);
        for (i, layer) in self.layers.iter().enumerate() {
            let n = self.params[i]
                .as_ref()
                .map(|p| p.weight.shape().0 * p.weight.shape().1 + p.bias.shape().0)
                .unwrap_or(0);
            t.push(vec![
                format!("{layer:?}"),
                shapes.get(i + 1).map(|s| describe(*s)).unwrap_or_default(),
                n.to_string(),
            ]);
        }
        t.push(vec![
            "total".into(),
            String::new(),
            self.parameter_count().to_string(),
        ]);
        t
    }

    /// Raw outputs (logits) for a batch of examples, `inputs.len() / input().len()` of them.
    pub fn logits(&self, inputs: &[f32]) -> Result<Vec<f32>> {
        let per = self.input.len();
        if per == 0 || !inputs.len().is_multiple_of(per) {
            return Err(Error::Network(format!(
                "{} input values are not a whole number of examples of {per}",
                inputs.len()
            )));
        }
        let batch = inputs.len() / per;
        let mut out = Vec::with_capacity(batch * self.outputs());
        // Chunks bound the memory of im2col for big evaluation sets.
        for chunk in inputs.chunks(256 * per) {
            let x = to_input(&self.dev, chunk, self.input);
            out.extend(ops::values(&forward::<f32, NoneTape>(
                &self.layers,
                &self.params,
                self.input,
                x,
                chunk.len() / per,
                false,
                false,
            )));
        }
        Ok(out)
    }

    /// Weights as flat `f32` vectors, layer by layer (`weight` then `bias`), in file order.
    pub fn weights(&self) -> Vec<Vec<f32>> {
        self.params
            .iter()
            .flatten()
            .flat_map(|p| [p.weight.as_vec(), p.bias.as_vec()])
            .collect()
    }

    /// The network cut before layer `at`: the layers before it (on this input) and the layers
    /// from it on (on the shape the first part gives), each with its weights. For transfer
    /// learning: the first part is a frozen feature extractor, the second a head to replace.
    pub fn split_at(&self, at: usize) -> Result<(Network, Network)> {
        if at == 0 || at >= self.layers.len() {
            return Err(Error::param(
                "at",
                format!(
                    "{at} (cut between layers: 1 to {} for this network)",
                    self.layers.len().saturating_sub(1)
                ),
            ));
        }
        let middle = shapes(self.input, &self.layers)?[at];
        let part = |input: Shape, range: std::ops::Range<usize>| Network {
            input,
            layers: self.layers[range.clone()].to_vec(),
            params: self.params[range].to_vec(),
            dev: self.dev.clone(),
        };
        Ok((part(self.input, 0..at), part(middle, at..self.layers.len())))
    }

    /// This network followed by `next`, whose input must be this network's output (a flat
    /// vector of the same length will do).
    pub fn then(&self, next: &Network) -> Result<Network> {
        let out = *shapes(self.input, &self.layers)?
            .last()
            .expect("shapes holds the input");
        let fits = out == next.input
            || (matches!(next.input, Shape::Flat(_)) && out.len() == next.input.len());
        if !fits {
            return Err(Error::Network(format!(
                "the second network takes {} but the first gives {}",
                describe(next.input),
                describe(out)
            )));
        }
        let mut layers = self.layers.clone();
        let mut params = self.params.clone();
        if out != next.input && !matches!(layers.last(), Some(Layer::Flatten)) {
            layers.push(Layer::Flatten);
            params.push(None);
        }
        layers.extend(next.layers.iter().copied());
        params.extend(next.params.iter().cloned());
        tensor_lengths(self.input, &layers)?;
        Ok(Network {
            input: self.input,
            layers,
            params,
            dev: self.dev.clone(),
        })
    }

    /// Replaces the weights with `weights` (as [`Network::weights`] gives them), checking sizes.
    pub fn set_weights(&mut self, weights: &[Vec<f32>]) -> Result<()> {
        let mut it = weights.iter();
        for p in self.params.iter_mut().flatten() {
            for (tensor_len, target) in [
                (p.weight.shape().0 * p.weight.shape().1, 0),
                (p.bias.shape().0, 1),
            ] {
                let src = it.next().ok_or_else(|| {
                    Error::Network("fewer weight tensors than the layers need".into())
                })?;
                if src.len() != tensor_len {
                    return Err(Error::Network(format!(
                        "a weight tensor has {} values, the layer needs {tensor_len}",
                        src.len()
                    )));
                }
                if target == 0 {
                    p.weight.copy_from(src);
                } else {
                    p.bias.copy_from(src);
                }
            }
        }
        if it.next().is_some() {
            return Err(Error::Network(
                "more weight tensors than the layers need".into(),
            ));
        }
        Ok(())
    }
}

/// Probabilities from a network's outputs: `exp(l - max) / Σ exp(l - max)`.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// The index of the largest value (the first, on ties; 0 for an empty slice).
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
        .0
}

fn describe(s: Shape) -> String {
    match s {
        Shape::Image {
            height,
            width,
            channels,
        } => format!("{height}×{width}×{channels}"),
        Shape::Flat(n) => n.to_string(),
    }
}

/// The activation shape before each layer and after the last.
fn shapes(input: Shape, layers: &[Layer]) -> Result<Vec<Shape>> {
    if input.is_empty() {
        return Err(Error::Network("the input shape is empty".into()));
    }
    let too_big = |what: String| {
        Error::Network(format!(
            "{what} is larger than the kit trains ({MAX_VALUES} values)"
        ))
    };
    if input.len() > MAX_VALUES {
        return Err(too_big("the input".into()));
    }
    let mut shapes = vec![input];
    for (i, layer) in layers.iter().enumerate() {
        let next = layer
            .output_shape(shapes[i])
            .map_err(|e| Error::Network(format!("layer {} ({layer:?}): {e}", i + 1)))?;
        if next.len() > MAX_VALUES {
            return Err(too_big(format!("layer {}'s output", i + 1)));
        }
        shapes.push(next);
    }
    Ok(shapes)
}

/// The most values one activation or one weight tensor may hold (256 MB of `f32`): a bound
/// that keeps a malformed model file from asking for absurd memory.
pub const MAX_VALUES: usize = 1 << 26;

/// The length of every weight tensor of `layers` on `input` (weight, then bias, layer by layer),
/// checking shapes and sizes without allocating anything.
pub fn tensor_lengths(input: Shape, layers: &[Layer]) -> Result<Vec<usize>> {
    let shapes = shapes(input, layers)?;
    let mut lengths = Vec::new();
    let mut total = 0usize;
    for (i, layer) in layers.iter().enumerate() {
        if let Some(((fan_in, fan_out), bias)) = layer.param_shapes(shapes[i]) {
            let weight = fan_in.checked_mul(fan_out).filter(|&n| n <= MAX_VALUES);
            let Some(weight) = weight else {
                return Err(Error::Network(format!(
                    "layer {} ({layer:?}) would have more than {MAX_VALUES} weights",
                    i + 1
                )));
            };
            total = total.saturating_add(weight).saturating_add(bias);
            lengths.extend([weight, bias]);
        }
    }
    if total > MAX_VALUES {
        return Err(Error::Network(format!(
            "the network would have {total} weights, more than the kit trains ({MAX_VALUES})"
        )));
    }
    Ok(lengths)
}

/// A batch of inputs as the first activation: `[batch*h*w, c]` for images, `[batch, n]` flat.
fn to_input<E: Dtype>(dev: &Cpu, data: &[E], input: Shape) -> T2<E, NoneTape> {
    let rows_per = match input {
        Shape::Image { height, width, .. } => height * width,
        Shape::Flat(_) => 1,
    };
    let cols = input.len() / rows_per;
    dev.tensor_from_vec(data.to_vec(), (data.len() / cols, cols))
}

/// Runs the layers on `x` (`batch` examples). `training` turns dropout on; `input_grad` keeps
/// the gradient with respect to the input (gradient checks want it, training does not).
fn forward<E: Dtype, T: Tape<E, Cpu>>(
    layers: &[Layer],
    params: &[Option<Params<E>>],
    input: Shape,
    x: T2<E, T>,
    batch: usize,
    training: bool,
    input_grad: bool,
) -> T2<E, T>
where
    Cpu: dfdx::tensor_ops::Device<E>,
{
    let mut shape = input;
    let mut x = x;
    // ReLU then max pooling equals max pooling then ReLU (max(0, ·) commutes with max), and the
    // ReLU then runs on a quarter of the values.
    let mut relu_after_pool = false;
    for (i, (layer, p)) in layers.iter().zip(params).enumerate() {
        if *layer == Layer::Relu && matches!(layers.get(i + 1), Some(Layer::MaxPool { .. })) {
            relu_after_pool = true;
            continue;
        }
        let image = match shape {
            Shape::Image {
                height,
                width,
                channels,
            } => Image {
                batch,
                height,
                width,
                channels,
            },
            Shape::Flat(_) => Image {
                batch,
                height: 1,
                width: 1,
                channels: shape.len(),
            },
        };
        let next = layer
            .output_shape(shape)
            .expect("shapes were checked when the network was built");
        x = match (layer, p) {
            (Layer::Dense { .. } | Layer::Conv2d { .. }, Some(p)) => {
                let cols = match layer.window(image.height, image.width) {
                    Some(win) => ops::im2col(x, image, win, input_grad || i > 0),
                    None => x,
                };
                let y = cols.matmul(p.weight.clone().retaped::<T>());
                ops::add_bias(y, p.bias.clone().retaped::<T>())
            }
            (Layer::DepthwiseConv2d { .. }, Some(p)) => {
                let win = layer
                    .window(image.height, image.width)
                    .expect("a convolution has a window");
                let y = ops::depthwise(x, p.weight.clone().retaped::<T>(), image, win);
                ops::add_bias(y, p.bias.clone().retaped::<T>())
            }
            (Layer::MaxPool { size }, _) if std::mem::take(&mut relu_after_pool) => {
                ops::pool(x, image, *size, PoolKind::Max).relu()
            }
            (Layer::MaxPool { size }, _) => ops::pool(x, image, *size, PoolKind::Max),
            (Layer::AvgPool { size }, _) => ops::pool(x, image, *size, PoolKind::Average),
            (Layer::Relu, _) => x.relu(),
            (Layer::Relu6, _) => x.clamp(0.0, 6.0),
            (Layer::Dropout { rate }, _) if training && *rate > 0.0 => x.dropout(*rate as f64),
            (Layer::Dropout { .. }, _) => x,
            (Layer::Flatten, _) => {
                let n = shape.len();
                x.reshape_like(&(batch, n))
            }
            (_, None) => unreachable!("layers with weights always have params"),
        };
        shape = next;
    }
    x
}

#[cfg(test)]
mod tests;
