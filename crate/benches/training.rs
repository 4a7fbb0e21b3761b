//! Training throughput of the reference CNN and MLP, ours against Keras, interleaved in one run.
//!
//! `cargo bench -p tinyml-kit --bench training` prints a table of median images per second over
//! several rounds. Keras runs `bench/keras_train.py` with the Python of `$TINYML_BENCH_PYTHON`
//! (default `~/.cache/tinyml-kit/bench-venv/bin/python`, a venv with `tensorflow-cpu`); without
//! it the Keras columns say so. Rounds alternate ours / Keras so both see the same machine load.

mod common;

use common::{median, python};

use std::process::Command;
use std::time::Instant;

use tinyml_kit::digits::{Architecture, Digits, DigitsModel};
use tinyml_kit::nn::TrainParams;

const ROUNDS: usize = 5;
const IMAGES: usize = 2048;
const BATCH: usize = 32;

fn ours(arch: Architecture, data: &Digits) -> f64 {
    let mut model = DigitsModel::new(arch, 1);
    let params = TrainParams::new()
        .epochs(1)
        .batch_size(BATCH)
        .progress(false);
    let (x, y) = (data.inputs(), data.targets());
    let start = Instant::now();
    params
        .fit(&mut model.network, &x, &y, None)
        .expect("training runs");
    IMAGES as f64 / start.elapsed().as_secs_f64()
}

fn keras(arch: Architecture, python: &str) -> Option<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/keras_train.py");
    let model = match arch {
        Architecture::Cnn => "cnn",
        Architecture::Mlp => "mlp",
    };
    let out = Command::new(python)
        .args([script, model, &IMAGES.to_string(), &BATCH.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "keras: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()?
        .parse()
        .ok()
}

fn main() {
    let python = python();
    let data = Digits::course_default().sample(IMAGES, 3);
    println!("training throughput, {IMAGES} MNIST images per round, batch {BATCH}, Adam 1e-3, {ROUNDS} rounds (median)");
    println!(
        "{:<6} {:>14} {:>14} {:>8}",
        "model", "ours (img/s)", "keras (img/s)", "ratio"
    );
    for arch in [Architecture::Cnn, Architecture::Mlp] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            a.push(ours(arch, &data));
            if let Some(k) = keras(arch, &python) {
                b.push(k);
            }
        }
        let ours = median(a);
        let name = format!("{arch:?}").to_lowercase();
        if b.is_empty() {
            println!("{name:<6} {ours:>14.0} {:>14} {:>8}", "n/a", "-");
        } else {
            let k = median(b);
            println!("{name:<6} {ours:>14.0} {k:>14.0} {:>7.2}x", ours / k);
        }
    }
}
