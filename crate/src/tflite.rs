//! The kit's int8 models as TensorFlow Lite files (`.tflite`): what Netron opens, LiteRT and
//! TensorFlow Lite Micro run.
//!
//! [`to_tflite`] writes a `.tkm` model op for op with TFLite's builtin ops, in its int8
//! conventions (which the kit's kernels already follow, `tinyml_core::int8`):
//!
//! | kit op | TFLite op | weights |
//! |---|---|---|
//! | `conv2d` | `CONV_2D` | int8 `[out, kh, kw, in]`, a scale per output channel |
//! | `depthwise_conv2d` | `DEPTHWISE_CONV_2D` | int8 `[1, kh, kw, channels]`, a scale per channel |
//! | `fully_connected` | `FULLY_CONNECTED` | int8 `[out, in]`, a scale per output |
//! | `max_pool`, `avg_pool` | `MAX_POOL_2D`, `AVERAGE_POOL_2D` | |
//! | `relu` | `RELU`, `RELU6` or `RELU_N1_TO_1` | |
//! | `reshape` | `RESHAPE` | the new shape as an int32 tensor |
//! | `softmax` | `SOFTMAX` (β = 1) | |
//!
//! Biases are int32 with scale `input_scale · weight_scale`. A layer's clamp becomes its fused
//! activation (`NONE`, `RELU`, `RELU6`, `RELU_N1_TO_1`), padding `SAME` or `VALID` (the kit pads
//! as TFLite's `SAME` does). TFLite derives each requantization multiplier and shift from the
//! scales in the file as the kit's quantizer did, so both start from the same integers.
//!
//! Two things are computed differently, measured against LiteRT 2.3.0's reference kernels
//! (`crate/tests/tflite.rs`, 500 inputs of each course model):
//! - **Rounding.** The kit requantizes as gemmlowp does (and TFLite built without
//!   `TFLITE_SINGLE_ROUNDING`): a rounding high multiply, then a rounding shift. LiteRT's
//!   package rounds once, `(acc · multiplier + half) >> shift` (a dense layer recomputed that
//!   way matches it on every value). Where the two roundings disagree, a value is one step
//!   apart: 1 to 32 of the 2,000 to 5,000 logits on the course's models, never an answer.
//! - **Softmax.** The kit's takes `exp` from a table made when quantizing (the same on the
//!   board), TFLite's computes it in fixed point. Both give probabilities in steps of 1/256; on
//!   the same logits they differ by at most one step.
//!
//! What the kit keeps beside the network goes in the file's metadata, so that an import can
//! give the board the same features: `tinyml.labels` (the labels, one per line) and
//! `tinyml.front_end` (the front end, encoded as in a `.tkm` file, `FORMAT.md`).

use std::path::Path;

use tfl::planus::ReadAsRoot;
use tflite_schema as tfl;
use tinyml_core::model::{FrontEnd, Model, Op, OpCode, Tensor};

use crate::error::{Error, Result};
use crate::plot::Table;
use crate::quantize::QuantizedModel;

/// The metadata entry that holds the labels, one per line.
pub const LABELS_METADATA: &str = "tinyml.labels";
/// The metadata entry that holds the front end, encoded as in a `.tkm` file.
pub const FRONT_END_METADATA: &str = "tinyml.front_end";

/// `model` as a `.tflite` file.
pub fn to_tflite(model: &QuantizedModel) -> Result<TfliteModel> {
    let bytes = Writer::new(model)?.finish()?;
    TfliteModel::from_bytes(bytes, &model.kind)
}

/// A TensorFlow Lite model: the bytes of a `.tflite` file, read through in full when created
/// (every table, vector and string checked against the buffer).
#[derive(Debug, Clone, PartialEq)]
pub struct TfliteModel {
    bytes: Vec<u8>,
    model: tfl::Model,
}

