//! The board's arithmetic on an emulated Cortex-M4: `tinyml-core`'s interpreter and MFCC,
//! compiled for `thumbv7em-none-eabihf` (firmware/qemu), run under
//! `qemu-system-arm -machine mps2-an386 -cpu cortex-m4`, must give the laptop's results byte for
//! byte:
//! - every op on random shapes, with the optimised and the reference kernels;
//! - the digits MLP and CNN and the three keyword networks on 100 inputs each;
//! - the keyword pipeline from raw audio (MFCC, standardisation, quantization, network) on 20
//!   clips: the features' `f32` bits, the int8 input and the outputs.
//!
//! A second test counts the instructions of one inference of each model (and of the MFCC of
//! one second of audio) with QEMU executing one instruction per translation block and logging
//! each (`-accel tcg,one-insn-per-tb=on`, or `-singlestep` before QEMU 8.1, with `-d
//! exec,nochain`); it writes `target/qemu/instructions.json`.
//! Instructions are not cycles: a Cortex-M4 takes one or more cycles per instruction (loads,
//! multiplies-accumulate, branches and flash wait states cost more), so cycles are higher.
//!
//! Environment: `CI` non-empty makes a missing `qemu-system-arm` a failure (tools/setup installs
//! Debian's package); otherwise the tests say "skipped" and pass.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tinyml_core::mfcc::{FeatureConfig, Mfcc};
use tinyml_core::model::Kernels;
use tinyml_kit::digits::{Architecture, Digits, DigitsTrainer};
use tinyml_kit::fewshot::KwsEmbedding;
use tinyml_kit::front_end::InputKind;
use tinyml_kit::kws::{KeywordData, KwsArchitecture, KwsTrainer, UPPER_HZ_FRICATIVES};
use tinyml_kit::nn::{Layer, Network, Padding, Shape};
use tinyml_kit::quantize::{quantize, Calibration, QuantizeOptions, QuantizedModel};
use tinyml_kit::rng::Rng;
use tinyml_tests::{build_firmware, in_ci, target_dir};

const QEMU: &str = "qemu-system-arm";
/// Longest a harness run may take (the instruction-counting run is the slow one).
const TIMEOUT: Duration = Duration::from_secs(900);

/// `Some(())` when QEMU is there; `None` (skip) on a laptop without it; a panic in CI.
fn qemu_available() -> Option<()> {
    let found = Command::new(QEMU)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(());
    }
    let message = format!(
        "{QEMU} not found: install Debian's qemu-system-arm (tools/setup does), then run the tests again"
    );
    if in_ci() {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    None
}

/// Builds the harness (release, as the board runs) and gives the ELF.
fn harness() -> PathBuf {
    build_firmware("qemu", "tinyml-qemu")
}

/// One case for the harness and what the laptop computed for it.
struct Case {
    name: String,
    kind: u32,
    flags: u32,
    model: Vec<u8>,
    /// Kind 1: inputs one after another; kind 2: empty.
    inputs: Vec<i8>,
    /// Kind 2: clips of `f32` samples.
    clips: Vec<Vec<f32>>,
    count: usize,
    expected: Vec<u8>,
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn as_u8(values: &[i8]) -> Vec<u8> {
    values.iter().map(|&v| v as u8).collect()
}

impl Case {
    /// Inputs → outputs, computed on the laptop with both kernel sets (which must agree).
    fn inference(name: &str, model: &QuantizedModel, inputs: &[i8], reference: bool) -> Case {
        let m = model.model();
        let (n_in, n_out) = (m.input().len(), m.output().len());
        let mut expected = 0u32.to_le_bytes().to_vec();
        let mut arena = vec![0i8; m.arena_bytes()];
        let mut y = vec![0i8; n_out];
        let mut y_ref = vec![0i8; n_out];
        for x in inputs.chunks_exact(n_in) {
            m.invoke(&mut arena, x, &mut y, Kernels::Optimized)
                .expect("runs");
            m.invoke(&mut arena, x, &mut y_ref, Kernels::Reference)
                .expect("runs");
            assert_eq!(
                y, y_ref,
                "{name}: optimised and reference kernels differ on the laptop"
            );
            expected.extend(as_u8(&y));
        }
        pad4(&mut expected);
        Case {
            name: name.into(),
            kind: 1,
            flags: reference as u32,
            model: model.bytes().to_vec(),
            inputs: inputs.to_vec(),
            clips: Vec::new(),
            count: inputs.len() / n_in,
            expected,
        }
    }

