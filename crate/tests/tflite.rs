//! `.tflite` export: the file TensorFlow Lite reads back (ops, shapes, quantization, metadata),
//! and LiteRT's reference kernels give the kit's int8 answers on the exported models.
//!
//! The LiteRT test runs `tflite_litert.py` in the venv tools/setup makes
//! (`tools/litert-requirements.txt`; `TINYML_LITERT_VENV` to use another); without it the test
//! skips, and under `CI` it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_fails_with, scratch, tinyml};

use tfl::planus::ReadAsRoot;
use tflite_schema as tfl;
use tinyml_core::int8::argmax;
use tinyml_core::mfcc::FeatureConfig;
use tinyml_core::model::{Kernels, Model, OpCode};
use tinyml_kit::digits::Architecture;
use tinyml_kit::error::Error;
use tinyml_kit::front_end::InputKind;
use tinyml_kit::kws::KwsArchitecture;
use tinyml_kit::nn::Network;
use tinyml_kit::quantize::{quantize, Calibration, QuantizeOptions, QuantizedModel};
use tinyml_kit::rng::Rng;
use tinyml_kit::tflite::{ImportOptions, TfliteModel, FRONT_END_METADATA, LABELS_METADATA};

/// Inputs per model in the LiteRT comparison.
const INPUTS: usize = 500;

/// Normal(0, 1) values for `n` inputs of `net`.
fn normal_inputs(net: &Network, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n * net.input().len())
        .map(|_| rng.normal(0.0, 1.0) as f32)
        .collect()
}

/// `net` (weights from its seed) quantized on normal inputs, with `classes` labels and the
/// front end called `front_end` (`InputKind::named`).
fn quantized(net: &Network, kind: &str, classes: usize, front_end: &str) -> QuantizedModel {
    // Keyword models carry the class's words (accents, apostrophes), the others plain names.
    let words = [
        "Yá'át'ééh",
        "aoo'",
        "dooda",
        "hágoónee'",
        "unknown",
        "silence",
    ];
    let labels: Vec<String> = (0..classes)
        .map(|i| match front_end {
            "mfcc" => words[i % words.len()].to_string(),
            _ => format!("class {i}"),
        })
        .collect();
    quantize(
        net,
        &labels,
        &InputKind::named(front_end).unwrap(),
        &normal_inputs(net, 200, 7),
        &QuantizeOptions {
            calibration: Calibration::MinMax,
            kind: kind.into(),
        },
    )
    .expect("quantizes")
}

/// The networks the course deploys, at their real shapes: the digits MLP and CNN, the keyword
/// CNN, tiny_conv and DS-CNN on the keyword features, and the committed (trained) activity
/// network.
fn course_models() -> Vec<QuantizedModel> {
    let features = FeatureConfig::KEYWORDS;
    let (frames, coefficients) = (features.clip_frames(), features.coefficients());
    let mut models = Vec::new();
    for (name, architecture) in [
        ("digits-mlp", Architecture::Mlp),
        ("digits-cnn", Architecture::Cnn),
    ] {
        let (input, layers) = architecture.layers();
        let net = Network::new(input, layers, 3).expect("valid");
        models.push(quantized(&net, name, 10, "image"));
    }
    for architecture in [
        KwsArchitecture::Cnn,
        KwsArchitecture::TinyConv,
        KwsArchitecture::DsCnn,
    ] {
        let (input, layers) = architecture.layers(frames, coefficients, 6);
        let net = Network::new(input, layers, 5).expect("valid");
        models.push(quantized(
            &net,
            &format!("kws-{}", architecture.name()),
            6,
            "mfcc",
        ));
    }
    let activity = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/activity-mlp.tkm");
    models.push(QuantizedModel::load(activity).expect("committed"));
    models
}

/// The name TFLite gives a kit op.
fn tflite_op(code: OpCode) -> tfl::BuiltinOperator {
    use tfl::BuiltinOperator as B;
    match code {
        OpCode::Conv2d => B::Conv2d,
        OpCode::DepthwiseConv2d => B::DepthwiseConv2d,
        OpCode::FullyConnected => B::FullyConnected,
        OpCode::MaxPool => B::MaxPool2d,
        OpCode::AvgPool => B::AveragePool2d,
        OpCode::Relu => B::Relu,
        OpCode::Reshape => B::Reshape,
        OpCode::Softmax => B::Softmax,
    }
}

