//! Host int8 inference latency, the kit's interpreter against LiteRT on the same networks, in one
//! run.
//!
//! `cargo bench -p tinyml-kit --bench int8_inference` trains the digits CNN (`Architecture::Cnn`:
//! 28×28 in, conv 8 3×3 valid, relu, max pool 2, conv 16 3×3 valid, relu, max pool 2, dense 10)
//! on the embedded MNIST subset (1,000 images held out for test) and the keyword CNN
//! (`KwsArchitecture::Cnn`: 49×13 MFCC in, conv 16 3×3 same, relu, max pool 2, conv 32 3×3 same,
//! relu, max pool 2, dense 10) on the spoken digits in data/fsdd (george held out for test), a
//! few epochs each, and quantizes both with the kit (digits: min/max over 500 training images;
//! keywords: 0.01–99.99th percentiles over a fifth of the training clips). It then writes the
//! float weights, the kit's calibration inputs and the test set to a temporary folder, and
//! `bench/int8_litert.py` rebuilds each network in Keras from those weights (and checks its
//! logits against the kit's), converts it with the TFLite converter (full-integer int8, int8
//! input and output, the same calibration inputs, a softmax at the end as the kit's model has)
//! and runs it with LiteRT.
//!
//! Timing: batch 1, one inference at a time over the whole test set, input already int8. Ours is
//! `Session::run_ref` with the optimized kernels on one thread (copies the input into the arena
//! and the output out); LiteRT's is `set_tensor` + `invoke` + `get_tensor` from Python with one
//! thread (plus, for reference, `invoke` alone, LiteRT's default thread count, and one thread
//! without the default XNNPACK delegate). The Python process starts once, converts, then times
//! a round whenever asked: rounds alternate ours, LiteRT, ours, LiteRT… for each model, and the
//! table shows the median over rounds of the µs per inference, and both int8 models' accuracy
//! on the same test set (the first round of each is a warm-up and not counted). Python:
//! `$TINYML_BENCH_PYTHON` (default `~/.cache/tinyml-kit/bench-venv/bin/python`, with
//! tensorflow-cpu and ai-edge-litert). `TINYML_BENCH_KEEP=1` keeps the temporary folder (inputs,
//! weights, the `.tflite` files, LiteRT's log).

mod common;

use common::{median, python};

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use tinyml_core::int8::argmax;
use tinyml_core::model::Kernels;
use tinyml_kit::digits::{Architecture, Digits, DigitsTrainer};
use tinyml_kit::kws::{KeywordData, KwsTrainer};
use tinyml_kit::nn::{Layer, Network, Padding, Shape};
use tinyml_kit::quantize::{QuantizedModel, Session};

/// Timing rounds per engine and model (interleaved).
const ROUNDS: usize = 9;
/// Passes over the test set in one round.
const PASSES: usize = 2;
const DIGITS_EPOCHS: usize = 3;
const KWS_EPOCHS: usize = 10;

/// LiteRT set-ups `bench/int8_litert.py` times, in table order.
const VARIANTS: [&str; 4] = ["t1", "t1_invoke", "default", "t1_builtin"];

/// One network, quantized by the kit, with its test set.
struct Case {
    name: &'static str,
    int8: QuantizedModel,
    /// Test inputs quantized by the kit's front end, one example after another.
    inputs: Vec<i8>,
    labels: Vec<usize>,
    /// Answers of the kit's int8 model on the test set.
    predictions: Vec<usize>,
    /// The kit's own evaluation (`evaluate_digits` / `predict_keywords`) agrees with `predictions`.
    consistent: bool,
}

impl Case {
    fn per(&self) -> usize {
        self.inputs.len() / self.labels.len()
    }

    fn accuracy(&self) -> f64 {
        let right = self
            .predictions
            .iter()
            .zip(&self.labels)
            .filter(|(p, l)| p == l)
            .count();
        right as f64 / self.labels.len() as f64
    }
}

/// Writes a little-endian `.npy` file (format 1.0) of `shape` with numpy type `descr`.
fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).expect("write .npy");
}

fn f32_npy(path: &Path, shape: &[usize], v: &[f32]) {
    let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy(path, "<f4", shape, &data);
}

fn i32_npy(path: &Path, v: &[usize]) {
    let data: Vec<u8> = v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect();
    write_npy(path, "<i4", &[v.len()], &data);
}

fn hwc(shape: Shape) -> [usize; 3] {
    match shape {
        Shape::Image {
            height,
            width,
            channels,
        } => [height, width, channels],
        Shape::Flat(n) => [1, 1, n],
    }
}