    /// Audio → MFCC → int8 input → outputs, on the laptop.
    fn keyword_pipeline(name: &str, model: &QuantizedModel, clips: Vec<Vec<f32>>) -> Case {
        let m = model.model();
        let config = model.keyword_config().expect("a keyword model");
        let mfcc = Mfcc::new(config).expect("valid config");
        let (n_in, n_out) = (m.input().len(), m.output().len());
        let mut expected = 0u32.to_le_bytes().to_vec();
        let mut arena = vec![0i8; m.arena_bytes()];
        for clip in &clips {
            let mut f = vec![0f32; n_in];
            mfcc.process(clip, &mut f).expect("features");
            for v in &f {
                expected.extend(v.to_le_bytes());
            }
            let mut x = vec![0i8; n_in];
            m.quantize_input(&mut f, &mut x).expect("quantizes");
            expected.extend(as_u8(&x));
            let mut y = vec![0i8; n_out];
            m.invoke(&mut arena, &x, &mut y, Kernels::Optimized)
                .expect("runs");
            expected.extend(as_u8(&y));
        }
        pad4(&mut expected);
        Case {
            name: name.into(),
            kind: 2,
            flags: 0,
            model: model.bytes().to_vec(),
            inputs: Vec::new(),
            count: clips.len(),
            clips,
            expected,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend(self.kind.to_le_bytes());
        out.extend(self.flags.to_le_bytes());
        out.extend((self.model.len() as u32).to_le_bytes());
        out.extend(&self.model);
        pad4(out);
        out.extend((self.count as u32).to_le_bytes());
        if self.kind == 1 {
            out.extend(as_u8(&self.inputs));
            pad4(out);
        } else {
            out.extend((self.clips[0].len() as u32).to_le_bytes());
            for clip in &self.clips {
                for s in clip {
                    out.extend(s.to_le_bytes());
                }
            }
        }
    }
}

/// What a harness run printed and wrote.
struct Run {
    stdout: String,
    out: Vec<u8>,
    /// Instructions between each pair of markers (counting runs only).
    counts: Vec<u64>,
}

/// Runs the harness on `cases` in a fresh folder; with `count`, traces every instruction and
/// counts those between the markers at `markers`.
/// QEMU's option for one guest instruction per translation block: `-singlestep` until QEMU 8.1
/// replaced it with `-accel tcg,one-insn-per-tb=on` (QEMU 9 removed the old one; Debian 12 has
/// 7.2, its backports 10).
fn one_instruction_per_block() -> Vec<&'static str> {
    let version = Command::new(QEMU)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let numbers: Vec<u32> = version
        .split("version ")
        .nth(1)
        .unwrap_or("")
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers[..] {
        [major, minor] if (major, minor) >= (8, 1) => vec!["-accel", "tcg,one-insn-per-tb=on"],
        _ => vec!["-singlestep"],
    }
}

fn run(elf: &Path, cases: &[Case], count: Option<(u64, u64)>) -> Run {
    let dir = target_dir()
        .join("qemu")
        .join(if count.is_some() { "count" } else { "run" });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let mut file = b"TKQC".to_vec();
    file.extend(1u32.to_le_bytes());
    file.extend((cases.len() as u32).to_le_bytes());
    for c in cases {
        c.write(&mut file);
    }
    std::fs::write(dir.join("cases.bin"), &file).expect("writes cases");
    let mut cmd = Command::new(QEMU);
    cmd.args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic"])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(elf)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if count.is_some() {
        cmd.args(one_instruction_per_block())
            .args(["-d", "exec,nochain"]);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("qemu starts");
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    // The trace (or QEMU's complaints) on stderr.
    let err_thread = std::thread::spawn(move || {
        let mut counts = Vec::new();
        let mut tail = Vec::new();
        let mut counting: Option<u64> = None;
        let mut reader = BufReader::with_capacity(1 << 20, stderr);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            match (count, pc_of(&line)) {
                (Some((begin, end)), Some(pc)) => {
                    if pc == begin {
                        counting = Some(0);
                    } else if pc == end {
                        counts.extend(counting.take());
                    } else if let Some(n) = counting.as_mut() {
                        *n += 1;
                    }
                }
                _ => {
                    if tail.len() < 50 {
                        tail.push(line.clone());
                    }
                }
            }
            line.clear();
        }
        (counts, tail.concat())
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("QEMU ran longer than {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_thread.join().expect("stdout reader");
    let (counts, stderr) = err_thread.join().expect("stderr reader");
    assert!(
        status.success(),
        "the harness failed in QEMU ({status}):\n{stdout}\n{stderr}"
    );
    let out = std::fs::read(dir.join("out.bin")).expect("the harness wrote out.bin");
    Run {
        stdout,
        out,
        counts,
    }
}

/// The guest PC of an `-d exec` line: `Trace 0: 0x… [cs_base/pc/flags/cflags] …`.
fn pc_of(line: &str) -> Option<u64> {
    let inside = line.strip_prefix("Trace ")?.split('[').nth(1)?;
    let pc = inside.split('/').nth(1)?;
    u64::from_str_radix(pc, 16).ok()
}

fn markers(stdout: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("markers "))
        .expect("the harness prints its markers");
    let addr = |key: &str| {
        let v = line
            .split(key)
            .nth(1)
            .expect("marker")
            .split_whitespace()
            .next()
            .expect("addr");
        u64::from_str_radix(v.trim_start_matches("0x"), 16).expect("hex")
    };
    (addr("begin="), addr("end="))
}

/// Compares what the board computed with what the laptop computed, case by case.
fn compare(cases: &[Case], out: &[u8]) {
    let mut at = 0;
    for c in cases {
        let got = out.get(at..at + c.expected.len()).unwrap_or_else(|| {
            panic!(
                "{}: out.bin ends at {} bytes, before this case",
                c.name,
                out.len()
            )
        });
        if let Some(i) = got.iter().zip(&c.expected).position(|(a, b)| a != b) {
            panic!(
                "{}: the Cortex-M4 and the laptop differ at byte {i} of the case ({} on the board, {} on the laptop)",
                c.name, got[i], c.expected[i]
            );
        }
        at += c.expected.len();
    }
    assert_eq!(at, out.len(), "out.bin has extra bytes");
}

/// Both tests use the same models: trained once, by whichever test asks first.
fn digits_models() -> &'static (Digits, Vec<(String, QuantizedModel)>) {
    static MODELS: OnceLock<(Digits, Vec<(String, QuantizedModel)>)> = OnceLock::new();
    MODELS.get_or_init(train_digits_models)
}

fn train_digits_models() -> (Digits, Vec<(String, QuantizedModel)>) {
    let all = Digits::course_default();
    let (train, test) = all.split(500, 3).expect("split");
    let train = train.sample(1500, 3);
    let mut models = Vec::new();
    for arch in [Architecture::Mlp, Architecture::Cnn] {
        let m = DigitsTrainer::params()
            .architecture(arch)
            .epochs(1)
            .seed(3)
            .progress(false)
            .fit(&train, Some(&test))
            .expect("trains");
        let q = m.quantize(&train.sample(200, 4)).expect("quantizes");
        models.push((arch.kind().to_string(), q));
    }
    (test, models)
}

fn digit_inputs(model: &QuantizedModel, digits: &Digits, n: usize) -> Vec<i8> {
    let m = model.model();
    let mut all = Vec::new();
    for i in 0..n {
        let mut x = vec![0i8; 784];
        m.quantize_image(&digits.image(i).expect("image"), &mut x)
            .expect("quantizes");
        all.extend(x);
    }
    all
}

/// A small keyword set, the three networks (the CNN trained briefly, the others as initialised:
/// bit-exactness does not depend on accuracy), and 100 test clips.
fn keyword_models() -> &'static (KeywordData, Vec<(String, QuantizedModel)>) {
    static MODELS: OnceLock<(KeywordData, Vec<(String, QuantizedModel)>)> = OnceLock::new();
    MODELS.get_or_init(train_keyword_models)
}