#[test]
fn exported_files_read_back_with_the_models_ops_quantization_and_metadata() {
    for q in course_models() {
        let bytes = q.to_tflite().expect("exports").bytes().to_vec();
        assert_eq!(&bytes[4..8], b"TFL3", "{}: file identifier", q.kind);
        let file = tfl::ModelRef::read_as_root(&bytes).expect("a valid flatbuffer");
        let m = q.model();
        let codes: Vec<tfl::BuiltinOperator> = file
            .operator_codes()
            .unwrap()
            .unwrap()
            .iter()
            .map(|c| c.unwrap().builtin_code().unwrap())
            .collect();
        let graph = file.subgraphs().unwrap().unwrap().get(0).unwrap().unwrap();
        let ops = graph.operators().unwrap().unwrap();
        assert_eq!(
            ops.len(),
            m.op_count(),
            "{}: one TFLite op per kit op",
            q.kind
        );
        for (i, op) in ops.iter().enumerate() {
            let op = op.unwrap();
            let code = codes[op.opcode_index().unwrap() as usize];
            let kit = m.op(i).unwrap().code;
            // A standalone ReLU is written as the ReLU its clamp is.
            if kit == OpCode::Relu {
                assert!(
                    matches!(
                        code,
                        tfl::BuiltinOperator::Relu
                            | tfl::BuiltinOperator::Relu6
                            | tfl::BuiltinOperator::ReluN1To1
                    ),
                    "{}: op {i} is {code:?}",
                    q.kind
                );
            } else {
                assert_eq!(code, tflite_op(kit), "{}: op {i}", q.kind);
            }
        }
        let tensors = graph.tensors().unwrap().unwrap();
        // Weights: a scale per output channel, along the output channels' axis (TFLite's
        // quantized_dimension: filters first, a depthwise convolution's channels last).
        for (i, op) in ops.iter().enumerate() {
            let op = op.unwrap();
            let kit = m.op(i).unwrap();
            if !kit.code.has_weights() {
                continue;
            }
            let inputs: Vec<i32> = op.inputs().unwrap().unwrap().iter().collect();
            let w = tensors.get(inputs[1] as usize).unwrap().unwrap();
            let quant = w.quantization().unwrap().unwrap();
            let scales = quant.scale().unwrap().unwrap().len();
            let y = m.tensor(kit.output);
            let (channels, axis) = match kit.code {
                OpCode::DepthwiseConv2d => (y.c, 3),
                OpCode::Conv2d => (y.c, 0),
                _ => (y.len(), 0),
            };
            assert_eq!(scales, channels, "{}: op {i}'s weight scales", q.kind);
            assert_eq!(
                quant.quantized_dimension().unwrap(),
                axis,
                "{}: op {i}",
                q.kind
            );
            let bias = tensors.get(inputs[2] as usize).unwrap().unwrap();
            assert_eq!(bias.type_().unwrap(), tfl::TensorType::Int32);
        }
        let input = tensors
            .get(graph.inputs().unwrap().unwrap().get(0).unwrap() as usize)
            .unwrap()
            .unwrap();
        assert_eq!(input.type_().unwrap(), tfl::TensorType::Int8);
        let quant = input.quantization().unwrap().unwrap();
        let scale: Vec<f32> = quant.scale().unwrap().unwrap().iter().collect();
        let zero: Vec<i64> = quant.zero_point().unwrap().unwrap().iter().collect();
        assert_eq!(scale, vec![m.input().scale], "{}: input scale", q.kind);
        assert_eq!(zero, vec![m.input().zero_point as i64], "{}", q.kind);
        let shape: Vec<i32> = input.shape().unwrap().unwrap().iter().collect();
        assert_eq!(
            shape.iter().product::<i32>() as usize,
            m.input().len(),
            "{}: input shape {shape:?}",
            q.kind
        );
        // The metadata gives back the labels and the front end.
        let metadata: Vec<(String, Vec<u8>)> = file
            .metadata()
            .unwrap()
            .unwrap()
            .iter()
            .map(|entry| {
                let entry = entry.unwrap();
                let buffer = file
                    .buffers()
                    .unwrap()
                    .unwrap()
                    .get(entry.buffer().unwrap() as usize)
                    .unwrap()
                    .unwrap();
                let data = buffer
                    .data()
                    .unwrap()
                    .map(|d| d.to_vec())
                    .unwrap_or_default();
                (entry.name().unwrap().unwrap().to_string(), data)
            })
            .collect();
        let entry = |name: &str| {
            metadata
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, d)| d.clone())
                .unwrap_or_else(|| panic!("{}: no {name} metadata", q.kind))
        };
        assert_eq!(
            serde_json::from_slice::<Vec<String>>(&entry(LABELS_METADATA)).unwrap(),
            q.labels()
        );
        let front_end = entry(FRONT_END_METADATA);
        assert_eq!(
            tinyml_core::model::FrontEnd::decode(&front_end).unwrap(),
            m.front_end().unwrap(),
            "{}: front end",
            q.kind
        );
        // The same model always gives the same file.
        assert_eq!(
            q.to_tflite().unwrap().bytes(),
            bytes,
            "{}: deterministic",
            q.kind
        );
    }
}