/// Writes what `bench/int8_litert.py` needs for one network into `dir/name`.
fn export(
    dir: &Path,
    case: &Case,
    net: &Network,
    calibration: &[f32],
    test: &[f32],
    float_logits: &[f32],
) {
    let folder = dir.join(case.name);
    std::fs::create_dir_all(&folder).expect("create the model folder");
    let input = hwc(net.input());
    let per: usize = input.iter().product();
    let layers: Vec<serde_json::Value> = net
        .layers()
        .iter()
        .map(|l| match *l {
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            } => serde_json::json!({
                "type": "conv2d", "filters": filters, "kernel": kernel, "stride": stride,
                "padding": if padding == Padding::Same { "same" } else { "valid" },
            }),
            Layer::Dense { units } => serde_json::json!({"type": "dense", "units": units}),
            Layer::MaxPool { size } => serde_json::json!({"type": "max_pool", "size": size}),
            Layer::AvgPool { size } => serde_json::json!({"type": "avg_pool", "size": size}),
            Layer::Relu => serde_json::json!({"type": "relu"}),
            Layer::Flatten => serde_json::json!({"type": "flatten"}),
            Layer::Dropout { .. } => serde_json::json!({"type": "dropout"}),
            other => serde_json::json!({"type": format!("{other:?}")}),
        })
        .collect();
    // Weight tensors: per weighted layer the matrix [fan_in, outputs], then the bias.
    let weights = net.weights();
    let mut names = Vec::new();
    for (k, w) in weights.iter().enumerate() {
        let name = format!("w{k}.npy");
        if k % 2 == 0 {
            let outputs = weights[k + 1].len();
            f32_npy(&folder.join(&name), &[w.len() / outputs, outputs], w);
        } else {
            f32_npy(&folder.join(&name), &[w.len()], w);
        }
        names.push(name);
    }
    let spec = serde_json::json!({"input": input, "layers": layers, "weights": names});
    std::fs::write(folder.join("model.json"), spec.to_string()).expect("write model.json");
    let images = |n: usize| [n, input[0], input[1], input[2]];
    f32_npy(
        &folder.join("calibration.npy"),
        &images(calibration.len() / per),
        calibration,
    );
    f32_npy(&folder.join("test.npy"), &images(test.len() / per), test);
    i32_npy(&folder.join("labels.npy"), &case.labels);
    let classes = float_logits.len() / case.labels.len();
    f32_npy(
        &folder.join("float_logits.npy"),
        &[case.labels.len(), classes],
        float_logits,
    );
    i32_npy(&folder.join("ours_predictions.npy"), &case.predictions);
}

/// The kit's int8 answers on `inputs`.
fn predict(int8: &QuantizedModel, inputs: &[i8]) -> Vec<usize> {
    let model = int8.model();
    let mut session = Session::new(&model);
    inputs
        .chunks_exact(model.input().len())
        .map(|x| {
            argmax(
                session
                    .run_ref(&model, x, Kernels::Optimized)
                    .expect("inference"),
            )
        })
        .collect()
}

fn digits_case(dir: &Path) -> Case {
    let digits = Digits::course_default();
    let (rest, test) = digits.split(1000, 1).expect("split");
    let (train, validation) = rest.split(500, 2).expect("split");
    let model = DigitsTrainer::params()
        .architecture(Architecture::Cnn)
        .epochs(DIGITS_EPOCHS)
        .seed(1)
        .progress(false)
        .fit(&train, Some(&validation))
        .expect("training");
    let calibration = train.sample(500, 1);
    let int8 = model.quantize(&calibration).expect("quantization");
    let m = int8.model();
    let inputs: Vec<i8> = test
        .inputs()
        .iter()
        .map(|&v| m.input().quantize(v))
        .collect();
    let predictions = predict(&int8, &inputs);
    let kit = int8.evaluate_digits(&test).expect("evaluation");
    let consistent = kit
        .predictions
        .iter()
        .zip(&predictions)
        .all(|(a, &b)| a.label as usize == b);
    let case = Case {
        name: "digits-cnn",
        labels: test.targets(),
        inputs,
        predictions,
        consistent,
        int8,
    };
    let float_logits = model.network.logits(&test.inputs()).expect("float logits");
    export(
        dir,
        &case,
        &model.network,
        &calibration.inputs(),
        &test.inputs(),
        &float_logits,
    );
    case
}