fn train_keyword_models() -> (KeywordData, Vec<(String, QuantizedModel)>) {
    let data = KeywordData::course_default().expect("data/fsdd");
    let (train, test) = data.split_clips(0.2, 5).expect("split");
    let (test, _) = test.split_clips(0.8, 6).expect("split");
    let (small, _) = train.split_clips(0.85, 7).expect("split");
    let mut models = Vec::new();
    for arch in [
        KwsArchitecture::Cnn,
        KwsArchitecture::DsCnn,
        KwsArchitecture::TinyConv,
    ] {
        let epochs = if arch == KwsArchitecture::Cnn { 2 } else { 0 };
        let m = KwsTrainer::params()
            .architecture(arch)
            .epochs(epochs.max(1))
            .seed(5)
            .progress(false)
            .fit(&small, None)
            .expect("trains");
        let q = m.quantize(&small).expect("quantizes");
        models.push((format!("kws-{}", arch.name()), q));
    }
    // A few-shot model: an embedding (one epoch on "0" to "4") and a head learned on "5" to "9".
    let bank = small.only_words(&["0", "1", "2", "3", "4"]).expect("words");
    let new_words = small.only_words(&["5", "6", "7", "8", "9"]).expect("words");
    let embedding = KwsTrainer::params()
        .architecture(KwsArchitecture::Embedding)
        .epochs(1)
        .seed(5)
        .progress(false)
        .fit(&bank, None)
        .expect("trains");
    let embedding = KwsEmbedding::from_model(embedding, "test embedding").expect("an embedding");
    let few = KwsTrainer::params()
        .few_shot(&embedding)
        .epochs(3)
        .progress(false)
        .fit(&new_words, None)
        .expect("trains");
    let q = few.quantize(&new_words).expect("quantizes");
    models.push(("kws-few-shot (embedding + head)".into(), q));
    // Mel filters up to 8 kHz (for fricatives): the board computes the same features.
    let wide = FeatureConfig {
        fmax_hz: UPPER_HZ_FRICATIVES,
        ..small.config()
    };
    let m = KwsTrainer::params()
        .epochs(1)
        .seed(5)
        .progress(false)
        .fit(&small.clone().with_features(wide).expect("features"), None)
        .expect("trains");
    let q = m
        .quantize(&small.clone().with_features(wide).expect("features"))
        .expect("quantizes");
    models.push(("kws-cnn, mel filters to 8 kHz".into(), q));
    (test, models)
}

