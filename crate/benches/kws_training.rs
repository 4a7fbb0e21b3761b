//! Keyword CNN training time per epoch, ours against Keras on the same clips, in one run.
//!
//! `cargo bench -p tinyml-kit --bench kws_training` trains the kit's keyword CNN
//! (`KwsArchitecture::Cnn`: 49×13 MFCC in, conv 16 3×3 same, relu, max pool 2, conv 32 3×3 same,
//! relu, max pool 2, dropout 0.3, dense 10; batch 32, Adam 1e-3) on the 2,000 clips of four
//! speakers of the spoken digits in data/fsdd (george held out), and Keras the same network on
//! librosa's MFCC of the same clips (`bench/kws_keras.py`, which computes the features that
//! match the kit's to 1e-6). No augmentation on either side. Prints the median seconds per epoch
//! (the first Keras epoch, which traces the graph, is left out) and both models' accuracy on
//! george. Python: `$TINYML_BENCH_PYTHON` (default `~/.cache/tinyml-kit/bench-venv/bin/python`,
//! with tensorflow-cpu and librosa).

mod common;

use common::{median, python};

use std::process::Command;

use tinyml_kit::kws::{KeywordData, KwsTrainer};

const ROUNDS: usize = 3;
const EPOCHS: usize = 6;

fn keras(python: &str) -> Option<(f64, f64)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/kws_keras.py");
    let data = tinyml_kit::kws::default_dir();
    let out = Command::new(python)
        .arg(script)
        .arg(&data)
        .args(["george", &EPOCHS.to_string(), "--no-cmn"])
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("keras: {}", err.lines().last().unwrap_or(""));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<f64>().ok())
    };
    Some((value("epoch_seconds")?, value("accuracy")?))
}

fn main() {
    let python = python();
    let data = KeywordData::course_default().expect("the spoken digits in data/fsdd");
    let (train, test) = data.split_by_speaker(&["george"]).expect("split");
    let trainer = KwsTrainer::params()
        .epochs(EPOCHS)
        .clip_mean_normalization(false)
        .progress(false);
    // One untimed epoch first: the first training in a process pays for thread start-up and
    // memory it then reuses.
    KwsTrainer::params()
        .epochs(1)
        .progress(false)
        .fit(&train, None)
        .expect("warm-up");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_acc, mut their_acc) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let model = trainer.fit(&train, None).expect("training");
        let history = model.history.as_ref().expect("history");
        ours.push(median(history.epochs.iter().map(|e| e.seconds).collect()));
        our_acc.push(model.evaluate(&test).expect("evaluation").accuracy());
        if let Some((seconds, accuracy)) = keras(&python) {
            theirs.push(seconds);
            their_acc.push(accuracy);
        }
    }
    println!(
        "keyword CNN training, {} clips (4 speakers), batch 32, {EPOCHS} epochs, {ROUNDS} rounds (median)",
        train.len()
    );
    println!(
        "{:<8} {:>12} {:>18}",
        "engine", "s / epoch", "accuracy (george)"
    );
    println!(
        "{:<8} {:>12.3} {:>17.1}%",
        "ours",
        median(ours.clone()),
        100.0 * median(our_acc)
    );
    if theirs.is_empty() {
        println!("{:<8} {:>12} {:>18}", "keras", "not run", "-");
    } else {
        println!(
            "{:<8} {:>12.3} {:>17.1}%",
            "keras",
            median(theirs.clone()),
            100.0 * median(their_acc)
        );
        let per_round: Vec<f64> = theirs.iter().zip(&ours).map(|(k, o)| k / o).collect();
        let show = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.3}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "rounds (s / epoch): ours {}, keras {}",
            show(&ours),
            show(&theirs)
        );
        println!(
            "ours is {:.2}× Keras's speed (median of per-round ratios)",
            median(per_round)
        );
    }
}