fn kws_case(dir: &Path) -> Case {
    let data = KeywordData::course_default().expect("the spoken digits in data/fsdd");
    let (train, test) = data.split_by_speaker(&["george"]).expect("split");
    let model = KwsTrainer::params()
        .epochs(KWS_EPOCHS)
        .seed(7)
        .progress(false)
        .fit(&train, None)
        .expect("training");
    let calibration = train.split_clips(0.2, 1).expect("split").1;
    let int8 = model.quantize(&calibration).expect("quantization");
    // The network's float inputs, as the kit prepares them.
    let prepare = |d: &KeywordData| model.inputs(d).expect("features");
    let (calibration_x, test_x) = (prepare(&calibration), prepare(&test));
    let m = int8.model();
    let inputs: Vec<i8> = test_x.iter().map(|&v| m.input().quantize(v)).collect();
    let predictions = predict(&int8, &inputs);
    let index = |l: &String| {
        model
            .labels
            .iter()
            .position(|n| n == l)
            .expect("known label")
    };
    let kit = int8.predict_keywords(&test).expect("int8 answers");
    let consistent = kit.iter().map(index).eq(predictions.iter().copied());
    let case = Case {
        name: "kws-cnn",
        labels: test.labels().iter().map(index).collect(),
        inputs,
        predictions,
        consistent,
        int8,
    };
    let float_logits = model.network.logits(&test_x).expect("float logits");
    export(
        dir,
        &case,
        &model.network,
        &calibration_x,
        &test_x,
        &float_logits,
    );
    case
}

