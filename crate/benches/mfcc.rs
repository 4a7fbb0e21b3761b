//! MFCC throughput, tinyml-core against librosa and python_speech_features, in one run.
//!
//! `cargo bench -p tinyml-kit --bench mfcc` makes 1 s, 16 kHz keyword clips from the spoken
//! digits in data/fsdd (200 clips), writes them as WAV files for the Python side, and prints a table
//! of median seconds of audio processed per second of compute (×real time). Python runs
//! `bench/mfcc_python.py` with `$TINYML_BENCH_PYTHON` (default
//! `~/.cache/tinyml-kit/bench-venv/bin/python`); without librosa its rows say so. Rounds
//! alternate ours / Python so both see the same machine load. Ours runs on one thread.

mod common;

use common::{median, python};

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use tinyml_core::mfcc::{FeatureConfig, Mfcc};
use tinyml_kit::audio::Audio;
use tinyml_kit::kws::KeywordData;

const ROUNDS: usize = 7;
const CLIPS: usize = 200;

fn main() {
    let python = python();
    let config = FeatureConfig::KEYWORDS;
    let data = KeywordData::course_default().expect("the spoken digits in data/fsdd");
    let chosen: Vec<&Audio> = data
        .clips()
        .iter()
        .step_by(data.len() / CLIPS)
        .take(CLIPS)
        .collect();
    let clips: Vec<&[f32]> = chosen.iter().map(|c| c.samples()).collect();
    let dir = std::env::temp_dir().join(format!("tinyml-mfcc-bench-{}", std::process::id()));
    let paths: Vec<String> = chosen
        .iter()
        .enumerate()
        .map(|(i, clip)| {
            let path = dir.join(format!("{i:03}.wav"));
            clip.save(&path).expect("write clip");
            path.display().to_string()
        })
        .collect();
    let seconds: f64 = clips.len() as f64;
    let mfcc = Mfcc::new(config).expect("keyword config");
    let mut out = vec![0f32; mfcc.frames(16_000) * mfcc.coefficients()];
    let mut runs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..ROUNDS {
        // Five passes over the clips per round: long enough for a steady timer reading.
        let start = Instant::now();
        for _ in 0..5 {
            for clip in &clips {
                mfcc.process(clip, &mut out).expect("features");
                std::hint::black_box(&out);
            }
        }
        runs.entry("tinyml-core")
            .or_default()
            .push(5.0 * seconds / start.elapsed().as_secs_f64());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/mfcc_python.py");
        match Command::new(&python)
            .arg(script)
            .arg("1")
            .args(&paths)
            .output()
        {
            Ok(o) if o.status.success() => {
                for line in String::from_utf8_lossy(&o.stdout).lines() {
                    if let Some((name, value)) = line.split_once(' ') {
                        if let Ok(v) = value.parse::<f64>() {
                            let name = if name == "librosa" {
                                "librosa"
                            } else {
                                "python_speech_features"
                            };
                            runs.entry(name).or_default().push(v);
                        }
                    }
                }
            }
            Ok(o) => eprintln!(
                "python: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
            Err(e) => eprintln!("python ({python}): {e}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("MFCC throughput: {CLIPS} clips of 1 s at 16 kHz, 49 frames × 13 MFCC (FeatureConfig::KEYWORDS), {ROUNDS} rounds (median)");
    println!("(ours is: the median over rounds of ours / theirs in the same round)");
    println!(
        "{:<24} {:>16} {:>12}",
        "implementation", "× real time", "ours is"
    );
    for name in ["tinyml-core", "librosa", "python_speech_features"] {
        match runs.get(name) {
            Some(v) if !v.is_empty() => {
                let m = median(v.clone());
                let ratio = if name == "tinyml-core" {
                    "-".to_string()
                } else {
                    let per_round = runs["tinyml-core"]
                        .iter()
                        .zip(v)
                        .map(|(a, b)| a / b)
                        .collect();
                    format!("{:.1}×", median(per_round))
                };
                println!("{name:<24} {m:>16.0} {ratio:>12}");
            }
            _ => println!("{name:<24} {:>16} {:>12}", "not run", "-"),
        }
    }
}
