//! How long a class's keyword model takes to train: `tinyml kws train` as the teacher runs it
//! (its defaults: the CNN, 20 epochs, 3 augmented copies, "unknown" and "silence" added) on a
//! class-sized set, 20 speakers × 4 words × 10 takes.
//!
//! `cargo bench -p tinyml-kit --bench class_training` makes the class once with espeak-ng (20
//! generated voices: its variants at several pitches and paces, saying *Yá'át'ééh*, *aoo'*,
//! *dooda*, *hágoónee'* as spelled; kept in `target/bench-class`), then runs the release
//! `tinyml kws train` on it `ROUNDS` times, with `--no-folds` (one model) and as it runs by
//! default (three speaker folds, then the model), and prints the wall time of each, their
//! medians, and the clips trained on. The goal is under 3 minutes on 2 cores.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const WORDS: [&str; 4] = ["Yá'át'ééh", "aoo'", "dooda", "hágoónee'"];
const SPEAKERS: usize = 20;
const TAKES: usize = 10;
const ROUNDS: usize = 3;
const VARIANTS: [&str; 10] = ["m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5"];

fn make_class(dir: &Path) {
    let done = dir.join("words.txt");
    if done.is_file() {
        return;
    }
    let mut spellings = tinyml_kit::words::Spellings::default();
    for word in WORDS {
        let id = tinyml_kit::words::word_id(word).expect("a word");
        spellings.insert(&id, word);
        std::fs::create_dir_all(dir.join(&id)).expect("a folder");
        for s in 0..SPEAKERS {
            let voice = format!("en+{}", VARIANTS[s % VARIANTS.len()]);
            for take in 0..TAKES {
                let pitch = 30 + (s / VARIANTS.len()) * 25 + 2 * (take % 4);
                let speed = 130 + 4 * take + 3 * (s % 5);
                let path = dir.join(&id).join(format!("s{s:02}_nohash_{take}.wav"));
                let out = Command::new("espeak-ng")
                    .args(["-v", &voice, "-p", &pitch.to_string()])
                    .args(["-s", &speed.to_string(), "-w"])
                    .arg(&path)
                    .arg(word)
                    .output()
                    .expect("espeak-ng (apt-get install espeak-ng)");
                assert!(out.status.success(), "espeak-ng failed");
            }
        }
    }
    spellings.save(dir).expect("words.txt");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let class = root.join("bench-class");
    make_class(&class);
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "tinyml-kit", "--bin", "tinyml"])
        .status()
        .expect("cargo");
    assert!(status.success());
    let tinyml: PathBuf = root.join("release/tinyml");
    let model = root.join("bench-class.tkf");
    println!(
        "| {SPEAKERS} speakers × {} words × {TAKES} takes, + unknown + silence, 3 augmented \
         copies, 20 epochs | clips recorded | rounds (s) | median |\n|---|---|---|---|",
        WORDS.len()
    );
    for (what, extra) in [
        ("`kws train --no-folds` (one model)", &["--no-folds"][..]),
        ("`kws train` (3 folds, then the model)", &[][..]),
    ] {
        let mut seconds = Vec::new();
        let mut clips = 0;
        for round in 1..=ROUNDS {
            let start = Instant::now();
            let out = Command::new(&tinyml)
                .args(["kws", "train", "--data"])
                .arg(&class)
                .args(extra)
                .arg("--out")
                .arg(&model)
                .arg("--json")
                .output()
                .expect("tinyml");
            let elapsed = start.elapsed().as_secs_f64();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            clips = json["train_clips"].as_u64().unwrap_or(0);
            eprintln!("{what}, round {round}: {elapsed:.1} s");
            seconds.push(elapsed);
        }
        seconds.sort_by(f64::total_cmp);
        println!(
            "| {what} | {clips} | {} | {:.1} s |",
            seconds
                .iter()
                .map(|s| format!("{s:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            seconds[seconds.len() / 2]
        );
    }
}