/// Our µs per inference over `passes` passes of the test set, one thread.
fn time_ours(case: &Case, passes: usize) -> f64 {
    let model = case.int8.model();
    let mut session = Session::new(&model);
    let per = case.per();
    let start = Instant::now();
    for _ in 0..passes {
        for x in case.inputs.chunks_exact(per) {
            let out = session
                .run_ref(&model, black_box(x), Kernels::Optimized)
                .expect("inference");
            black_box(out);
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / (passes * case.labels.len()) as f64
}

/// The running `bench/int8_litert.py`.
struct LiteRt {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// `(model, key)` → the rest of its `result` line.
    results: HashMap<(String, String), String>,
}

impl LiteRt {
    fn start(python: &str, dir: &Path) -> Option<LiteRt> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/int8_litert.py");
        let stderr = std::fs::File::create(dir.join("litert.stderr")).ok()?;
        let mut child = Command::new(python)
            .arg(script)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| eprintln!("litert: cannot start {python}: {e}"))
            .ok()?;
        let stdin = child.stdin.take()?;
        let stdout = BufReader::new(child.stdout.take()?);
        let mut me = LiteRt {
            child,
            stdin,
            stdout,
            results: HashMap::new(),
        };
        me.read_until("ready")?;
        Some(me)
    }

    /// Reads lines up to `end`, keeping the `result` lines; `None` if the script stopped.
    fn read_until(&mut self, end: &str) -> Option<Vec<Vec<String>>> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim();
            if line == end {
                return Some(lines);
            }
            if let Some(rest) = line.strip_prefix("result ") {
                let words: Vec<String> = rest.split_whitespace().map(String::from).collect();
                if words.len() >= 2 {
                    self.results
                        .insert((words[0].clone(), words[1].clone()), words[2..].join(" "));
                }
                lines.push(words);
            }
        }
    }

    fn get(&self, model: &str, key: &str) -> Option<&str> {
        self.results
            .get(&(model.to_string(), key.to_string()))
            .map(String::as_str)
    }

    fn number(&self, model: &str, key: &str) -> Option<f64> {
        self.get(model, key)?.parse().ok()
    }

    /// One timing round of `model`: µs per inference for each set-up.
    fn round(&mut self, model: &str) -> Option<HashMap<String, f64>> {
        writeln!(self.stdin, "time {model} {PASSES}").ok()?;
        self.stdin.flush().ok()?;
        let lines = self.read_until("done")?;
        Some(
            lines
                .iter()
                .filter(|w| w.len() == 4 && w[1] == "time")
                .filter_map(|w| Some((w[2].clone(), w[3].parse().ok()?)))
                .collect(),
        )
    }

    fn stop(mut self) {
        let _ = writeln!(self.stdin, "quit");
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() {
    let python = python();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tinyml-int8-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let cases = [digits_case(&dir), kws_case(&dir)];
    std::fs::write(
        dir.join("models.txt"),
        cases
            .iter()
            .map(|c| format!("{}\n", c.name))
            .collect::<String>(),
    )
    .expect("write models.txt");
    let mut litert = LiteRt::start(&python, &dir);
    if litert.is_none() {
        eprintln!(
            "litert: not run ({}):\n{}",
            python,
            last_lines(&dir.join("litert.stderr"), 5)
        );
    }

    // Interleaved rounds: ours, LiteRT, ours, LiteRT…
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut theirs: Vec<HashMap<String, Vec<f64>>> = vec![HashMap::new(); cases.len()];
    // Round 0 warms both up and is not counted.
    for round in 0..=ROUNDS {
        for (k, case) in cases.iter().enumerate() {
            let us = time_ours(case, PASSES);
            let lite = litert.as_mut().and_then(|l| l.round(case.name));
            if round == 0 {
                continue;
            }
            ours[k].push(us);
            for (variant, t) in lite.into_iter().flatten() {
                theirs[k].entry(variant).or_default().push(t);
            }
        }
    }

    println!(
        "int8 inference on the host, batch 1, one inference at a time, input already int8; \
         µs per inference, median of {ROUNDS} interleaved rounds of {PASSES} passes over the \
         test set"
    );
    println!("cpu: {}", cpu());
    println!(
        "{:<11} {:>8} {:>11} {:>12} {:>13} {:>15} {:>17}",
        "model",
        "ours",
        "LiteRT 1t",
        "ours/LiteRT",
        "LiteRT invoke",
        "LiteRT default",
        "LiteRT 1t builtin"
    );
    let med = |k: usize, v: &str| {
        theirs[k]
            .get(v)
            .filter(|t| !t.is_empty())
            .map(|t| median(t.clone()))
    };
    let show = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
    for (k, case) in cases.iter().enumerate() {
        let o = median(ours[k].clone());
        let t1 = med(k, VARIANTS[0]);
        println!(
            "{:<11} {:>8.1} {:>11} {:>12} {:>13} {:>15} {:>17}",
            case.name,
            o,
            show(t1),
            t1.map_or("-".into(), |t| format!("{:.2}", o / t)),
            show(med(k, VARIANTS[1])),
            show(med(k, VARIANTS[2])),
            show(med(k, VARIANTS[3])),
        );
    }
    println!(
        "(LiteRT 1t: set_tensor + invoke + get_tensor from Python, 1 thread, XNNPACK as by \
         default; invoke: invoke() alone, 1 thread; default: default thread count; builtin: 1 \
         thread, no default delegate)"
    );
    println!();
    println!(
        "{:<11} {:>6} {:>10} {:>10} {:>9} {:>11} {:>11} {:>13}",
        "model", "test", "int8 ours", "LiteRT", "agree", "float kit", "bytes ours", "bytes .tflite"
    );
    for case in &cases {
        let l = litert.as_ref();
        let n = |key: &str| l.and_then(|l| l.number(case.name, key));
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.1}%", 100.0 * x));
        println!(
            "{:<11} {:>6} {:>10} {:>10} {:>9} {:>11} {:>11} {:>13}",
            case.name,
            case.labels.len(),
            pct(Some(case.accuracy())),
            pct(n("accuracy")),
            pct(n("agreement")),
            pct(n("float_accuracy_kit")),
            case.int8.size_bytes(),
            n("tflite_bytes").map_or("-".into(), |b| format!("{b:.0}")),
        );
    }
    println!();
    for case in &cases {
        let our_in = case.int8.model().input();
        let our_out = case.int8.model().output();
        println!(
            "{}: ours input scale {:.6e} zero point {}, output {:.6e} {}; arena {} bytes{}",
            case.name,
            our_in.scale,
            our_in.zero_point,
            our_out.scale,
            our_out.zero_point,
            case.int8.arena_bytes(),
            if case.consistent {
                ""
            } else {
                "; WARNING: the bench's inputs do not give the kit's own int8 answers"
            }
        );
        if let Some(l) = litert.as_ref() {
            let g = |key: &str| l.get(case.name, key).unwrap_or("-");
            println!(
                "{}: LiteRT input (scale, zero point) {}, output {}; answers with and without \
                 XNNPACK agree on {}",
                case.name,
                g("input_quantization"),
                g("output_quantization"),
                g("builtin_agreement"),
            );
            println!(
                "{}: Keras float logits vs kit: max abs diff {} (largest |logit| {}), float \
                 accuracy Keras {}",
                case.name,
                g("float_max_abs_diff"),
                g("float_max_abs_logit"),
                g("float_accuracy_keras"),
            );
            println!("{}: LiteRT ops {}", case.name, g("ops"));
            println!(
                "{}: LiteRT ops without delegate {}",
                case.name,
                g("ops_builtin")
            );
        }
    }
    for (k, case) in cases.iter().enumerate() {
        let show = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let t1 = theirs[k].get("t1").map_or(&[][..], |v| &v[..]);
        println!(
            "{} rounds (µs): ours {}; LiteRT 1t {}",
            case.name,
            show(&ours[k]),
            show(t1)
        );
        if !t1.is_empty() {
            let ratios: Vec<f64> = ours[k].iter().zip(t1).map(|(o, t)| o / t).collect();
            println!(
                "{}: ours/LiteRT 1t per round {}; median {:.2}",
                case.name,
                ratios
                    .iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                median(ratios.clone())
            );
        }
    }
    let keep = std::env::var_os("TINYML_BENCH_KEEP").is_some();
    match litert {
        Some(l) => {
            l.stop();
            if keep {
                eprintln!("inputs and models kept in {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        None => eprintln!("inputs and LiteRT's log kept in {}", dir.display()),
    }
}