impl TfliteModel {
    /// Reads `bytes` (a whole `.tflite` file); `what` names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<TfliteModel> {
        let refused = |message: String| Error::Tflite {
            what: what.to_string(),
            message,
        };
        if bytes.len() < 8 || bytes[4..8] != tfl::FILE_IDENTIFIER {
            return Err(refused(
                "not a TensorFlow Lite file (it does not have TFL3 at bytes 4 to 8); \
                 give a .tflite file"
                    .into(),
            ));
        }
        let model = tfl::ModelRef::read_as_root(&bytes)
            .and_then(tfl::Model::try_from)
            .map_err(|e| {
                refused(format!(
                    "the file is damaged or truncated ({e}); export or download it again"
                ))
            })?;
        let graphs = model.subgraphs.as_ref().map_or(0, Vec::len);
        if graphs == 0 {
            return Err(refused("the file has no graph".into()));
        }
        Ok(TfliteModel { bytes, model })
    }

    /// Reads a `.tflite` file.
    pub fn load(path: impl AsRef<Path>) -> Result<TfliteModel> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        TfliteModel::from_bytes(bytes, &path.display().to_string())
    }

    /// Writes the `.tflite` file (for Netron, LiteRT, TensorFlow Lite Micro).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(path, &self.bytes).map_err(|e| Error::io(path, e))
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Size of the file in bytes.
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The file as TensorFlow Lite reads it.
    pub fn schema(&self) -> &tfl::Model {
        &self.model
    }

    /// The main graph's ops as Netron lists them: TFLite's op name, each input and output
    /// tensor as `type[shape]`, and the op's options (padding, strides, fused activation).
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["#", "op", "inputs", "output", "options"]);
        let graph = &self.model.subgraphs.as_deref().unwrap_or_default()[0];
        let tensors = graph.tensors.as_deref().unwrap_or_default();
        let codes = self.model.operator_codes.as_deref().unwrap_or_default();
        let tensor = |i: i32| {
            usize::try_from(i)
                .ok()
                .and_then(|i| tensors.get(i))
                .map_or_else(|| "?".to_string(), describe_tensor)
        };
        for (i, op) in graph
            .operators
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let name = codes
                .get(op.opcode_index as usize)
                .map_or_else(|| "?".to_string(), |c| op_name(c.builtin_code));
            let list = |ids: &Option<Vec<i32>>| {
                ids.as_deref()
                    .unwrap_or_default()
                    .iter()
                    .map(|&k| tensor(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            t.push(vec![
                (i + 1).to_string(),
                name,
                list(&op.inputs),
                list(&op.outputs),
                op.builtin_options.as_ref().map(options).unwrap_or_default(),
            ]);
        }
        t
    }

    /// Shows the layer table in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "TensorFlow Lite model, {} bytes: {}",
            self.bytes.len(),
            self.model.description.as_deref().unwrap_or("")
        );
        self.table().evcxr_display();
    }
}

/// `int8[1, 49, 13, 1]`, as Netron writes a tensor's type.
fn describe_tensor(t: &tfl::Tensor) -> String {
    let shape = t
        .shape
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    format!("{}[{shape}]", format!("{:?}", t.type_).to_lowercase())
}

/// TFLite's name of an op (`CONV_2D`).
fn op_name(op: tfl::BuiltinOperator) -> String {
    use tfl::BuiltinOperator as B;
    match op {
        B::Conv2d => "CONV_2D".into(),
        B::DepthwiseConv2d => "DEPTHWISE_CONV_2D".into(),
        B::FullyConnected => "FULLY_CONNECTED".into(),
        B::MaxPool2d => "MAX_POOL_2D".into(),
        B::AveragePool2d => "AVERAGE_POOL_2D".into(),
        B::Relu => "RELU".into(),
        B::Relu6 => "RELU6".into(),
        B::ReluN1To1 => "RELU_N1_TO_1".into(),
        B::Reshape => "RESHAPE".into(),
        B::Softmax => "SOFTMAX".into(),
        other => format!("{other:?}"),
    }
}