/// 20 held-out clips of 1.5 s, and a keyword CNN trained for an epoch on such clips.
fn long_clip_model() -> (Vec<Vec<f32>>, QuantizedModel) {
    let long = FeatureConfig {
        clip_ms: 1_500,
        ..FeatureConfig::KEYWORDS
    };
    let data = KeywordData::course_default_with(long).expect("data/fsdd");
    let (train, test) = data.split_clips(0.2, 5).expect("split");
    let (small, _) = train.split_clips(0.85, 7).expect("split");
    let m = KwsTrainer::params()
        .epochs(1)
        .seed(5)
        .progress(false)
        .fit(&small, None)
        .expect("trains");
    let q = m.quantize(&small).expect("quantizes");
    let clips = test
        .clips()
        .iter()
        .take(20)
        .map(|a| a.samples().to_vec())
        .collect();
    (clips, q)
}

fn keyword_inputs(model: &QuantizedModel, data: &KeywordData, n: usize) -> Vec<i8> {
    let per = model.model().input().len();
    let config = model.keyword_config().expect("a keyword model");
    let features = data
        .clone()
        .with_features(config)
        .expect("its features")
        .features()
        .expect("features");
    features
        .chunks_exact(per)
        .take(n)
        .flat_map(|f| model.quantize_input(f).expect("quantizes"))
        .collect()
}

