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
//! give the board the same features: `tinyml.labels` (the labels, a JSON list) and
//! `tinyml.front_end` (the front end, encoded as in a `.tkm` file, `FORMAT.md`).

use std::path::Path;

use tfl::planus::ReadAsRoot;
use tflite_schema as tfl;
use tinyml_core::model::{quantize_real, FrontEnd, Model, Op, OpCode, Tensor};

use crate::error::{Error, Result};
use crate::front_end::InputKind;
use crate::nn::same_padding;
use crate::plot::Table;
use crate::quantize::{int8_layer_params, lay_out, softmax_table, ChainOp, QuantizedModel};

/// The metadata entry that holds the labels, a JSON list of strings.
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
#[derive(Debug, Clone)]
pub struct TfliteModel {
    bytes: Vec<u8>,
    model: tfl::Model,
    /// The file (or the model it was exported from), for errors.
    what: String,
}

/// Two models are the same when their files are.
impl PartialEq for TfliteModel {
    fn eq(&self, other: &TfliteModel) -> bool {
        self.bytes == other.bytes
    }
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
                use tfl::planus::errors::ErrorKind;
                refused(match e.error_kind {
                    ErrorKind::UnknownEnumTag { .. } | ErrorKind::UnknownUnionTag { .. } => {
                        format!(
                            "the file uses an op, option or type newer than the TensorFlow Lite \
                             schema the kit reads ({e}); convert the model with the ops the kit \
                             runs (tinyml import --help)"
                        )
                    }
                    _ => format!(
                        "the file is damaged or truncated ({e}); export or download it again"
                    ),
                })
            })?;
        let graphs = model.subgraphs.as_ref().map_or(0, Vec::len);
        if graphs == 0 {
            return Err(refused("the file has no graph".into()));
        }
        Ok(TfliteModel {
            bytes,
            model,
            what: what.to_string(),
        })
    }

    /// Reads a `.tflite` file.
    pub fn load(path: impl AsRef<Path>) -> Result<TfliteModel> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        TfliteModel::from_bytes(bytes, &path.display().to_string())
    }

    /// Writes the `.tflite` file (for Netron, LiteRT, TensorFlow Lite Micro).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::quantize::write_model_file(path.as_ref(), &self.bytes)
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

    /// The bytes of the metadata entry `name`, if the file has it.
    pub fn metadata(&self, name: &str) -> Option<&[u8]> {
        let entry = self
            .model
            .metadata
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|e| e.name.as_deref() == Some(name))?;
        let buffers = self.model.buffers.as_deref().unwrap_or_default();
        buffers.get(entry.buffer as usize)?.data.as_deref()
    }

    /// The labels the kit stored in the file (`tinyml.labels`), if it holds them.
    pub fn labels(&self) -> Option<Vec<String>> {
        serde_json::from_slice(self.metadata(LABELS_METADATA)?).ok()
    }

    /// The front end the kit stored in the file (`tinyml.front_end`), if it holds one.
    fn front_end(&self) -> Result<Option<FrontEnd<'_>>> {
        self.metadata(FRONT_END_METADATA)
            .map(FrontEnd::decode)
            .transpose()
            .map_err(|e| Error::model_file(&self.what, e))
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

    /// The model as the kit's int8 model (`.tkm`), for the board, the simulator, `eval` and
    /// `predict`. The file must be a chain of the ops [`to_tflite`] writes, int8 throughout;
    /// anything else is refused with the op or tensor named. The labels and the front end come
    /// from `options`, or else from the kit's metadata in the file.
    pub fn to_quantized(&self, options: &ImportOptions) -> Result<QuantizedModel> {
        Importer::new(self, options).import()
    }

    /// The file as a C/C++ header for TensorFlow Lite Micro (an Arduino sketch, ESP-IDF,
    /// Zephyr): the `.tflite` bytes as `NAME[]`, 16-byte aligned, with `NAME_len`, the ops to
    /// register, the input's and output's quantization, the labels and the front end's
    /// settings as constants (`NAME` in capitals for the macros). `name` must be a C
    /// identifier.
    pub fn to_c(&self, name: &str) -> Result<String> {
        c_header(self, name)
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

/// `int8[1,49,13,1]`: a tensor's type and shape, as Netron writes them.
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
        // TFLite's names are the variants' in capitals, words apart: STRIDED_SLICE.
        other => {
            let mut name = String::new();
            let mut previous_lower = false;
            for c in format!("{other:?}").chars() {
                if c.is_ascii_uppercase() && previous_lower {
                    name.push('_');
                }
                previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
                name.push(c.to_ascii_uppercase());
            }
            name
        }
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
                let (weights, bias) = self.layer(op, &x, &y, &name);
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
            OpCode::Softmax if x.h * x.w != 1 => {
                return Err(refused(format!(
                    "{name} runs on a {}×{}×{} tensor: TFLite's softmax would take each of its \
                     {} positions apart; flatten before it",
                    x.h,
                    x.w,
                    x.c,
                    x.h * x.w
                )))
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
    fn layer(&mut self, op: &Op, x: &Tensor, y: &Tensor, name: &str) -> (i32, i32) {
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
        (weights, bias)
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
        add(
            LABELS_METADATA,
            serde_json::to_vec(&labels).expect("strings serialize"),
        );
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
        out == size.div_ceil(op.stride) && same_padding(size, kernel, op.stride) == (before, after)
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
    let q = |real: f32| y.quantize(real) as i32;
    let range = (op.act_min as i32, op.act_max as i32);
    // A ReLU before no activation: when the zero point is −128 the two clamps are the same,
    // and a layer followed by a ReLU is what the kit's quantizer gives that zero point. A ReLU
    // op is one of the ReLUs, even when its clamp lets every value through.
    [
        (A::Relu, (q(0.0), 127)),
        (A::None, (-128, 127)),
        (A::Relu6, (q(0.0), q(6.0))),
        (A::ReluN1To1, (q(-1.0), q(1.0))),
    ]
    .into_iter()
    .filter(|&(a, _)| op.code != OpCode::Relu || a != A::None)
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

/// What [`TfliteModel::to_quantized`] needs besides the file: the labels and the features the
/// network reads, when the file does not carry the kit's metadata (a model trained and
/// converted elsewhere) or they should change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Class names in output order (default: the file's `tinyml.labels`).
    pub labels: Option<Vec<String>>,
    /// What turns sensor data into the network's input (default: the file's
    /// `tinyml.front_end`).
    pub front_end: Option<InputKind>,
    /// What the model is for, as `QuantizedModel::kind` (default: from the front end).
    pub kind: Option<String>,
}

/// A `.tflite` graph read op by op into the kit's chain of int8 ops.
struct Importer<'a> {
    file: &'a TfliteModel,
    options: &'a ImportOptions,
    what: String,
    tensors: &'a [tfl::Tensor],
    buffers: &'a [tfl::Buffer],
}

/// A tensor's quantization as the kit stores it: scale, zero point.
type Quantization = (f32, i32);

impl<'a> Importer<'a> {
    fn new(file: &'a TfliteModel, options: &'a ImportOptions) -> Importer<'a> {
        let m = &file.model;
        // A TfliteModel has a graph: from_bytes checked.
        let graph = &m.subgraphs.as_deref().unwrap_or_default()[0];
        Importer {
            file,
            options,
            what: file.what.clone(),
            tensors: graph.tensors.as_deref().unwrap_or_default(),
            buffers: m.buffers.as_deref().unwrap_or_default(),
        }
    }

    fn refused(&self, message: impl Into<String>) -> Error {
        Error::Tflite {
            what: self.what.clone(),
            message: message.into(),
        }
    }

    fn tensor(&self, index: i32) -> Result<&'a tfl::Tensor> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.tensors.get(i))
            .ok_or_else(|| {
                self.refused(format!("an op names tensor {index}, which does not exist"))
            })
    }

    fn name(t: &tfl::Tensor) -> String {
        t.name.clone().unwrap_or_else(|| "a tensor".into())
    }

    fn shape(t: &tfl::Tensor) -> Vec<i32> {
        t.shape.clone().unwrap_or_default()
    }

    /// An activation's `(h, w, c)`: `[1, h, w, c]`, or `[1, n]` as `1 × 1 × n`.
    fn hwc(&self, t: &tfl::Tensor) -> Result<(usize, usize, usize)> {
        let dims: Vec<usize> = Self::shape(t)
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        // The model format's limit: each dimension up to 65535.
        let fits = |d: &usize| (1..=u16::MAX as usize).contains(d);
        match dims.as_slice() {
            [1, h, w, c] if [h, w, c].into_iter().all(fits) => Ok((*h, *w, *c)),
            [1, n] if fits(n) => Ok((1, 1, *n)),
            _ => Err(self.refused(format!(
                "{} has shape {:?}; the kit runs one input at a time, as [1, h, w, c] or [1, n] \
                 (each dimension 1 to 65535)",
                Self::name(t),
                Self::shape(t)
            ))),
        }
    }

    /// An int8 activation's one scale and zero point.
    fn activation(&self, t: &tfl::Tensor) -> Result<Quantization> {
        if t.type_ != tfl::TensorType::Int8 {
            return Err(self.refused(format!(
                "{} is {:?}; the kit runs int8 models (convert with full integer quantization, \
                 int8 input and output)",
                Self::name(t),
                t.type_
            )));
        }
        let q = t.quantization.as_deref();
        let scales = q.and_then(|q| q.scale.as_deref()).unwrap_or_default();
        let zeros = q.and_then(|q| q.zero_point.as_deref()).unwrap_or_default();
        match (scales, zeros) {
            ([scale], [zero])
                if scale.is_finite() && *scale > 0.0 && (-128..=127).contains(zero) =>
            {
                Ok((*scale, *zero as i32))
            }
            _ => Err(self.refused(format!(
                "{} has no single scale and zero point; the kit quantizes activations per tensor",
                Self::name(t)
            ))),
        }
    }

    /// A constant tensor's bytes.
    fn data(&self, t: &tfl::Tensor) -> Result<&'a [u8]> {
        self.buffers
            .get(t.buffer as usize)
            .and_then(|b| b.data.as_deref())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| self.refused(format!("{} has no values in the file", Self::name(t))))
    }

    /// A weighted op's constants: int8 weights (`expected` as TFLite lays them out, which is the
    /// kit's; the output channels along `axis`), `i32` biases and a weight scale per output
    /// channel.
    fn layer(
        &self,
        name: &str,
        op: &tfl::Operator,
        expected: &[usize],
        channels: usize,
        axis: i32,
        in_scale: f32,
    ) -> Result<(Vec<i8>, Vec<i32>, Vec<f32>)> {
        let inputs = op.inputs.as_deref().unwrap_or_default();
        let w = match inputs.get(1) {
            Some(&w) => self.tensor(w)?,
            None => return Err(self.refused(format!("{name} has no weights"))),
        };
        let shape: Vec<usize> = Self::shape(w)
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        if w.type_ != tfl::TensorType::Int8 || shape != expected {
            return Err(self.refused(format!(
                "{} is {:?}{:?}; the kit needs int8 weights shaped {expected:?}",
                Self::name(w),
                w.type_,
                Self::shape(w)
            )));
        }
        let weights: Vec<i8> = self.data(w)?.iter().map(|&b| b as i8).collect();
        let count = expected.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if count != Some(weights.len()) {
            return Err(self.refused(format!("{} has the wrong number of values", Self::name(w))));
        }
        let q = w.quantization.as_deref();
        let mut scales = q.and_then(|q| q.scale.clone()).unwrap_or_default();
        let zeros = q.and_then(|q| q.zero_point.clone()).unwrap_or_default();
        // Scales along `axis`, the output channels' (TFLite's `quantized_dimension`).
        if scales.len() > 1 && q.map_or(0, |q| q.quantized_dimension) != axis {
            return Err(self.refused(format!(
                "{} has a scale per entry of dimension {}; the kit's are per output channel \
                 (dimension {axis})",
                Self::name(w),
                q.map_or(0, |q| q.quantized_dimension)
            )));
        }
        if scales.len() == 1 {
            // One scale for the whole tensor: the same for every channel.
            scales = vec![scales[0]; channels];
        }
        if scales.len() != channels
            || scales.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || zeros.iter().any(|&z| z != 0)
        {
            return Err(self.refused(format!(
                "{} is not quantized symmetrically with a scale per output channel or one scale",
                Self::name(w)
            )));
        }
        let biases = match inputs.get(2).copied().filter(|&b| b >= 0) {
            None => vec![0; channels],
            Some(b) => {
                let b = self.tensor(b)?;
                let data = self.data(b)?;
                if b.type_ != tfl::TensorType::Int32 || data.len() != 4 * channels {
                    return Err(
                        self.refused(format!("{} is not {channels} int32 biases", Self::name(b)))
                    );
                }
                // TFLite's check: each bias is on the scale input × weight.
                let bias_scales = b.quantization.as_deref().and_then(|q| q.scale.clone());
                let off = bias_scales
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .any(|(ch, &s)| {
                        let product = in_scale as f64 * scales[ch.min(channels - 1)] as f64;
                        (s as f64 - product).abs() > 1e-5 * product
                    });
                if off {
                    return Err(self.refused(format!(
                        "{}'s scale is not the input's scale times the weights'",
                        Self::name(b)
                    )));
                }
                data.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }
        };
        Ok((weights, biases, scales))
    }

    /// A window op's kernel `(rows, columns)`: 1 to 255 each (the model format's limit).
    fn kernel(&self, name: &str, h: i32, w: i32) -> Result<(usize, usize)> {
        let ok = |k: i32| (1..=255).contains(&k);
        if ok(h) && ok(w) {
            Ok((h as usize, w as usize))
        } else {
            Err(self.refused(format!(
                "{name} has a {h}×{w} kernel; the kit's kernels are 1 to 255 on each side"
            )))
        }
    }

    /// The kernel of a convolution: rows and columns of its weights `[_, kh, kw, _]`.
    fn conv_kernel(&self, name: &str, op: &tfl::Operator) -> Result<(usize, usize)> {
        let inputs = op.inputs.as_deref().unwrap_or_default();
        let w = self.tensor(inputs.get(1).copied().unwrap_or(-1))?;
        match Self::shape(w).as_slice() {
            [_, kh, kw, _] => self.kernel(name, *kh, *kw),
            other => Err(self.refused(format!(
                "{name}'s weights have shape {other:?}; a convolution's have four dimensions"
            ))),
        }
    }

    /// Padding `[above, left, below, right]` of a window op, as TFLite computes it.
    fn pads(
        padding: tfl::Padding,
        (h, w): (usize, usize),
        (kh, kw): (usize, usize),
        stride: usize,
    ) -> [usize; 4] {
        if padding == tfl::Padding::Valid {
            return [0; 4];
        }
        let ((above, below), (left, right)) =
            (same_padding(h, kh, stride), same_padding(w, kw, stride));
        [above, left, below, right]
    }

    fn import(&self) -> Result<QuantizedModel> {
        let m = &self.file.model;
        let graph = &m.subgraphs.as_deref().unwrap_or_default()[0];
        let codes = m.operator_codes.as_deref().unwrap_or_default();
        let (inputs, outputs) = (
            graph.inputs.as_deref().unwrap_or_default(),
            graph.outputs.as_deref().unwrap_or_default(),
        );
        let ([input], [output]) = (inputs, outputs) else {
            return Err(self.refused(format!(
                "the graph has {} inputs and {} outputs; the kit's models have one of each",
                inputs.len(),
                outputs.len()
            )));
        };
        let mut current = *input;
        let x = self.tensor(current)?;
        let mut shapes = vec![self.hwc(x)?];
        let mut qparams = vec![self.activation(x)?];
        let ops = graph.operators.as_deref().unwrap_or_default();
        let builtins = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let code = codes
                    .get(op.opcode_index as usize)
                    .ok_or_else(|| self.refused(format!("op {} has no op code", i + 1)))?;
                // Files from before the 32-bit field keep small codes in the old 8-bit one.
                Ok(if code.builtin_code == tfl::BuiltinOperator::Add {
                    tfl::BuiltinOperator::try_from(code.deprecated_builtin_code as i32)
                        .unwrap_or(tfl::BuiltinOperator::Add)
                } else {
                    code.builtin_code
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let shape_only = self.shape_only(ops, &builtins, outputs);
        let mut chain = Vec::new();
        for (i, (op, &builtin)) in ops.iter().zip(&builtins).enumerate() {
            if shape_only[i] {
                continue;
            }
            let op_inputs = op.inputs.as_deref().unwrap_or_default();
            let op_outputs = op.outputs.as_deref().unwrap_or_default();
            let name = format!("op {} ({})", i + 1, op_name(builtin));
            if op_inputs.first() != Some(&current) || op_outputs.len() != 1 {
                return Err(self.refused(format!(
                    "{name} does not read the previous op's output; the kit runs a chain of \
                     ops, one after another"
                )));
            }
            let y = self.tensor(op_outputs[0])?;
            let (xq, yq) = (*qparams.last().expect("input first"), self.activation(y)?);
            let (xs, ys) = (*shapes.last().expect("input first"), self.hwc(y)?);
            let chain_op = self.op(&name, builtin, op, (xs, xq), (ys, yq))?;
            chain.push(chain_op);
            shapes.push(ys);
            qparams.push(yq);
            current = op_outputs[0];
        }
        if current != *output || chain.is_empty() {
            return Err(self.refused(
                "the graph's output is not its last op's output; the kit runs a chain of ops",
            ));
        }
        let labels = self.labels(shapes.last().map_or(0, |&(h, w, c)| h * w * c))?;
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let statistics;
        let front_end = match &self.options.front_end {
            Some(kind) => {
                statistics = kind.statistics();
                kind.to_core(&statistics)?
            }
            None => self.file.front_end()?.ok_or_else(|| {
                self.refused(
                    "the file does not say what the network reads: give the front end \
                     (image, mfcc or none)",
                )
            })?,
        };
        let kind = self
            .options
            .kind
            .clone()
            .unwrap_or_else(|| crate::quantize::kind_of(&front_end).to_string());
        // What the core's writer and loader refuse (a front end whose features are not the
        // network's input, constants out of range) is said about this file.
        let core = |e: Error| self.refused(format!("the kit cannot run it as it is: {e}"));
        let bytes = lay_out(&shapes, &qparams, &chain, &labels, front_end).map_err(core)?;
        QuantizedModel::from_bytes(bytes, &kind).map_err(core)
    }

    /// The kit op for TFLite op `builtin`, from `(h, w, c)` and quantization `x` to `y`.
    fn op(
        &self,
        name: &str,
        builtin: tfl::BuiltinOperator,
        op: &tfl::Operator,
        (xs, xq): ((usize, usize, usize), Quantization),
        (ys, yq): ((usize, usize, usize), Quantization),
    ) -> Result<ChainOp> {
        use tfl::BuiltinOperator as B;
        use tfl::BuiltinOptions as O;
        let options = op.builtin_options.as_ref();
        let same_quantization = || {
            if xq == yq {
                Ok(())
            } else {
                Err(self.refused(format!(
                    "{name} changes the quantization ({xq:?} to {yq:?}); the kit's {} keeps it",
                    op_name(builtin)
                )))
            }
        };
        let stride = |w: i32, h: i32| {
            if w == h && (1..=255).contains(&w) {
                Ok(w as usize)
            } else {
                Err(self.refused(format!(
                    "{name} has strides {h}×{w}; the kit's ops take one stride for both axes"
                )))
            }
        };
        let fused = |a: tfl::ActivationFunctionType| {
            use tfl::ActivationFunctionType as A;
            let q = |real: f32| quantize_real(real, yq.0, yq.1);
            match a {
                A::None => Ok((-128, 127)),
                A::Relu => Ok((q(0.0), 127)),
                A::Relu6 => Ok((q(0.0), q(6.0))),
                A::ReluN1To1 => Ok((q(-1.0), q(1.0))),
                other => Err(self.refused(format!(
                    "{name} has the fused activation {other:?}; the kit runs none, RELU, RELU6 \
                     and RELU_N1_TO_1"
                ))),
            }
        };
        let unsupported = || {
            self.refused(format!(
                "{name}: the kit runs CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D, \
                 AVERAGE_POOL_2D, RELU, RELU6, RELU_N1_TO_1, RESHAPE and SOFTMAX"
            ))
        };
        let chain = |code, kernel, stride, pad, activation, params| ChainOp {
            code,
            kernel,
            stride,
            pad,
            activation,
            params,
        };
        Ok(match (builtin, options) {
            (B::Conv2d, Some(O::Conv2DOptions(c))) => {
                if c.dilation_w_factor != 1 || c.dilation_h_factor != 1 {
                    return Err(self.refused(format!("{name} is dilated; the kit's is not")));
                }
                let (kh, kw) = self.conv_kernel(name, op)?;
                let (weights, biases, scales) =
                    self.layer(name, op, &[ys.2, kh, kw, xs.2], ys.2, 0, xq.0)?;
                let s = stride(c.stride_w, c.stride_h)?;
                chain(
                    OpCode::Conv2d,
                    (kh, kw),
                    s,
                    Self::pads(c.padding, (xs.0, xs.1), (kh, kw), s),
                    fused(c.fused_activation_function)?,
                    int8_layer_params(OpCode::Conv2d, &weights, &biases, &scales, xq, yq)?,
                )
            }
            (B::DepthwiseConv2d, Some(O::DepthwiseConv2DOptions(c))) => {
                if c.dilation_w_factor != 1 || c.dilation_h_factor != 1 || ys.2 != xs.2 {
                    return Err(self.refused(format!(
                        "{name} is dilated or has a depth multiplier; the kit's has neither"
                    )));
                }
                let (kh, kw) = self.conv_kernel(name, op)?;
                let (weights, biases, scales) =
                    self.layer(name, op, &[1, kh, kw, ys.2], ys.2, 3, xq.0)?;
                let s = stride(c.stride_w, c.stride_h)?;
                chain(
                    OpCode::DepthwiseConv2d,
                    (kh, kw),
                    s,
                    Self::pads(c.padding, (xs.0, xs.1), (kh, kw), s),
                    fused(c.fused_activation_function)?,
                    int8_layer_params(OpCode::DepthwiseConv2d, &weights, &biases, &scales, xq, yq)?,
                )
            }
            (B::FullyConnected, Some(O::FullyConnectedOptions(c))) => {
                if c.weights_format != tfl::FullyConnectedOptionsWeightsFormat::Default {
                    return Err(self.refused(format!("{name} has shuffled weights")));
                }
                let (n_in, n_out) = (xs.0 * xs.1 * xs.2, ys.0 * ys.1 * ys.2);
                let (weights, biases, scales) =
                    self.layer(name, op, &[n_out, n_in], n_out, 0, xq.0)?;
                chain(
                    OpCode::FullyConnected,
                    (0, 0),
                    0,
                    [0; 4],
                    fused(c.fused_activation_function)?,
                    int8_layer_params(OpCode::FullyConnected, &weights, &biases, &scales, xq, yq)?,
                )
            }
            (B::MaxPool2d | B::AveragePool2d, Some(O::Pool2DOptions(p))) => {
                same_quantization()?;
                let kernel = self.kernel(name, p.filter_height, p.filter_width)?;
                let s = stride(p.stride_w, p.stride_h)?;
                let pad = Self::pads(p.padding, (xs.0, xs.1), kernel, s);
                if pad != [0; 4] || p.fused_activation_function != tfl::ActivationFunctionType::None
                {
                    return Err(self.refused(format!(
                        "{name} pads its input or has an activation; the kit's pooling has neither"
                    )));
                }
                let code = if builtin == B::MaxPool2d {
                    OpCode::MaxPool
                } else {
                    OpCode::AvgPool
                };
                chain(code, kernel, s, pad, (0, 0), Vec::new())
            }
            (B::Relu | B::Relu6 | B::ReluN1To1, _) => {
                same_quantization()?;
                let a = match builtin {
                    B::Relu => tfl::ActivationFunctionType::Relu,
                    B::Relu6 => tfl::ActivationFunctionType::Relu6,
                    _ => tfl::ActivationFunctionType::ReluN1To1,
                };
                chain(OpCode::Relu, (0, 0), 0, [0; 4], fused(a)?, Vec::new())
            }
            (B::Reshape, _) => {
                same_quantization()?;
                chain(OpCode::Reshape, (0, 0), 0, [0; 4], (0, 0), Vec::new())
            }
            (B::Softmax, Some(O::SoftmaxOptions(s))) => {
                if s.beta != 1.0 {
                    return Err(self.refused(format!("{name} has beta {}; the kit's is 1", s.beta)));
                }
                // TFLite's softmax runs along the last axis, the kit's over the whole tensor:
                // the same only on a vector.
                if xs.0 * xs.1 != 1 {
                    return Err(self.refused(format!(
                        "{name} runs on a {}×{}×{} tensor; the kit's softmax takes a vector \
                         (flatten before it)",
                        xs.0, xs.1, xs.2
                    )));
                }
                if yq != (1.0 / 256.0, -128) {
                    return Err(self.refused(format!(
                        "{name}'s output is quantized as {yq:?}; TFLite's int8 softmax (and the \
                         kit's) gives scale 1/256 and zero point -128"
                    )));
                }
                chain(
                    OpCode::Softmax,
                    (0, 0),
                    0,
                    [0; 4],
                    (0, 0),
                    softmax_table(xq.0)?,
                )
            }
            (B::Quantize | B::Dequantize, _) => {
                return Err(self.refused(format!(
                    "{name} converts between float and int8: the model takes or gives floats. \
                     Convert it with int8 input and output (TensorFlow's converter: \
                     inference_input_type and inference_output_type tf.int8)"
                )))
            }
            (
                B::Conv2d
                | B::DepthwiseConv2d
                | B::FullyConnected
                | B::MaxPool2d
                | B::AveragePool2d
                | B::Softmax,
                _,
            ) => {
                return Err(self.refused(format!(
                    "{name} has no options (padding, strides, activation); the file is damaged"
                )))
            }
            _ => return Err(unsupported()),
        })
    }

    /// The ops that only compute the new shape of a `RESHAPE` (its second input), which the
    /// kit skips: it takes the shape from the reshape's output tensor. Keras' `Flatten` with a
    /// batch of any size converts to `SHAPE`, `STRIDED_SLICE` and `PACK` before its `RESHAPE`.
    /// An op is one when it writes only int32 tensors, and every reader of them is another
    /// such op or a reshape's shape.
    fn shape_only(
        &self,
        ops: &[tfl::Operator],
        builtins: &[tfl::BuiltinOperator],
        graph_outputs: &[i32],
    ) -> Vec<bool> {
        let mut skip = vec![false; ops.len()];
        for i in (0..ops.len()).rev() {
            let outputs = ops[i].outputs.as_deref().unwrap_or_default();
            let int32 = !outputs.is_empty()
                && outputs.iter().all(|&t| {
                    self.tensor(t)
                        .is_ok_and(|t| t.type_ == tfl::TensorType::Int32)
                        && !graph_outputs.contains(&t)
                });
            let read_as_shape = |t: i32| {
                ops.iter().enumerate().all(|(j, op)| {
                    op.inputs
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                        .all(|(at, &input)| {
                            input != t
                                || (j > i && skip[j])
                                || (builtins[j] == tfl::BuiltinOperator::Reshape && at == 1)
                        })
                })
            };
            skip[i] = int32 && outputs.iter().all(|&t| read_as_shape(t));
        }
        skip
    }

    /// The labels: the options', else the file's, one per output.
    fn labels(&self, outputs: usize) -> Result<Vec<String>> {
        let labels = match &self.options.labels {
            Some(labels) => labels.clone(),
            None => self.file.labels().ok_or_else(|| {
                self.refused(format!(
                    "the file has no labels: give its {outputs} class names, in output order"
                ))
            })?,
        };
        if labels.len() != outputs {
            return Err(self.refused(format!(
                "{} labels for {outputs} outputs: give one name per output, in order",
                labels.len()
            )));
        }
        Ok(labels)
    }
}

/// Whether `name` can name a C array (and, in capitals, its macros).
pub fn is_c_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` for a `//` comment: control characters (a newline would end it) become spaces.
fn c_comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `text` as a C string literal: printable ASCII as it is, every other byte of its UTF-8 as an
/// octal escape (valid in C and C++ alike; `ó` is `"\303\263"`).
fn c_string(text: &str) -> String {
    let mut out = String::from("\"");
    for b in text.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// [`TfliteModel::to_c`].
fn c_header(file: &TfliteModel, name: &str) -> Result<String> {
    use std::fmt::Write;
    if !is_c_identifier(name) {
        return Err(Error::param(
            "name",
            format!("'{name}' is not a C identifier (letters, digits, _)"),
        ));
    }
    let upper = name.to_ascii_uppercase();
    let m = &file.model;
    let graph = &m.subgraphs.as_deref().unwrap_or_default()[0];
    let tensors = graph.tensors.as_deref().unwrap_or_default();
    let io = |ids: &Option<Vec<i32>>| {
        ids.as_deref()
            .unwrap_or_default()
            .first()
            .and_then(|&i| tensors.get(i as usize))
    };
    let (Some(input), Some(output)) = (io(&graph.inputs), io(&graph.outputs)) else {
        return Err(Error::Tflite {
            what: name.into(),
            message: "the graph has no input or output".into(),
        });
    };
    let quantization = |t: &tfl::Tensor| {
        let q = t.quantization.as_deref();
        (
            q.and_then(|q| q.scale.as_deref()?.first().copied())
                .unwrap_or(0.0),
            q.and_then(|q| q.zero_point.as_deref()?.first().copied())
                .unwrap_or(0),
        )
    };
    let ops: Vec<String> = m
        .operator_codes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| op_name(c.builtin_code))
        .collect();
    let labels = file.labels().unwrap_or_default();
    let front_end = file.front_end()?.unwrap_or(FrontEnd::None);
    let bytes = file.bytes();
    let (in_scale, in_zero) = quantization(input);
    let (out_scale, out_zero) = quantization(output);
    let mut h = String::new();
    let _ = writeln!(
        h,
        "// {}\n\
         // Its TensorFlow Lite file ({} bytes) for TensorFlow Lite Micro, written by tinyml-kit {}.\n\
         // Register its ops with tflite::MicroMutableOpResolver<{}>: {}.\n\
         // Input {}, output {}.\n\
         #ifndef {upper}_H_\n\
         #define {upper}_H_\n\n\
         #include <stdint.h>\n\n\
         // What a file includes and does not use is no warning.\n\
         #if defined(__GNUC__)\n\
         #define {upper}_UNUSED __attribute__((unused))\n\
         #else\n\
         #define {upper}_UNUSED\n\
         #endif\n",
        c_comment(m.description.as_deref().unwrap_or("")),
        bytes.len(),
        env!("CARGO_PKG_VERSION"),
        ops.len(),
        ops.join(", "),
        describe_tensor(input),
        describe_tensor(output),
    );
    let _ = writeln!(
        h,
        "// real = scale * (q - zero_point)\n\
         #define {upper}_INPUT_SCALE {in_scale:e}f\n\
         #define {upper}_INPUT_ZERO_POINT {in_zero}\n\
         #define {upper}_OUTPUT_SCALE {out_scale:e}f\n\
         #define {upper}_OUTPUT_ZERO_POINT {out_zero}\n"
    );
    if !labels.is_empty() {
        let quoted: Vec<String> = labels.iter().map(|l| c_string(l)).collect();
        let _ = writeln!(
            h,
            "// The classes, in output order.\n\
             #define {upper}_LABEL_COUNT {}\n\
             static const char *const {name}_labels[{upper}_LABEL_COUNT] {upper}_UNUSED = {{{}}};\n",
            labels.len(),
            quoted.join(", ")
        );
    }
    let floats = |b: &[u8]| {
        b.chunks_exact(4)
            .map(|c| format!("{:e}f", f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match front_end {
        FrontEnd::None => {}
        FrontEnd::Image => {
            let _ = writeln!(
                h,
                "// Front end: each pixel p (0-255) becomes p / 255, then the input's int8 value.\n"
            );
        }
        FrontEnd::Mfcc {
            config: c,
            clip_mean,
            frames,
            coefficients,
            mean,
            std,
        } => {
            let _ = writeln!(
                h,
                "// Front end: the kit's MFCC (firmware/core/src/mfcc.rs; librosa's call is in its\n\
                 // FeatureConfig), {}each coefficient's (x - mean) / std, then the input's int8 value.\n\
                 #define {upper}_SAMPLE_RATE_HZ {}\n\
                 #define {upper}_CLIP_MS {}\n\
                 #define {upper}_WINDOW_MS {}\n\
                 #define {upper}_STRIDE_MS {}\n\
                 #define {upper}_FFT_LEN {}\n\
                 #define {upper}_MEL_BINS {}\n\
                 #define {upper}_MFCC {}\n\
                 #define {upper}_FMIN_HZ {:e}f\n\
                 #define {upper}_FMAX_HZ {:e}f\n\
                 #define {upper}_MEL_SCALE_SLANEY {}\n\
                 #define {upper}_SLANEY_NORM {}\n\
                 #define {upper}_PREEMPHASIS {:e}f\n\
                 #define {upper}_FRAMES {frames}\n\
                 #define {upper}_COEFFICIENTS {coefficients}\n\
                 static const float {name}_feature_mean[{coefficients}] {upper}_UNUSED = {{{}}};\n\
                 static const float {name}_feature_std[{coefficients}] {upper}_UNUSED = {{{}}};\n",
                if clip_mean {
                    "each coefficient less its mean over the clip, then "
                } else {
                    ""
                },
                c.sample_rate_hz,
                c.clip_ms,
                c.window_ms,
                c.stride_ms,
                c.fft_samples(),
                c.num_mel_bins,
                c.num_mfcc,
                c.fmin_hz,
                c.fmax_hz,
                u8::from(c.mel_scale == tinyml_core::mfcc::MelScale::Slaney),
                u8::from(c.slaney_norm),
                c.preemphasis,
                floats(mean),
                floats(std),
            );
        }
        FrontEnd::Motion {
            sample_rate_hz,
            window,
            hop,
            mean,
            std,
        } => {
            let n = mean.len() / 4;
            let _ = writeln!(
                h,
                "// Front end: the kit's {n} features of an accelerometer window\n\
                 // (firmware/core/src/imu.rs), each (x - mean) / std, then the input's int8 value.\n\
                 #define {upper}_SAMPLE_RATE_HZ {sample_rate_hz}\n\
                 #define {upper}_WINDOW {window}\n\
                 #define {upper}_HOP {hop}\n\
                 static const float {name}_feature_mean[{n}] {upper}_UNUSED = {{{}}};\n\
                 static const float {name}_feature_std[{n}] {upper}_UNUSED = {{{}}};\n",
                floats(mean),
                floats(std),
            );
        }
    }
    let _ = writeln!(
        h,
        "#ifdef __cplusplus\n\
         #define {upper}_ALIGNED alignas(16)\n\
         #else\n\
         #define {upper}_ALIGNED _Alignas(16)\n\
         #endif\n\n\
         static const unsigned int {name}_len {upper}_UNUSED = {};\n\
         {upper}_ALIGNED static const unsigned char {name}[{}] {upper}_UNUSED = {{",
        bytes.len(),
        bytes.len()
    );
    for row in bytes.chunks(16) {
        h.push_str("   ");
        for b in row {
            let _ = write!(h, " 0x{b:02x},");
        }
        h.push('\n');
    }
    let _ = writeln!(h, "}};\n\n#endif  // {upper}_H_");
    Ok(h)
}