/// The options Netron shows for the ops the kit writes.
fn options(o: &tfl::BuiltinOptions) -> String {
    use tfl::BuiltinOptions as O;
    let act = |a: tfl::ActivationFunctionType| format!("{a:?}").to_uppercase();
    let pad = |p: tfl::Padding| format!("{p:?}").to_uppercase();
    match o {
        O::Conv2DOptions(c) => format!(
            "padding {}, stride {}×{}, activation {}",
            pad(c.padding),
            c.stride_h,
            c.stride_w,
            act(c.fused_activation_function)
        ),
        O::DepthwiseConv2DOptions(c) => format!(
            "padding {}, stride {}×{}, depth multiplier {}, activation {}",
            pad(c.padding),
            c.stride_h,
            c.stride_w,
            c.depth_multiplier,
            act(c.fused_activation_function)
        ),
        O::FullyConnectedOptions(c) => {
            format!("activation {}", act(c.fused_activation_function))
        }
        O::Pool2DOptions(p) => format!(
            "filter {}×{}, stride {}×{}, padding {}",
            p.filter_height,
            p.filter_width,
            p.stride_h,
            p.stride_w,
            pad(p.padding)
        ),
        O::SoftmaxOptions(s) => format!("beta {}", s.beta),
        O::ReshapeOptions(_) => String::new(),
        _ => String::new(),
    }
}

/// A `.tflite` file being put together: its buffers (the first empty, as the format asks),
/// tensors, op codes and ops.
struct Writer<'a> {
    model: Model<'a>,
    kind: &'a str,
    labels: Vec<String>,
    buffers: Vec<tfl::Buffer>,
    tensors: Vec<tfl::Tensor>,
    codes: Vec<tfl::OperatorCode>,
    ops: Vec<tfl::Operator>,
    /// The TFLite tensor of each of the model's tensors.
    of_tensor: Vec<i32>,
}