/// Random networks of one or two layers exercising every op, with random shapes.
fn random_op_models(n: usize) -> Vec<(String, QuantizedModel, Vec<i8>)> {
    let mut rng = Rng::new(42);
    let mut out = Vec::new();
    for i in 0..n {
        let h = 3 + rng.index(10);
        let w = 3 + rng.index(10);
        let c = 1 + rng.index(6);
        let input = Shape::Image {
            height: h,
            width: w,
            channels: c,
        };
        let k = 1 + rng.index(3.min(h.min(w)));
        let stride = 1 + rng.index(2);
        let padding = if rng.index(2) == 0 {
            Padding::Same
        } else {
            Padding::Valid
        };
        let act = [None, Some(Layer::Relu), Some(Layer::Relu6)][rng.index(3)];
        let mut layers = match i % 6 {
            0 => vec![Layer::Conv2d {
                filters: 1 + rng.index(9),
                kernel: k,
                stride,
                padding,
            }],
            1 => vec![Layer::DepthwiseConv2d {
                kernel: k,
                stride,
                padding,
            }],
            2 => vec![
                Layer::Flatten,
                Layer::Dense {
                    units: 1 + rng.index(12),
                },
            ],
            3 => vec![Layer::MaxPool {
                size: 1 + rng.index(2),
            }],
            4 => vec![Layer::AvgPool {
                size: 1 + rng.index(3.min(h.min(w))),
            }],
            _ => vec![Layer::MaxPool { size: 1 }, Layer::Relu6],
        };
        if let Some(a) = act {
            if i % 6 <= 2 {
                layers.push(a);
            }
        }
        if !matches!(layers.last(), Some(Layer::Dense { .. })) {
            layers.push(Layer::Flatten);
        }
        let Ok(mut net) = Network::new(input, layers.clone(), i as u64) else {
            continue;
        };
        // Non-zero biases, so that they are exercised too.
        let mut weights = net.weights();
        for (t, w) in weights.iter_mut().enumerate() {
            if t % 2 == 1 {
                for b in w.iter_mut() {
                    *b = rng.normal(0.0, 0.3) as f32;
                }
            }
        }
        net.set_weights(&weights).expect("same sizes");
        let per = input.len();
        let calibration: Vec<f32> = (0..per * 8).map(|_| rng.normal(0.0, 1.0) as f32).collect();
        let labels: Vec<String> = (0..net.outputs()).map(|j| format!("c{j}")).collect();
        let q = quantize(
            &net,
            &labels,
            &InputKind::Raw,
            &calibration,
            &QuantizeOptions {
                calibration: Calibration::MinMax,
                kind: format!("random-{i}"),
            },
        )
        .expect("quantizes");
        let inputs: Vec<i8> = (0..per * 5)
            .map(|_| (rng.index(256) as i32 - 128) as i8)
            .collect();
        out.push((
            format!("random op model {i} {layers:?} on {h}×{w}×{c}"),
            q,
            inputs,
        ));
    }
    out
}

