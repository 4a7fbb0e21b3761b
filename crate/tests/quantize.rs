//! int8 quantization and the `.tkm` loader: a quantized network agrees with its float self, the
//! loader refuses every malformed file with the right error code and never panics (a property
//! test over mutated files, and a committed corpus of malformed models), and models too big for
//! the board are refused with the numbers.

mod common;

use std::path::PathBuf;

use common::{assert_fails_with, json, reseal, scratch, tinyml, too_big_mlp};

use tinyml_core::model::file::{header, op, tensor};
use tinyml_core::model::{Budget, Kernels, Model, ModelError, HEADER_LEN, OP_LEN, TENSOR_LEN};
use tinyml_kit::front_end::InputKind;
use tinyml_kit::nn::{Layer, Network, Padding, Shape};
use tinyml_kit::quantize::{quantize, Calibration, QuantizeOptions, QuantizedModel};
use tinyml_kit::rng::Rng;

fn options(kind: &str) -> QuantizeOptions {
    QuantizeOptions {
        calibration: Calibration::MinMax,
        kind: kind.into(),
    }
}

/// A small network with every op kind: conv, depthwise, pools, dense, standalone ReLU6.
fn every_op_network(seed: u64) -> Network {
    Network::new(
        Shape::Image {
            height: 10,
            width: 8,
            channels: 2,
        },
        vec![
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
        ],
        seed,
    )
    .expect("valid network")
}

fn calibration(net: &Network, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n * net.input().len())
        .map(|_| rng.normal(0.0, 1.0) as f32)
        .collect()
}

fn every_op_model() -> (Network, QuantizedModel) {
    let net = every_op_network(1);
    let labels: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let q = quantize(
        &net,
        &labels,
        &InputKind::Raw,
        &calibration(&net, 64, 2),
        &options("test"),
    )
    .expect("quantizes");
    (net, q)
}

#[test]
fn int8_agrees_with_float() {
    let (net, q) = every_op_model();
    let inputs = calibration(&net, 50, 3);
    let per = net.input().len();
    let mut agree = 0;
    let mut worst = 0f32;
    for x in inputs.chunks_exact(per) {
        let float = tinyml_kit::nn::softmax(&net.logits(x).expect("runs"));
        let out = q
            .simulate(&q.quantize_input(x).expect("quantizes"))
            .expect("runs");
        let p = q.probabilities(&out);
        worst = p
            .iter()
            .zip(&float)
            .fold(worst, |w, (a, b)| w.max((a - b).abs()));
        agree += (tinyml_kit::nn::argmax(&p) == tinyml_kit::nn::argmax(&float)) as usize;
    }
    assert!(worst < 0.06, "probabilities differ by up to {worst}");
    assert!(agree >= 45, "float and int8 agree on {agree} of 50");
}

/// Convolutions each followed by a 2 × 2 max pooling, as in the course's CNNs, on odd sizes
/// where the pooling drops a row and a column.
fn conv_pool_model() -> QuantizedModel {
    let conv = |filters| Layer::Conv2d {
        filters,
        kernel: 3,
        stride: 1,
        padding: Padding::Same,
    };
    let image = Shape::Image {
        height: 11,
        width: 9,
        channels: 3,
    };
    let layers = vec![
        conv(12),
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        conv(20),
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        Layer::Flatten,
        Layer::Dense { units: 5 },
    ];
    let net = Network::new(image, layers, 3).expect("valid network");
    let labels: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    quantize(
        &net,
        &labels,
        &InputKind::Raw,
        &calibration(&net, 64, 4),
        &options("test"),
    )
    .expect("quantizes")
}