impl<'a> Writer<'a> {
    fn new(model: &'a QuantizedModel) -> Result<Writer<'a>> {
        let m = model.model();
        let mut w = Writer {
            model: m,
            kind: &model.kind,
            labels: model.labels(),
            buffers: vec![tfl::Buffer::default()],
            tensors: Vec::new(),
            codes: Vec::new(),
            ops: Vec::new(),
            of_tensor: Vec::new(),
        };
        for (i, &flat) in flat_tensors(&m)?.iter().enumerate() {
            let name = if i == m.input_index() {
                "input".to_string()
            } else if i == m.output_index() {
                "output".to_string()
            } else {
                format!("activation_{i}")
            };
            let index = w.activation(&m.tensor(i), flat, name);
            w.of_tensor.push(index);
        }
        for i in 0..m.op_count() {
            let op = m.op(i).map_err(|e| Error::model_file(&model.kind, e))?;
            w.op(i, &op)?;
        }
        Ok(w)
    }

    /// Adds an activation tensor (no data): `[1, h, w, c]`, or `[1, n]` where `flat`.
    fn activation(&mut self, t: &Tensor, flat: bool, name: String) -> i32 {
        let shape = if flat {
            vec![1, t.len() as i32]
        } else {
            vec![1, t.h as i32, t.w as i32, t.c as i32]
        };
        self.tensor(tfl::Tensor {
            shape: Some(shape),
            type_: tfl::TensorType::Int8,
            buffer: 0,
            name: Some(name),
            quantization: Some(Box::new(tfl::QuantizationParameters {
                scale: Some(vec![t.scale]),
                zero_point: Some(vec![t.zero_point as i64]),
                ..Default::default()
            })),
            ..Default::default()
        })
    }

    /// Adds a constant tensor holding `data`.
    fn constant(
        &mut self,
        name: String,
        type_: tfl::TensorType,
        shape: Vec<i32>,
        data: Vec<u8>,
        quantization: Option<tfl::QuantizationParameters>,
    ) -> i32 {
        self.buffers.push(tfl::Buffer { data: Some(data) });
        let buffer = (self.buffers.len() - 1) as u32;
        self.tensor(tfl::Tensor {
            shape: Some(shape),
            type_,
            buffer,
            name: Some(name),
            quantization: quantization.map(Box::new),
            ..Default::default()
        })
    }

    fn tensor(&mut self, t: tfl::Tensor) -> i32 {
        self.tensors.push(t);
        (self.tensors.len() - 1) as i32
    }

    /// The op-code index of `op` at `version`, added the first time.
    fn code(&mut self, op: tfl::BuiltinOperator, version: i32) -> u32 {
        let at = self
            .codes
            .iter()
            .position(|c| c.builtin_code == op)
            .unwrap_or_else(|| {
                self.codes.push(tfl::OperatorCode {
                    // Codes below 127 are also written in the field older readers use.
                    deprecated_builtin_code: (op as i32).min(127) as i8,
                    version,
                    builtin_code: op,
                    ..Default::default()
                });
                self.codes.len() - 1
            });
        at as u32
    }

    /// Writes op `i`.
    fn op(&mut self, i: usize, op: &Op) -> Result<()> {
        use tfl::BuiltinOperator as B;
        use tfl::BuiltinOptions as O;
        let (x, y) = (self.model.tensor(op.input), self.model.tensor(op.output));
        let (input, output) = (self.of_tensor[op.input], self.of_tensor[op.output]);
        let name = format!("{}_{i}", op.code.name());
        let refused = |message: String| Error::Tflite {
            what: self.kind.to_string(),
            message,
        };
        let padding = || padding(op, &x, &y).map_err(refused);
        let fused = || fused_activation(op, &y, &name).map_err(refused);
        // The version is the one at which TFLite's builtin op resolver runs int8 tensors.
        let (code, inputs, options) = match op.code {
            OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected => {
                let (weights, bias) = self.layer(op, &x, &y, &name)?;
                let act = fused()?;
                let (code, options) = match op.code {
                    OpCode::Conv2d => (
                        self.code(B::Conv2d, 3),
                        O::Conv2DOptions(Box::new(tfl::Conv2DOptions {
                            padding: padding()?,
                            stride_w: op.stride as i32,
                            stride_h: op.stride as i32,
                            fused_activation_function: act,
                            ..Default::default()
                        })),
                    ),
                    OpCode::DepthwiseConv2d => (
                        self.code(B::DepthwiseConv2d, 3),
                        O::DepthwiseConv2DOptions(Box::new(tfl::DepthwiseConv2DOptions {
                            padding: padding()?,
                            stride_w: op.stride as i32,
                            stride_h: op.stride as i32,
                            depth_multiplier: 1,
                            fused_activation_function: act,
                            ..Default::default()
                        })),
                    ),
                    _ => (
                        self.code(B::FullyConnected, 4),
                        O::FullyConnectedOptions(Box::new(tfl::FullyConnectedOptions {
                            fused_activation_function: act,
                            ..Default::default()
                        })),
                    ),
                };
                (code, vec![input, weights, bias], options)
            }
            OpCode::MaxPool | OpCode::AvgPool => {
                let code = if op.code == OpCode::MaxPool {
                    self.code(B::MaxPool2d, 2)
                } else {
                    self.code(B::AveragePool2d, 2)
                };
                let options = O::Pool2DOptions(Box::new(tfl::Pool2DOptions {
                    padding: padding()?,
                    stride_w: op.stride as i32,
                    stride_h: op.stride as i32,
                    filter_width: op.kw as i32,
                    filter_height: op.kh as i32,
                    fused_activation_function: tfl::ActivationFunctionType::None,
                }));
                (code, vec![input], options)
            }
            OpCode::Relu => {
                let code = match fused()? {
                    tfl::ActivationFunctionType::Relu => self.code(B::Relu, 2),
                    tfl::ActivationFunctionType::Relu6 => self.code(B::Relu6, 2),
                    tfl::ActivationFunctionType::ReluN1To1 => self.code(B::ReluN1To1, 2),
                    _ => {
                        return Err(refused(format!(
                            "{name}: a clamp to [{}, {}] is none of TFLite's ReLUs",
                            op.act_min, op.act_max
                        )))
                    }
                };
                // TFLite's ReLUs take no options.
                let inputs = vec![input];
                self.ops.push(tfl::Operator {
                    opcode_index: code,
                    inputs: Some(inputs),
                    outputs: Some(vec![output]),
                    ..Default::default()
                });
                return Ok(());
            }
            OpCode::Reshape => {
                let shape = self.tensors[output as usize]
                    .shape
                    .clone()
                    .unwrap_or_default();
                let bytes = shape.iter().flat_map(|d| d.to_le_bytes()).collect();
                let new_shape = self.constant(
                    format!("{name}/shape"),
                    tfl::TensorType::Int32,
                    vec![shape.len() as i32],
                    bytes,
                    None,
                );
                let options = O::ReshapeOptions(Box::new(tfl::ReshapeOptions {
                    new_shape: Some(shape),
                }));
                (self.code(B::Reshape, 1), vec![input, new_shape], options)
            }
            OpCode::Softmax => (
                self.code(B::Softmax, 2),
                vec![input],
                O::SoftmaxOptions(Box::new(tfl::SoftmaxOptions { beta: 1.0 })),
            ),
        };
        self.ops.push(tfl::Operator {
            opcode_index: code,
            inputs: Some(inputs),
            outputs: Some(vec![output]),
            builtin_options: Some(options),
            ..Default::default()
        });
        Ok(())
    }

    /// Adds a layer's weights and biases; gives their tensors.
    fn layer(&mut self, op: &Op, x: &Tensor, y: &Tensor, name: &str) -> Result<(i32, i32)> {
        let channels = if op.code == OpCode::FullyConnected {
            y.len()
        } else {
            y.c
        };
        let p = op.layer_params(channels);
        let scales: Vec<f32> = p
            .weight_scale
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let (shape, dimension) = match op.code {
            OpCode::Conv2d => (vec![y.c, op.kh, op.kw, x.c], 0),
            OpCode::DepthwiseConv2d => (vec![1, op.kh, op.kw, y.c], 3),
            _ => (vec![y.len(), x.len()], 0),
        };
        let weights = self.constant(
            format!("{name}/weights"),
            tfl::TensorType::Int8,
            shape.iter().map(|&d| d as i32).collect(),
            p.weights.to_vec(),
            Some(tfl::QuantizationParameters {
                scale: Some(scales.clone()),
                zero_point: Some(vec![0; channels]),
                quantized_dimension: dimension,
                ..Default::default()
            }),
        );
        // The bias scale TFLite checks: input scale × weight scale, per channel.
        let bias_scales = scales
            .iter()
            .map(|&s| (x.scale as f64 * s as f64) as f32)
            .collect();
        let bias = self.constant(
            format!("{name}/bias"),
            tfl::TensorType::Int32,
            vec![channels as i32],
            p.bias.0.to_vec(),
            Some(tfl::QuantizationParameters {
                scale: Some(bias_scales),
                zero_point: Some(vec![0; channels]),
                ..Default::default()
            }),
        );
        Ok((weights, bias))
    }

    fn finish(self) -> Result<Vec<u8>> {
        let Writer {
            model,
            kind,
            labels,
            mut buffers,
            tensors,
            codes,
            ops,
            of_tensor,
        } = self;
        let mut metadata = Vec::new();
        let mut add = |name: &str, data: Vec<u8>| {
            buffers.push(tfl::Buffer { data: Some(data) });
            metadata.push(tfl::Metadata {
                name: Some(name.to_string()),
                buffer: (buffers.len() - 1) as u32,
            });
        };
        add(LABELS_METADATA, labels.join("\n").into_bytes());
        let front_end = model.front_end().map_err(|e| Error::model_file(kind, e))?;
        let mut encoded = vec![0; front_end.encoded_len()];
        front_end
            .encode(&mut encoded)
            .map_err(|e| Error::model_file(kind, e))?;
        add(FRONT_END_METADATA, encoded);
        let description = format!(
            "{kind} int8 model made by tinyml-kit {} ({}): {}",
            env!("CARGO_PKG_VERSION"),
            front_end_name(&front_end),
            labels.join(", ")
        );
        let file = tfl::Model {
            version: tfl::SCHEMA_VERSION,
            operator_codes: Some(codes),
            subgraphs: Some(vec![tfl::SubGraph {
                tensors: Some(tensors),
                inputs: Some(vec![of_tensor[model.input_index()]]),
                outputs: Some(vec![of_tensor[model.output_index()]]),
                operators: Some(ops),
                name: Some("main".to_string()),
            }]),
            description: Some(description),
            buffers: Some(buffers),
            metadata: Some(metadata),
            ..Default::default()
        };
        Ok(tfl::to_bytes(&file))
    }
}

/// Which tensors are vectors (`[1, n]` in TFLite) rather than images (`[1, h, w, c]`): what a
/// dense layer or a reshape writes, and what a softmax or ReLU makes of a vector; the input,
/// when a dense layer reads it directly.
fn flat_tensors(m: &Model) -> Result<Vec<bool>> {
    let mut flat = vec![false; m.tensor_count()];
    for i in 0..m.op_count() {
        let op = m.op(i).map_err(|e| Error::model_file("model", e))?;
        let y = m.tensor(op.output);
        let vector = y.h == 1 && y.w == 1;
        flat[op.output] = match op.code {
            OpCode::FullyConnected | OpCode::Reshape => vector,
            OpCode::Softmax | OpCode::Relu => flat[op.input],
            _ => false,
        };
        if i == 0 && op.input == m.input_index() && op.code == OpCode::FullyConnected {
            let x = m.tensor(op.input);
            flat[op.input] = x.h == 1 && x.w == 1;
        }
    }
    Ok(flat)
}

/// `SAME` or `VALID`: the kit's padding is TFLite's `SAME` rule or none.
fn padding(op: &Op, x: &Tensor, y: &Tensor) -> std::result::Result<tfl::Padding, String> {
    if op.pad == [0; 4] {
        let valid = |size: usize, kernel: usize, out: usize| (size - kernel) / op.stride + 1 == out;
        if valid(x.h, op.kh, y.h) && valid(x.w, op.kw, y.w) {
            return Ok(tfl::Padding::Valid);
        }
    }
    // TFLite's SAME: ceil(size / stride) outputs, the padding split with the extra row or
    // column after.
    let same = |size: usize, kernel: usize, out: usize, before: usize, after: usize| {
        let total = ((out - 1) * op.stride + kernel).saturating_sub(size);
        out == size.div_ceil(op.stride) && before == total / 2 && after == total - total / 2
    };
    if same(x.h, op.kh, y.h, op.pad[0], op.pad[2]) && same(x.w, op.kw, y.w, op.pad[1], op.pad[3]) {
        return Ok(tfl::Padding::Same);
    }
    Err(format!(
        "{}: padding {:?} (above, left, below, right) is neither TFLite's SAME nor VALID",
        op.code.name(),
        op.pad
    ))
}

/// The fused activation whose clamp (TFLite's `CalculateActivationRangeQuantized`) is the op's
/// `[act_min, act_max]` on output `y`.
fn fused_activation(
    op: &Op,
    y: &Tensor,
    name: &str,
) -> std::result::Result<tfl::ActivationFunctionType, String> {
    use tfl::ActivationFunctionType as A;
    let q = |real: f32| (y.zero_point + (real / y.scale).round() as i32).clamp(-128, 127);
    let range = (op.act_min as i32, op.act_max as i32);
    // A ReLU before no activation: when the zero point is −128 the two clamps are the same,
    // and a layer followed by a ReLU is what the kit's quantizer gives that zero point.
    [
        (A::Relu, (q(0.0), 127)),
        (A::None, (-128, 127)),
        (A::Relu6, (q(0.0), q(6.0))),
        (A::ReluN1To1, (q(-1.0), q(1.0))),
    ]
    .into_iter()
    .find(|&(_, r)| r == range)
    .map(|(a, _)| a)
    .ok_or_else(|| {
        format!(
            "{name}: its output clamp [{}, {}] is none of TFLite's fused activations \
             (none, ReLU, ReLU6, ReLU−1…1)",
            op.act_min, op.act_max
        )
    })
}

fn front_end_name(front_end: &FrontEnd) -> &'static str {
    match front_end {
        FrontEnd::None => "int8 input",
        FrontEnd::Image => "pixels / 255",
        FrontEnd::Mfcc { .. } => "MFCC of a clip",
        FrontEnd::Motion { .. } => "accelerometer window features",
    }
}