/// The Python of the LiteRT venv (`None`: skip here; a failure under `CI`).
fn litert_python() -> Option<PathBuf> {
    let venv = std::env::var_os("TINYML_LITERT_VENV")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("tinyml-kit/litert-venv")))?;
    let python = if cfg!(windows) {
        venv.join("Scripts/python.exe")
    } else {
        venv.join("bin/python")
    };
    if python.is_file() {
        return Some(python);
    }
    let message = format!(
        "no LiteRT venv at {} (tools/setup makes it)",
        venv.display()
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{message}; CI is set, so this is a failure, not a skip");
    }
    eprintln!("skipped: {message}");
    None
}

/// What the kit's interpreter gives for each input: the logits (the softmax's input, still in
/// the arena after the last op) and the probabilities.
fn kit_outputs(m: &Model, inputs: &[i8]) -> (Vec<i8>, Vec<i8>) {
    let last = m.op(m.op_count() - 1).unwrap();
    assert_eq!(last.code, OpCode::Softmax);
    let logits_at = m.tensor(last.input).range();
    let mut arena = vec![0i8; m.arena_bytes()];
    let mut out = vec![0i8; m.output().len()];
    let (mut logits, mut probabilities) = (Vec::new(), Vec::new());
    for x in inputs.chunks(m.input().len()) {
        m.invoke(&mut arena, x, &mut out, Kernels::Reference)
            .unwrap();
        logits.extend_from_slice(&arena[logits_at.clone()]);
        probabilities.extend_from_slice(&out);
    }
    (logits, probabilities)
}

/// How many values differ, and the largest difference.
fn differences(ours: &[i8], theirs: &[i8]) -> (usize, i32) {
    let d: Vec<i32> = ours
        .iter()
        .zip(theirs)
        .map(|(&a, &b)| (a as i32 - b as i32).abs())
        .collect();
    (
        d.iter().filter(|&&d| d > 0).count(),
        d.into_iter().max().unwrap_or(0),
    )
}