#[test]
fn cortex_m4_matches_the_laptop_byte_for_byte() {
    if qemu_available().is_none() {
        return;
    }
    let elf = harness();
    let mut cases = Vec::new();
    // Every op on random shapes, both kernel sets.
    for (name, q, inputs) in random_op_models(60) {
        cases.push(Case::inference(
            &format!("{name} (optimised)"),
            &q,
            &inputs,
            false,
        ));
        cases.push(Case::inference(
            &format!("{name} (reference)"),
            &q,
            &inputs,
            true,
        ));
    }
    let random_cases = cases.len();
    let (digits, digit_models) = digits_models();
    for (name, q) in digit_models {
        let inputs = digit_inputs(q, digits, 100);
        cases.push(Case::inference(name, q, &inputs, false));
    }
    let (keywords, keyword_models) = keyword_models();
    for (name, q) in keyword_models {
        let inputs = keyword_inputs(q, keywords, 100);
        assert_eq!(
            inputs.len(),
            100 * q.model().input().len(),
            "100 test clips"
        );
        cases.push(Case::inference(name, q, &inputs, false));
    }
    let clips: Vec<Vec<f32>> = keywords
        .clips()
        .iter()
        .take(20)
        .map(|a| a.samples().to_vec())
        .collect();
    cases.push(Case::keyword_pipeline(
        "keyword pipeline (audio → MFCC → int8 → CNN)",
        &keyword_models[0].1,
        clips.clone(),
    ));
    let wide = keyword_models.last().expect("models");
    cases.push(Case::keyword_pipeline(
        "keyword pipeline, mel filters to 8 kHz",
        &wide.1,
        clips,
    ));
    // Clips of 1.5 s (for longer words): 74 frames through the same MFCC and a CNN of that
    // input, as the board's keyword loop runs them.
    let (long_clips, long_model) = long_clip_model();
    assert_eq!(long_model.model().input().len(), 74 * 13);
    cases.push(Case::keyword_pipeline(
        "keyword pipeline, clips of 1.5 s",
        &long_model,
        long_clips,
    ));
    let started = Instant::now();
    let result = run(&elf, &cases, None);
    compare(&cases, &result.out);
    eprintln!(
        "identical on the Cortex-M4: {random_cases} random op cases, {} models × 100 inputs, \
         20 clips through MFCC to 4 kHz, 20 to 8 kHz and 20 of 1.5 s (QEMU {:.1} s)",
        digit_models.len() + keyword_models.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn instructions_per_inference() {
    if qemu_available().is_none() {
        return;
    }
    let elf = harness();
    let (digits, digit_models) = digits_models();
    let (keywords, keyword_models) = keyword_models();
    let mut cases = Vec::new();
    let mut names = Vec::new();
    for (name, q) in digit_models {
        let mut c = Case::inference(name, q, &digit_inputs(q, digits, 1), false);
        c.flags |= 2;
        cases.push(c);
        names.push(name.clone());
    }
    for (name, q) in keyword_models.iter().skip(1) {
        let mut c = Case::inference(name, q, &keyword_inputs(q, keywords, 1), false);
        c.flags |= 2;
        cases.push(c);
        names.push(name.clone());
    }
    let clip = vec![keywords.clips()[0].samples().to_vec()];
    let mut c = Case::keyword_pipeline("kws-cnn", &keyword_models[0].1, clip);
    c.flags |= 2;
    cases.push(c);
    names.push("MFCC of 1 s of audio (49 frames)".into());
    names.push(keyword_models[0].0.clone());
    let marks = markers(&run(&elf, &[], None).stdout);
    let result = run(&elf, &cases, Some(marks));
    compare(&cases, &result.out);
    assert_eq!(
        result.counts.len(),
        names.len(),
        "one count per marked region"
    );
    let mut table = String::from("instructions (not cycles) on the Cortex-M4, one inference:\n");
    let mut json = serde_json::Map::new();
    for (name, n) in names.iter().zip(&result.counts) {
        table += &format!("  {name:<40} {n:>12}\n");
        json.insert(name.clone(), (*n).into());
        assert!(
            *n > 1000,
            "{name}: {n} instructions is too few to be an inference"
        );
    }
    eprintln!("{table}");
    let path = target_dir().join("qemu/instructions.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("writes");
}