/// A laptop runs each convolution and its pooling in one pass: the same bytes as the reference
/// kernels op by op, whether the pooling's output shares the arena region of the convolution's
/// input or not.
#[test]
fn convolutions_with_their_pooling_give_the_reference_bytes() {
    let q = conv_pool_model();
    let m = Model::parse(q.bytes()).expect("valid");
    let codes: Vec<String> = q.json()["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|op| op["op"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(codes[..4], ["conv2d", "max_pool", "conv2d", "max_pool"]);
    same_bytes_on_both_kernel_sets(&m);
    // The same model with the first pooling's output moved out of the convolution's input's
    // region (the kit's planner shares it): the one pass reads its input in place.
    let mut bytes = q.bytes().to_vec();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let arena = u32_at(&bytes, header::ARENA);
    let record = u32_at(&bytes, header::TENSORS_AT) as usize + 2 * TENSOR_LEN;
    let len = [tensor::HEIGHT, tensor::WIDTH, tensor::CHANNELS]
        .map(|at| u16::from_le_bytes([bytes[record + at], bytes[record + at + 1]]) as u32)
        .iter()
        .product::<u32>();
    let at = record + tensor::OFFSET;
    bytes[at..at + 4].copy_from_slice(&arena.to_le_bytes());
    // Room for it, and still for the convolution patch after the activations.
    let at = header::ARENA;
    bytes[at..at + 4].copy_from_slice(&(2 * arena + len).to_le_bytes());
    reseal(&mut bytes);
    same_bytes_on_both_kernel_sets(&Model::parse(&bytes).expect("still valid"));
}

/// 100 random inputs through `m`: the optimized kernels give the reference kernels' bytes.
fn same_bytes_on_both_kernel_sets(m: &Model) {
    let mut arena = vec![0i8; m.arena_bytes()];
    let (mut a, mut b) = ([0i8; 5], [0i8; 5]);
    let mut rng = Rng::new(11);
    for _ in 0..100 {
        let x: Vec<i8> = (0..m.input().len())
            .map(|_| rng.index(256) as u8 as i8)
            .collect();
        m.invoke(&mut arena, &x, &mut a, Kernels::Optimized)
            .expect("runs");
        m.invoke(&mut arena, &x, &mut b, Kernels::Reference)
            .expect("runs");
        assert_eq!(a, b);
    }
}

#[test]
fn model_file_holds_labels_shapes_and_passes_the_board_loader() {
    let (_, q) = every_op_model();
    let m = Model::parse(q.bytes()).expect("valid");
    assert_eq!(q.labels(), ["a", "b", "c", "d"]);
    assert_eq!(m.input().len(), 160);
    assert_eq!(m.output().len(), 4);
    // conv+relu, depthwise+relu6, max pool, relu6, avg pool, reshape, dense, softmax.
    assert_eq!(m.op_count(), 8);
    let json = q.json();
    assert_eq!(json["ops"][0]["op"], "conv2d");
    assert_eq!(json["ops"][7]["op"], "softmax");
    assert_eq!(json["arena_bytes"], m.arena_bytes());
    // Both kernel sets give the same bytes.
    let mut arena = vec![0i8; m.arena_bytes()];
    let (mut a, mut b) = ([0i8; 4], [0i8; 4]);
    let x: Vec<i8> = (0..160).map(|i| (i * 37 % 256) as u8 as i8).collect();
    m.invoke(&mut arena, &x, &mut a, Kernels::Optimized)
        .expect("runs");
    m.invoke(&mut arena, &x, &mut b, Kernels::Reference)
        .expect("runs");
    assert_eq!(a, b);
    // A too-small arena, wrong sizes: errors, not panics.
    let mut small = vec![0i8; m.arena_bytes() - 1];
    assert_eq!(
        m.invoke(&mut small, &x, &mut a, Kernels::Optimized),
        Err(ModelError::ArenaTooSmall)
    );
    assert_eq!(
        m.invoke(&mut arena, &x[1..], &mut a, Kernels::Optimized),
        Err(ModelError::WrongIoSize)
    );
}

#[test]
fn exports_are_the_same_bytes() {
    let (_, q) = every_op_model();
    let c = q.to_c("model").unwrap();
    let rust = q.to_rust("MODEL");
    let parse = |text: &str| -> Vec<u8> {
        text.split("0x")
            .skip(1)
            .map(|h| u8::from_str_radix(&h[..2], 16).expect("hex byte"))
            .collect()
    };
    // The C header (for TensorFlow Lite Micro) holds the model's .tflite file; its comments
    // and constants hold no "0x" before the bytes.
    let tflite = q.to_tflite().unwrap();
    assert_eq!(parse(&c), tflite.bytes());
    assert_eq!(parse(&rust), q.bytes());
    assert!(c.contains(&format!(
        "model_len MODEL_UNUSED = {};",
        tflite.size_bytes()
    )));
    assert!(rust.contains(&format!("pub const MODEL: [u8; {}]", q.size_bytes())));
}

/// Loads `bytes` and, when the loader accepts them, runs an inference: nothing may panic.
fn load_and_run(bytes: &[u8]) -> Result<(), ModelError> {
    run(Model::parse(bytes)?)
}

fn run(m: Model) -> Result<(), ModelError> {
    let mut arena = vec![0i8; m.arena_bytes()];
    let x = vec![3i8; m.input().len()];
    let mut y = vec![0i8; m.output().len()];
    m.invoke(&mut arena, &x, &mut y, Kernels::Optimized)?;
    m.invoke(&mut arena, &x, &mut y, Kernels::Reference)?;
    for i in 0..=m.label_count() {
        let _ = m.label(i);
    }
    let mut f = vec![0.5f32; m.input().len()];
    m.quantize_input(&mut f, &mut vec![0i8; m.input().len()])
}

#[test]
fn mutated_models_never_panic_the_loader() {
    let (_, q) = every_op_model();
    let good = q.bytes().to_vec();
    let mut rng = Rng::new(7);
    let mut refused = 0;
    for round in 0..3000 {
        let mut b = good.clone();
        match round % 5 {
            // Flip bits.
            0 => {
                for _ in 0..1 + rng.index(4) {
                    let i = rng.index(b.len());
                    b[i] ^= 1 << rng.index(8);
                }
            }
            // Overwrite a header, table or op field with a random value.
            1 => {
                let end = (HEADER_LEN + 9 * TENSOR_LEN + 8 * OP_LEN).min(b.len());
                let i = rng.index(end);
                b[i] = rng.next_u64() as u8;
            }
            // Truncate.
            2 => b.truncate(rng.index(b.len())),
            // Extreme values in a 4-byte field.
            3 => {
                let i = rng.index(b.len() - 4) & !3;
                let v = [0u32, 1, 0xFFFF, 0xFFFF_FFFF, 0x8000_0000, 0x7FFF_FFFF][rng.index(6)];
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            // Duplicate a slice over another.
            _ => {
                let len = 1 + rng.index(64);
                let from = rng.index(b.len() - len);
                let to = rng.index(b.len() - len);
                let chunk = b[from..from + len].to_vec();
                b[to..to + len].copy_from_slice(&chunk);
            }
        }
        // Half the time the file is resealed, so that the CRC does not hide the damage.
        if round % 2 == 0 {
            reseal(&mut b);
        }
        let full = load_and_run(&b);
        if full.is_err() {
            refused += 1;
        }
        // The board's per-inference open (no CRC, no weight sums) never panics either, and
        // accepts whatever the full check accepts.
        let stored = Model::parse_stored(&b).and_then(run);
        if full.is_ok() {
            assert_eq!(stored, Ok(()), "round {round}");
        }
    }
    assert!(
        refused > 1500,
        "only {refused} of 3000 mutated files refused"
    );
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/malformed")
}

/// Field offsets of the good model, to aim the corruption.
fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// The malformed models: name, bytes, expected error.
fn malformed() -> Vec<(&'static str, Vec<u8>, ModelError)> {
    let (_, q) = every_op_model();
    let good = q.bytes().to_vec();
    let tensors = u32_at(&good, header::TENSORS_AT);
    let ops = u32_at(&good, header::OPS_AT);
    let edit = |f: &dyn Fn(&mut Vec<u8>), seal: bool| {
        let mut b = good.clone();
        f(&mut b);
        if seal {
            reseal(&mut b);
        }
        b
    };
    let set32 =
        |at: usize, v: u32| move |b: &mut Vec<u8>| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let set16 =
        |at: usize, v: u16| move |b: &mut Vec<u8>| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let first_conv_params = u32_at(&good, ops + op::PARAMS_AT);
    let softmax_params = u32_at(&good, ops + 7 * OP_LEN + op::PARAMS_AT);
    vec![
        ("empty", Vec::new(), ModelError::Truncated),
        (
            "truncated-header",
            good[..20].to_vec(),
            ModelError::Truncated,
        ),
        (
            "truncated-half",
            good[..good.len() / 2].to_vec(),
            ModelError::Truncated,
        ),
        (
            "truncated-last-byte",
            good[..good.len() - 1].to_vec(),
            ModelError::Truncated,
        ),
        (
            "float-model",
            b"TKMF\x01\x00".iter().copied().chain(vec![0; 60]).collect(),
            ModelError::BadMagic,
        ),
        (
            "wrong-crc",
            edit(
                &|b| {
                    let n = b.len();
                    b[n - 1] ^= 0xFF
                },
                false,
            ),
            ModelError::BadChecksum,
        ),
        (
            "flipped-weight",
            edit(&|b| b[first_conv_params + 200] ^= 4, false),
            ModelError::BadChecksum,
        ),
        (
            "version-2",
            edit(&set16(header::VERSION, 2), true),
            ModelError::UnsupportedVersion,
        ),
        (
            "extra-bytes",
            edit(&|b| b.extend([0; 8]), false),
            ModelError::BadHeader,
        ),
        (
            "tensor-table-past-end",
            edit(&set32(header::TENSORS_AT, 0x00FF_FFFF), true),
            ModelError::OutOfBounds,
        ),
        (
            "op-table-in-header",
            edit(&set32(header::OPS_AT, 4), true),
            ModelError::OutOfBounds,
        ),
        (
            "params-past-end",
            edit(&set32(ops + op::PARAMS_AT, 0xFFFF_FFF0), true),
            ModelError::OutOfBounds,
        ),
        (
            "params-length-huge",
            edit(&set32(ops + op::PARAMS_LEN, 0x7FFF_FFFF), true),
            ModelError::OutOfBounds,
        ),
        (
            "params-one-byte-short",
            edit(
                &|b| {
                    let n = u32_at(b, ops + op::PARAMS_LEN) as u32;
                    set32(ops + op::PARAMS_LEN, n - 1)(b)
                },
                true,
            ),
            ModelError::BadParams,
        ),
        (
            "unknown-op",
            edit(&|b| b[ops + op::CODE] = 99, true),
            ModelError::UnknownOp,
        ),
        (
            "huge-dims",
            edit(
                &|b| {
                    set16(tensors + tensor::HEIGHT, 0xFFFF)(b);
                    set16(tensors + tensor::WIDTH, 0xFFFF)(b);
                    set16(tensors + tensor::CHANNELS, 0xFFFF)(b)
                },
                true,
            ),
            ModelError::BadTensor,
        ),
        (
            "zero-dim",
            edit(&set16(tensors + TENSOR_LEN + tensor::CHANNELS, 0), true),
            ModelError::BadTensor,
        ),
        (
            "nan-scale",
            edit(&set32(tensors + tensor::SCALE, f32::NAN.to_bits()), true),
            ModelError::BadTensor,
        ),
        (
            "zero-point-300",
            edit(&set32(tensors + tensor::ZERO_POINT, 300), true),
            ModelError::BadTensor,
        ),
        (
            "conv-output-shape",
            edit(&set16(tensors + TENSOR_LEN + tensor::HEIGHT, 11), true),
            ModelError::BadShape,
        ),
        (
            "stride-zero",
            edit(&|b| b[ops + op::STRIDE] = 0, true),
            ModelError::BadShape,
        ),
        (
            "too-many-tensors",
            edit(&set16(header::TENSOR_COUNT, 65), true),
            ModelError::TooLarge,
        ),
        (
            "no-ops",
            edit(&set16(header::OP_COUNT, 0), true),
            ModelError::TooLarge,
        ),
        (
            "arena-too-small",
            edit(&set32(header::ARENA, 10), true),
            ModelError::BadArena,
        ),
        (
            "arena-huge",
            edit(&set32(header::ARENA, 0x7FFF_FFFF), true),
            ModelError::TooLarge,
        ),
        (
            "overlapping-tensors",
            edit(&set32(tensors + TENSOR_LEN + tensor::OFFSET, 0), true),
            ModelError::BadArena,
        ),
        (
            "reads-unwritten-tensor",
            edit(&set16(ops + OP_LEN + op::INPUT, 5), true),
            ModelError::BadGraph,
        ),
        (
            "negative-multiplier",
            edit(&set32(first_conv_params + 2 * 4 * 6, 0x8000_0000), true),
            ModelError::BadQuantization,
        ),
        (
            "wrong-folded-bias",
            edit(&|b| b[first_conv_params + 4 * 6] ^= 1, true),
            ModelError::BadQuantization,
        ),
        (
            "softmax-table-zero",
            edit(&set32(softmax_params, 0), true),
            ModelError::BadQuantization,
        ),
        (
            "labels-missing",
            edit(&set32(header::LABELS_LEN, 3), true),
            ModelError::BadLabels,
        ),
        (
            "front-end-garbage",
            edit(
                &|b| {
                    set32(header::FRONT_END_AT, tensors as u32)(b);
                    set32(header::FRONT_END_LEN, 8)(b)
                },
                true,
            ),
            ModelError::BadFrontEnd,
        ),
    ]
}

/// The committed corpus (crate/tests/data/malformed/*.tkm) gives the expected error codes. With
/// `TINYML_WRITE_CORPUS=1` the test writes the corpus instead (and the fuzz target's seeds).
#[test]
fn malformed_corpus_is_refused_with_the_right_codes() {
    let dir = corpus_dir();
    if std::env::var_os("TINYML_WRITE_CORPUS").is_some() {
        std::fs::create_dir_all(&dir).expect("corpus folder");
        let (_, q) = every_op_model();
        std::fs::write(dir.join("../every-op.tkm"), q.bytes()).expect("writes");
        std::fs::write(dir.join("../conv-pool.tkm"), conv_pool_model().bytes()).expect("writes");
        for (name, bytes, error) in malformed() {
            std::fs::write(dir.join(format!("{:02}-{name}.tkm", error.code())), bytes)
                .expect("writes");
        }
    }
    // The generated cases still produce the codes they are named after…
    for (name, bytes, error) in malformed() {
        assert_eq!(Model::parse(&bytes).err(), Some(error), "{name}");
    }
    // …and the committed files, whatever the kit writes today, are refused with theirs.
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("crate/tests/data/malformed exists") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let code: u8 = name[..2].parse().expect("files are named CODE-what.tkm");
        let bytes = std::fs::read(&path).expect("reads");
        let got = Model::parse(&bytes).err().map(ModelError::code);
        assert_eq!(got, Some(code), "{name}");
        // The kit's loader says the same code, as a typed error naming the file.
        match QuantizedModel::from_bytes(bytes.clone(), &name) {
            Err(tinyml_kit::error::Error::ModelFile { what, error }) => {
                assert_eq!((what.as_str(), error.code()), (name.as_str(), code))
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(load_and_run(&bytes).is_err());
        files += 1;
    }
    assert!(files >= 25, "{files} files in the corpus");
    let good = std::fs::read(dir.join("../every-op.tkm")).expect("the committed good model");
    load_and_run(&good).expect("the committed good model still loads and runs");
    let good = std::fs::read(dir.join("../conv-pool.tkm")).expect("the committed conv-pool model");
    load_and_run(&good).expect("the committed conv-pool model still loads and runs");
}

#[test]
fn models_too_big_for_the_board_are_refused_with_the_numbers() {
    // 784 → 512 → 10: 407 KB of int8 weights, more than a 256 KB model slot.
    let q = too_big_mlp();
    let err = q.check_fits(&Budget::NANO_33_BLE).unwrap_err();
    assert!(
        matches!(err, tinyml_kit::error::Error::DoesNotFit(_)),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(err.contains(&format!("{} bytes", q.size_bytes())), "{err}");
    assert!(err.contains("262144 bytes"), "{err}");
    // A 96×96×3 image through 32 filters: 295 KB of activations, more than 128 KB of arena.
    let net = Network::new(
        Shape::Image {
            height: 96,
            width: 96,
            channels: 3,
        },
        vec![
            Layer::Conv2d {
                filters: 32,
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
            },
            Layer::Relu,
            Layer::MaxPool { size: 8 },
            Layer::Flatten,
            Layer::Dense { units: 2 },
        ],
        1,
    )
    .expect("valid");
    let labels = vec!["yes".to_string(), "no".to_string()];
    let q = quantize(
        &net,
        &labels,
        &InputKind::Raw,
        &calibration(&net, 2, 1),
        &options("big-cnn"),
    )
    .expect("quantizes");
    let err = q.check_fits(&Budget::NANO_33_BLE).unwrap_err().to_string();
    assert!(err.contains(&format!("{} bytes", q.arena_bytes())), "{err}");
    assert!(err.contains("131072 bytes"), "{err}");
    assert!(q.arena_bytes() > 96 * 96 * 32);
    let (_, small) = every_op_model();
    small
        .check_fits(&Budget::NANO_33_BLE)
        .expect("the small model fits");
}

#[test]
fn cli_quantize_inspect_eval_export() {
    let dir = scratch("cli_quantize");
    let float = dir.join("digits.tkf");
    let int8 = dir.join("digits.tkm");
    let (f, q) = (float.to_str().unwrap(), int8.to_str().unwrap());
    json(&tinyml(&[
        "digits",
        "train",
        "--epochs",
        "1",
        "--augment",
        "0",
        "--out",
        f,
        "--json",
    ]));
    let j = json(&tinyml(&[
        "quantize",
        "--model",
        f,
        "--samples",
        "200",
        "--out",
        q,
        "--json",
    ]));
    for key in [
        "format",
        "version",
        "bytes",
        "arena_bytes",
        "labels",
        "input",
        "output",
        "tensors",
        "ops",
        "front_end",
        "fits",
        "out",
    ] {
        assert!(j.get(key).is_some(), "{key} missing: {j}");
    }
    assert_eq!(j["bytes"], std::fs::metadata(&int8).unwrap().len());
    let inspect = json(&tinyml(&["inspect", q, "--json"]));
    assert_eq!(inspect["ops"], j["ops"]);
    assert_eq!(inspect["input"]["zero_point"], -128);
    // Float and int8 evaluations have the same keys and nearly the same accuracy.
    let a = json(&tinyml(&["digits", "eval", "--model", f, "--json"]));
    let b = json(&tinyml(&["digits", "eval", "--model", q, "--json"]));
    assert_eq!(b["n"], 5000);
    let (fa, qa) = (
        a["accuracy"].as_f64().unwrap(),
        b["accuracy"].as_f64().unwrap(),
    );
    assert!((fa - qa).abs() <= 0.005, "float {fa}, int8 {qa}");
    // Exports.
    let c = dir.join("model.h");
    let o = tinyml(&["export", q, "--format", "c", "--out", c.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&c)
        .unwrap()
        .contains("static const unsigned char model["));
    let o = tinyml(&["export", q, "--format", "rust", "--name", "DIGITS"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("pub const DIGITS: [u8; "));
    // Mistakes.
    assert_fails_with(
        &tinyml(&["export", q, "--format", "python"]),
        &["format", "c or rust"],
    );
    assert_fails_with(
        &tinyml(&["inspect", f]),
        &["no TKM8 magic", "tinyml quantize"],
    );
    assert_fails_with(
        &tinyml(&["quantize", "--model", q, "--out", q]),
        &["already an int8 model"],
    );
    let bytes = std::fs::read(&int8).unwrap();
    let cut = dir.join("cut.tkm");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    assert_fails_with(
        &tinyml(&["digits", "eval", "--model", cut.to_str().unwrap()]),
        &["truncated", "error 32"],
    );
    assert_fails_with(
        &tinyml(&["quantize", "--model", f, "--percentile", "70", "--out", q]),
        &["percentile"],
    );
}

/// An activity network's int8 model: the motion front end (window, hop, feature statistics).
fn activity_model() -> QuantizedModel {
    use tinyml_kit::front_end::MotionFrontEnd;
    let net = Network::new(
        Shape::Flat(12),
        vec![
            Layer::Dense { units: 6 },
            Layer::Relu,
            Layer::Dense { units: 3 },
        ],
        4,
    )
    .unwrap();
    let front_end = MotionFrontEnd {
        sample_rate_hz: 50,
        window: 100,
        hop: 50,
        mean: (0..12).map(|i| i as f32 * 0.1).collect(),
        std: vec![0.5; 12],
    };
    quantize(
        &net,
        &["WALKING", "RUNNING", "BIKING"].map(String::from),
        &InputKind::Motion(front_end),
        &calibration(&net, 20, 5),
        &options("activity-mlp"),
    )
    .unwrap()
}

#[test]
fn motion_front_ends_are_checked_and_standardise_the_features() {
    use tinyml_core::model::file::front_end::{motion, FLAGS};
    use tinyml_core::model::{FrontEnd, MOTION_FRONT_END_LEN};
    let q = activity_model();
    let m = q.model();
    let Ok(FrontEnd::Motion {
        sample_rate_hz,
        window,
        hop,
        ..
    }) = m.front_end()
    else {
        panic!("{:?}", m.front_end());
    };
    assert_eq!((sample_rate_hz, window, hop), (50, 100, 50));
    // The input is (x − mean) / std, then quantized: the mean itself gives the zero point.
    let mut features: Vec<f32> = (0..12).map(|i| i as f32 * 0.1).collect();
    let mut input = [0i8; 12];
    m.quantize_input(&mut features, &mut input).unwrap();
    assert!(features.iter().all(|&v| v == 0.0), "{features:?}");
    assert!(input.iter().all(|&v| v == m.input().zero_point as i8));

    // Each field out of range: BadFrontEnd, with the file otherwise intact.
    let at = u32_at(q.bytes(), header::FRONT_END_AT);
    let stats = at + MOTION_FRONT_END_LEN;
    let broken: [(&str, usize, Vec<u8>); 7] = [
        ("a flag", at + FLAGS, vec![1]),
        ("sample rate 0", at + motion::SAMPLE_RATE, vec![0, 0]),
        (
            "a window of 4 samples",
            at + motion::WINDOW,
            4u16.to_le_bytes().to_vec(),
        ),
        (
            "a window of 600 samples",
            at + motion::WINDOW,
            600u16.to_le_bytes().to_vec(),
        ),
        (
            "a hop longer than the window",
            at + motion::HOP,
            101u16.to_le_bytes().to_vec(),
        ),
        (
            "11 features",
            at + motion::FEATURES,
            11u16.to_le_bytes().to_vec(),
        ),
        (
            "a standard deviation of 0",
            stats + 48 + 8,
            0f32.to_le_bytes().to_vec(),
        ),
    ];
    for (what, offset, bytes) in broken {
        let mut b = q.bytes().to_vec();
        b[offset..offset + bytes.len()].copy_from_slice(&bytes);
        reseal(&mut b);
        assert_eq!(
            Model::parse(&b).err(),
            Some(ModelError::BadFrontEnd),
            "{what}"
        );
    }
    assert_eq!(
        QuantizedModel::from_bytes(q.bytes().to_vec(), "x")
            .unwrap()
            .labels()
            .len(),
        3
    );
}

#[test]
fn the_committed_activity_model_loads_with_its_motion_front_end() {
    // The fuzzer's seed (tools/fuzz): `tinyml activity train` on the course data.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/activity-mlp.tkm");
    let q = QuantizedModel::load(&path).unwrap();
    assert_eq!(q.kind, "activity");
    assert_eq!(q.labels(), ["WALKING", "RUNNING", "BIKING", "GOLFING"]);
    let j = q.json();
    assert_eq!(j["front_end"]["kind"], "motion");
    assert_eq!(j["front_end"]["window"], 100);
    let data = tinyml_kit::activity::ActivityData::course_default();
    let right = q.evaluate_activities(&data).unwrap().accuracy();
    assert!(right > 0.9, "{right}");
}

/// The quantizer still writes the committed models byte for byte (the format's writer moved
/// into the core without changing a byte; any change to the layout shows here first).
#[test]
fn the_quantizer_writes_the_committed_models_byte_for_byte() {
    let dir = corpus_dir();
    let every_op = std::fs::read(dir.join("../every-op.tkm")).expect("committed");
    let conv_pool = std::fs::read(dir.join("../conv-pool.tkm")).expect("committed");
    assert!(every_op_model().1.bytes() == every_op.as_slice());
    assert!(conv_pool_model().bytes() == conv_pool.as_slice());
}