/// Runs `tflite_litert.py`: LiteRT's outputs for each input, and the values of the tensor
/// called `tensor`.
fn litert_outputs(
    python: &Path,
    tflite: &[u8],
    inputs: &[i8],
    dir: &Path,
    tensor: &str,
) -> (Vec<i8>, Vec<i8>) {
    let [model, x, y, values] =
        ["model.tflite", "inputs.bin", "outputs.bin", "values.bin"].map(|f| dir.join(f));
    std::fs::write(&model, tflite).unwrap();
    std::fs::write(&x, inputs.iter().map(|&v| v as u8).collect::<Vec<u8>>()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tflite_litert.py");
    let out = Command::new(python)
        .arg(&script)
        .args([&model, &x, &y])
        .arg("--also")
        .arg(tensor)
        .arg(&values)
        .output()
        .expect("runs python");
    assert!(
        out.status.success(),
        "tflite_litert.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |path: &Path| {
        std::fs::read(path)
            .unwrap()
            .into_iter()
            .map(|b| b as i8)
            .collect()
    };
    (read(&y), read(&values))
}

/// LiteRT runs every course model: on 500 inputs each, a logit is at most one step from the
/// kit's (the rounding, shown by the next test) and on at most 1% of them, the softmax alone
/// (on the same logits) is within 1/256, and no answer differs. The test prints the counts.
#[test]
fn litert_reference_kernels_give_the_kits_int8_outputs() {
    let Some(python) = litert_python() else {
        return;
    };
    for q in course_models() {
        let m = q.model();
        let mut rng = Rng::new(11);
        // Inputs as the front end gives them: normal values quantized like the features.
        let x = m.input();
        let inputs: Vec<i8> = (0..INPUTS * x.len())
            .map(|_| x.quantize(rng.normal(0.0, 1.0) as f32))
            .collect();
        let (logits, probabilities) = kit_outputs(&m, &inputs);
        let tflite = q.to_tflite().unwrap().bytes().to_vec();
        let dir = scratch(&format!("tflite-{}", q.kind));
        let last = m.op(m.op_count() - 1).unwrap();
        let (theirs, theirs_logits) = litert_outputs(
            &python,
            &tflite,
            &inputs,
            &dir,
            &format!("activation_{}", last.input),
        );
        assert_eq!(theirs_logits.len(), logits.len(), "{}", q.kind);
        let (logits_differ, logits_most) = differences(&logits, &theirs_logits);
        let (differ, most) = differences(&probabilities, &theirs);
        let classes = m.output().len();
        // Inputs whose logits are all the same: there only the softmax can differ.
        let mut softmax_most = 0;
        let mut answers_differ = 0;
        for (i, (ours, theirs)) in probabilities
            .chunks(classes)
            .zip(theirs.chunks(classes))
            .enumerate()
        {
            let at = i * classes..(i + 1) * classes;
            if logits[at.clone()] == theirs_logits[at] {
                softmax_most = softmax_most.max(differences(ours, theirs).1);
            }
            answers_differ += usize::from(argmax(ours) != argmax(theirs));
        }
        println!(
            "{}: {INPUTS} inputs; logits: {logits_differ} of {} differ, by at most {logits_most}; \
             probabilities: {differ} of {} differ, by at most {most}/256 \
             ({softmax_most}/256 where the logits are the same); answers: {answers_differ} differ",
            q.kind,
            logits.len(),
            probabilities.len()
        );
        // The two requantize with different rounding (see the module's documentation): a logit
        // can be one step off, rarely. A wrong layout, scale or padding in the export would
        // change most of them.
        assert!(
            logits_most <= 1,
            "{}: a logit differs by {logits_most}",
            q.kind
        );
        assert!(
            logits_differ * 100 <= logits.len(),
            "{}: {logits_differ} of {} logits differ",
            q.kind,
            logits.len()
        );
        assert_eq!(
            answers_differ, 0,
            "{}: answers differ from LiteRT's",
            q.kind
        );
        assert!(
            softmax_most <= 1,
            "{}: the softmax alone differs by {softmax_most}/256",
            q.kind
        );
    }
}

/// The cause of the one-step differences, shown on a single dense layer: LiteRT's answer is
/// the accumulator requantized with one rounding, `(acc · multiplier + 2^(30 − shift)) >>
/// (31 − shift)` (TFLite's `TFLITE_SINGLE_ROUNDING` build), where the kit rounds twice as
/// gemmlowp does (the high multiply, then the shift).
#[test]
fn litert_rounds_once_where_the_kit_rounds_twice() {
    let Some(python) = litert_python() else {
        return;
    };
    let net = Network::new(
        tinyml_kit::nn::Shape::Flat(64),
        vec![tinyml_kit::nn::Layer::Dense { units: 32 }],
        9,
    )
    .expect("valid");
    let q = quantized(&net, "dense", 32, "none");
    let m = q.model();
    let dense = m.op(0).unwrap();
    assert_eq!(dense.code, OpCode::FullyConnected);
    let (x, y) = (m.tensor(dense.input), m.tensor(dense.output));
    let p = dense.layer_params(y.len());
    let mut rng = Rng::new(4);
    let inputs: Vec<i8> = (0..INPUTS * x.len())
        .map(|_| x.quantize(rng.normal(0.0, 1.0) as f32))
        .collect();
    let dir = scratch("tflite-rounding");
    let (_, theirs) = litert_outputs(
        &python,
        q.to_tflite().unwrap().bytes(),
        &inputs,
        &dir,
        &format!("activation_{}", dense.output),
    );
    let (mut single, mut twice) = (Vec::new(), Vec::new());
    for input in inputs.chunks(x.len()) {
        for j in 0..y.len() {
            let acc = input
                .iter()
                .enumerate()
                .fold(p.bias.get(j) as i64, |acc, (i, &v)| {
                    let w = p.weights[j * x.len() + i] as i8 as i64;
                    acc + (v as i64 - x.zero_point as i64) * w
                });
            let (multiplier, shift) = (p.multiplier.get(j) as i64, p.shift.get(j));
            let total = 31 - shift;
            let once = (acc * multiplier + (1 << (total - 1))) >> total;
            single.push((once + y.zero_point as i64).clamp(-128, 127) as i8);
            let requantized = tinyml_core::int8::requantize(acc as i32, multiplier as i32, shift);
            twice.push((requantized + y.zero_point).clamp(-128, 127) as i8);
        }
    }
    assert_eq!(twice, kit_outputs(&m, &inputs).0, "the kit rounds twice");
    let (differ, _) = differences(&single, &theirs);
    assert_eq!(
        differ, 0,
        "LiteRT's dense layer is the single rounding everywhere"
    );
    let (differ, most) = differences(&twice, &theirs);
    println!("one dense layer, {} values: {differ} differ between one and two roundings, by at most {most}", theirs.len());
    assert!(
        differ > 0,
        "the two roundings differ somewhere on {INPUTS} inputs"
    );
}

/// The layer table lists TFLite's ops with Netron's `type[shape]` tensors and the options.
#[test]
fn the_layer_table_shows_tflite_ops_tensors_and_options() {
    let models = course_models();
    let cnn = models.iter().find(|q| q.kind == "digits-cnn").unwrap();
    let html = cnn.to_tflite().unwrap().table().html();
    for piece in [
        "CONV_2D",
        "MAX_POOL_2D",
        "RESHAPE",
        "FULLY_CONNECTED",
        "SOFTMAX",
        "int8[1,28,28,1]",
        "int8[8,3,3,1]",
        "int32[8]",
        "activation RELU",
        "filter 2×2, stride 2×2, padding VALID",
        "int8[1,10]",
    ] {
        assert!(html.contains(piece), "{piece} missing from {html}");
    }
}

/// A file that is not a `.tflite`, or a damaged one, is refused with what to do; no byte
/// changed anywhere in a file makes the reader or the importer panic, and what the importer
/// accepts runs (`tools/fuzz tflite_import` does this at length).
#[test]
fn bad_tflite_files_are_refused_and_never_panic() {
    let activity = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/activity-mlp.tkm");
    let tkm = std::fs::read(&activity).unwrap();
    let good = QuantizedModel::load(&activity)
        .unwrap()
        .to_tflite()
        .unwrap()
        .bytes()
        .to_vec();
    let refused = |bytes: Vec<u8>| match TfliteModel::from_bytes(bytes, "test.tflite") {
        Err(Error::Tflite { what, message }) => {
            assert_eq!(what, "test.tflite");
            message
        }
        other => panic!("not refused: {other:?}"),
    };
    assert!(refused(tkm).contains("not a TensorFlow Lite file"));
    assert!(refused(Vec::new()).contains("not a TensorFlow Lite file"));
    for cut in [9, 64, good.len() / 2, good.len() - 1] {
        assert!(
            refused(good[..cut].to_vec()).contains("damaged or truncated"),
            "cut at {cut}"
        );
    }
    // Every byte of the tables (the weights are plain data) set to values that break offsets.
    let mut rng = Rng::new(3);
    for _ in 0..3000 {
        let mut bytes = good.clone();
        let at = rng.index(bytes.len());
        bytes[at] = [0x00, 0xff, 0x7f, 0x80][rng.index(4)];
        if let Ok(m) = TfliteModel::from_bytes(bytes, "mutated") {
            let _ = m.table().html();
            if let Ok(q) = m.to_quantized(&ImportOptions::default()) {
                q.simulate(&vec![0; q.model().input().len()]).unwrap();
            }
        }
    }
}

#[test]
fn cli_exports_tflite_files() {
    let dir = scratch("cli_tflite");
    let activity = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/activity-mlp.tkm");
    let (model, out) = (activity.to_str().unwrap(), dir.join("activity.tflite"));
    let o = tinyml(&[
        "export",
        model,
        "--format",
        "tflite",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Netron"));
    let written = TfliteModel::load(&out).unwrap();
    let q = QuantizedModel::load(&activity).unwrap();
    assert_eq!(written, q.to_tflite().unwrap());
    assert_fails_with(
        &tinyml(&["export", model, "--format", "tflite"]),
        &["out", "--out model.tflite"],
    );
    assert_fails_with(
        &tinyml(&[
            "export", model, "--format", "tflite", "--name", "m", "--out", "x.tflite",
        ]),
        &["name", "c and rust"],
    );
}

/// Import gives back the exported model byte for byte: the same ops, constants, arena, labels
/// and front end (from the file's metadata).
#[test]
fn importing_an_exported_model_gives_the_same_tkm_bytes() {
    for q in course_models() {
        let tflite = q.to_tflite().unwrap();
        let back = tflite.to_quantized(&ImportOptions::default()).unwrap();
        assert!(
            back.bytes() == q.bytes(),
            "{}: import(export) differs",
            q.kind
        );
    }
}

/// The digits CNN's `.tflite` as TFLite's tables, to change for the import tests.
fn digits_cnn_tables() -> (QuantizedModel, tfl::Model) {
    let q = course_models()
        .into_iter()
        .find(|q| q.kind == "digits-cnn")
        .unwrap();
    let tables = q.to_tflite().unwrap().schema().clone();
    (q, tables)
}

fn import(tables: &tfl::Model, options: &ImportOptions) -> Result<QuantizedModel, String> {
    let file = TfliteModel::from_bytes(tfl::to_bytes(tables), "test.tflite").unwrap();
    file.to_quantized(options).map_err(|e| match e {
        Error::Tflite { message, .. } => message,
        other => format!("not a Tflite error: {other}"),
    })
}

fn graph(t: &mut tfl::Model) -> &mut tfl::SubGraph {
    &mut t.subgraphs.as_mut().unwrap()[0]
}

/// What the importer cannot run is refused with the op or tensor named and what to do.
#[test]
fn models_the_kit_cannot_run_are_refused_by_name() {
    let (_, tables) = digits_cnn_tables();
    // A float model.
    let mut float = tables.clone();
    let input = graph(&mut float).inputs.as_ref().unwrap()[0] as usize;
    graph(&mut float).tensors.as_mut().unwrap()[input].type_ = tfl::TensorType::Float32;
    let message = import(&float, &ImportOptions::default()).unwrap_err();
    assert!(
        message.contains("input is Float32") && message.contains("int8"),
        "{message}"
    );
    // An op the kit does not have.
    let mut tanh = tables.clone();
    let codes = tanh.operator_codes.as_mut().unwrap();
    let first = graph(&mut tables.clone()).operators.as_ref().unwrap()[0].opcode_index as usize;
    codes[first].builtin_code = tfl::BuiltinOperator::Tanh;
    codes[first].deprecated_builtin_code = tfl::BuiltinOperator::Tanh as i8;
    let message = import(&tanh, &ImportOptions::default()).unwrap_err();
    assert!(
        message.contains("op 1 (TANH)") && message.contains("CONV_2D"),
        "{message}"
    );
    // Float input and output around an int8 model.
    let mut quantize = tables.clone();
    quantize.operator_codes.as_mut().unwrap()[first].builtin_code = tfl::BuiltinOperator::Quantize;
    let message = import(&quantize, &ImportOptions::default()).unwrap_err();
    assert!(message.contains("inference_input_type"), "{message}");
    // A graph that is not a chain.
    let mut branch = tables.clone();
    graph(&mut branch).operators.as_mut().unwrap()[1]
        .inputs
        .as_mut()
        .unwrap()[0] = input as i32;
    let message = import(&branch, &ImportOptions::default()).unwrap_err();
    assert!(
        message.contains("op 2 (MAX_POOL_2D)") && message.contains("chain"),
        "{message}"
    );
}

/// Without the kit's metadata (a model converted elsewhere) the labels and the front end are
/// asked for; given, the model imports with them.
#[test]
fn labels_and_front_end_come_from_the_options_when_the_file_has_none() {
    let (q, mut tables) = digits_cnn_tables();
    tables.metadata = None;
    let message = import(&tables, &ImportOptions::default()).unwrap_err();
    assert!(message.contains("give its 10 class names"), "{message}");
    let labels: Vec<String> = (0..10).map(|d| format!("digit {d}")).collect();
    let message = import(
        &tables,
        &ImportOptions {
            labels: Some(labels[..9].to_vec()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(message.contains("9 labels for 10 outputs"), "{message}");
    let message = import(
        &tables,
        &ImportOptions {
            labels: Some(labels.clone()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(message.contains("give the front end"), "{message}");
    let back = import(
        &tables,
        &ImportOptions {
            labels: Some(labels.clone()),
            front_end: Some(InputKind::named("image").unwrap()),
            kind: None,
        },
    )
    .unwrap();
    assert_eq!(back.labels(), labels);
    assert_eq!(back.kind, "digits");
    // With the file's own labels given back, the same bytes as the model exported.
    let same = import(
        &tables,
        &ImportOptions {
            labels: Some(q.labels()),
            front_end: Some(InputKind::named("image").unwrap()),
            kind: None,
        },
    )
    .unwrap();
    assert!(same.bytes() == q.bytes());
    // The same network: the same answers on the same input.
    let x = vec![3i8; q.model().input().len()];
    assert_eq!(back.simulate(&x).unwrap(), q.simulate(&x).unwrap());
}

#[test]
fn cli_imports_tflite_files() {
    let dir = scratch("cli_tflite_import");
    let activity = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/activity-mlp.tkm");
    let tflite = dir.join("activity.tflite");
    QuantizedModel::load(&activity)
        .unwrap()
        .to_tflite()
        .unwrap()
        .save(&tflite)
        .unwrap();
    let out = dir.join("back.tkm");
    let (t, o) = (tflite.to_str().unwrap(), out.to_str().unwrap());
    let run = tinyml(&["import", t, "--out", o]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("fits the Arduino Nano 33 BLE"));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&activity).unwrap()
    );
    assert_fails_with(
        &tinyml(&["import", t, "--front-end", "motion", "--out", o]),
        &["front end", "give no --front-end"],
    );
    assert_fails_with(
        &tinyml(&["import", t, "--front-end", "video", "--out", o]),
        &["front end", "image, mfcc or none"],
    );
    assert_fails_with(
        &tinyml(&["import", t, "--labels", "a,b", "--out", o]),
        &["2 labels for 4 outputs"],
    );
    let tkm = activity.to_str().unwrap();
    assert_fails_with(
        &tinyml(&["import", tkm, "--out", o]),
        &["not a TensorFlow Lite file"],
    );
}

/// `tinyml export --format c`: a header that C and C++ compilers take, holding the `.tflite`
/// bytes (16-byte aligned), the labels and the front end's settings.
#[test]
fn c_headers_compile_as_c_and_cpp_with_the_tflite_bytes() {
    let (Some(cc), Some(cxx)) = (common::tool("cc"), common::tool("c++")) else {
        return;
    };
    let dir = scratch("tflite-c-header");
    for q in course_models()
        .into_iter()
        .filter(|q| ["digits-cnn", "kws-cnn", "activity"].contains(&q.kind.as_str()))
    {
        let tflite = q.to_tflite().unwrap();
        let header = q.to_c("g_model").unwrap();
        std::fs::write(dir.join("model.h"), &header).unwrap();
        let features = if header.contains("G_MODEL_MFCC") {
            "G_MODEL_FRAMES * G_MODEL_COEFFICIENTS + (int)(sizeof g_model_feature_std / sizeof(float))"
        } else {
            "0"
        };
        let program = format!(
            "#include <stdio.h>\n#include <stdint.h>\n#include <string.h>\n#include \"model.h\"\n\
             int main(void) {{\n\
               if (((uintptr_t)g_model) % 16 != 0) return 1;\n\
               if (memcmp(g_model + 4, \"TFL3\", 4) != 0) return 2;\n\
               printf(\"%u %d %s|%s %d %.9g %d %.9g %d\\n\", g_model_len, G_MODEL_LABEL_COUNT,\n\
                      g_model_labels[0], g_model_labels[G_MODEL_LABEL_COUNT - 1], {features},\n\
                      G_MODEL_INPUT_SCALE, G_MODEL_INPUT_ZERO_POINT,\n\
                      G_MODEL_OUTPUT_SCALE, G_MODEL_OUTPUT_ZERO_POINT);\n\
               return 0;\n\
             }}\n"
        );
        for (compiler, source) in [(&cc, "main.c"), (&cxx, "main.cpp")] {
            std::fs::write(dir.join(source), &program).unwrap();
            let exe = dir.join(format!("{source}.exe"));
            let standard = if source.ends_with(".c") {
                "-std=c11"
            } else {
                "-std=c++17"
            };
            let built = Command::new(compiler)
                .args([standard, "-Wall", "-Wextra", "-Werror", "-o"])
                .arg(&exe)
                .arg(dir.join(source))
                .output()
                .unwrap();
            assert!(
                built.status.success(),
                "{}: {source} does not compile:\n{}",
                q.kind,
                String::from_utf8_lossy(&built.stderr)
            );
            let run = Command::new(&exe).output().unwrap();
            assert!(
                run.status.success(),
                "{}: {source} exits with {}",
                q.kind,
                run.status
            );
            let labels = q.labels();
            let m = q.model();
            let coefficients = if features == "0" {
                0
            } else {
                m.input().len() + m.input().w
            };
            let printed = String::from_utf8_lossy(&run.stdout).trim().to_string();
            let fields: Vec<&str> = printed.split(' ').collect();
            // The labels, accents and apostrophes included, as the C string literals give them.
            let first_and_last = format!("{}|{}", labels[0], labels.last().unwrap());
            let expected_start = format!("{} {} ", tflite.size_bytes(), labels.len());
            assert!(
                printed.starts_with(&expected_start),
                "{}: {printed}",
                q.kind
            );
            assert!(printed.contains(&first_and_last), "{}: {printed}", q.kind);
            let numbers = &fields[fields.len() - 5..];
            let scale = |s: &str| s.parse::<f32>().unwrap();
            assert_eq!(numbers[0], coefficients.to_string(), "{}: {source}", q.kind);
            assert_eq!(
                scale(numbers[1]),
                m.input().scale,
                "{}: input scale",
                q.kind
            );
            assert_eq!(numbers[2], m.input().zero_point.to_string(), "{}", q.kind);
            assert_eq!(
                scale(numbers[3]),
                m.output().scale,
                "{}: output scale",
                q.kind
            );
            assert_eq!(numbers[4], m.output().zero_point.to_string(), "{}", q.kind);
        }
    }
}

/// The inputs `tools/fuzz tflite_import` once crashed on (`crate/tests/data/tflite-fuzz`), through
/// what the fuzz target does: read, show, write as C, import, run, export.
#[test]
fn inputs_the_fuzzer_found_are_handled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tflite-fuzz");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        seen += 1;
        let Ok(file) = TfliteModel::from_bytes(bytes, "fuzz") else {
            continue;
        };
        let _ = file.table().html();
        let _ = file.to_c("model");
        if let Ok(q) = file.to_quantized(&ImportOptions::default()) {
            q.simulate(&vec![1; q.model().input().len()]).unwrap();
            q.to_tflite().unwrap();
        }
    }
    assert!(seen > 0, "no inputs in {}", dir.display());
}

/// Ops that only compute a reshape's new shape (what TensorFlow's converter makes of Keras'
/// `Flatten`: `SHAPE`, `STRIDED_SLICE`, `PACK`, then `RESHAPE`) are skipped: the model imports as
/// if the shape were a constant.
#[test]
fn ops_that_compute_a_reshapes_shape_are_skipped() {
    let (q, mut tables) = digits_cnn_tables();
    let shape_code = tables.operator_codes.as_ref().unwrap().len() as u32;
    tables
        .operator_codes
        .as_mut()
        .unwrap()
        .push(tfl::OperatorCode {
            deprecated_builtin_code: tfl::BuiltinOperator::Shape as i8,
            version: 1,
            builtin_code: tfl::BuiltinOperator::Shape,
            ..Default::default()
        });
    let graph = graph(&mut tables);
    let shape = graph.tensors.as_ref().unwrap().len() as i32;
    graph.tensors.as_mut().unwrap().push(tfl::Tensor {
        shape: Some(vec![4]),
        type_: tfl::TensorType::Int32,
        name: Some("flatten/Shape".into()),
        ..Default::default()
    });
    let ops = graph.operators.as_mut().unwrap();
    let codes_reshape = ops
        .iter()
        .position(|op| {
            op.inputs.as_ref().unwrap().len() == 2
                && op
                    .builtin_options
                    .as_ref()
                    .is_some_and(|o| matches!(o, tfl::BuiltinOptions::ReshapeOptions(_)))
        })
        .unwrap();
    let data = ops[codes_reshape].inputs.as_ref().unwrap()[0];
    ops[codes_reshape].inputs.as_mut().unwrap()[1] = shape;
    ops.insert(
        codes_reshape,
        tfl::Operator {
            opcode_index: shape_code,
            inputs: Some(vec![data]),
            outputs: Some(vec![shape]),
            ..Default::default()
        },
    );
    let back = import(&tables, &ImportOptions::default()).unwrap();
    assert!(back.bytes() == q.bytes());
    // The same op writing into the data path is refused.
    let (_, mut tables) = digits_cnn_tables();
    tables.operator_codes.as_mut().unwrap()[0].builtin_code = tfl::BuiltinOperator::Shape;
    let message = import(&tables, &ImportOptions::default()).unwrap_err();
    assert!(message.contains("op 1 (SHAPE)"), "{message}");
}
