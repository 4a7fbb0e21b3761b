//! The board's MFCC (tinyml-core) against librosa.
//!
//! `data/mfcc_golden.json` comes from `tools/golden/mfcc_librosa.py` (librosa 0.11) on real
//! speech; CI checks against it without Python. When a Python with librosa is present
//! (`TINYML_PYTHON`, or the benchmark venv `~/.cache/tinyml-kit/bench-venv`), a second test runs
//! librosa itself on the same files.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tinyml_kit::audio::{librosa_expression, Audio};
use tinyml_kit::prelude::FeatureConfig;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn config(v: &Value) -> FeatureConfig {
    serde_json::from_value(v.clone()).expect("a FeatureConfig")
}

/// Compares every case of a golden document; returns the worst error as a fraction of its
/// case's value range.
fn check(golden: &Value) -> f64 {
    let cases = golden["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 12);
    let mut worst = 0f64;
    for case in cases {
        let config = config(&case["config"]);
        let audio = Audio::load(root().join(case["wav"].as_str().unwrap())).unwrap();
        let ours = audio.features(&config).unwrap();
        let expected: Vec<f64> = case["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let name = format!("{} {}", case["wav"], case["config_name"]);
        assert_eq!(
            librosa_expression(&config),
            case["librosa"].as_str().unwrap(),
            "{name}: `tinyml mfcc --json` must print the call the golden was made with"
        );
        assert_eq!(
            ours.frames as u64,
            case["frames"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            ours.coefficients as u64,
            case["coefficients"].as_u64().unwrap(),
            "{name}"
        );
        let lo = expected.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = expected.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let max_diff = ours
            .values
            .iter()
            .zip(&expected)
            .map(|(&a, &b)| (a as f64 - b).abs())
            .fold(0.0, f64::max);
        let relative = max_diff / (hi - lo);
        assert!(
            relative <= 1e-3,
            "{name}: max |ours - librosa| = {max_diff:.5} is {relative:.2e} of the range {:.1}",
            hi - lo
        );
        eprintln!("{name}: max difference {max_diff:.5} ({relative:.1e} of the range)");
        worst = worst.max(relative);
    }
    worst
}

#[test]
fn mfcc_matches_the_librosa_golden_file() {
    let text = std::fs::read_to_string(root().join("crate/tests/data/mfcc_golden.json")).unwrap();
    let golden: Value = serde_json::from_str(&text).unwrap();
    let worst = check(&golden);
    assert!(
        worst > 0.0,
        "identical to 5 decimals is not believable: is the golden stale?"
    );
}

#[test]
fn mfcc_matches_librosa_run_now_when_python_is_present() {
    let python = std::env::var_os("TINYML_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let venv = Path::new(&home).join(".cache/tinyml-kit/bench-venv/bin/python");
            venv.exists().then_some(venv)
        });
    let Some(python) = python else {
        eprintln!("skipped: no Python with librosa (set TINYML_PYTHON or run tools/bench-setup)");
        return;
    };
    let has_librosa = std::process::Command::new(&python)
        .args(["-c", "import librosa, soundfile"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_librosa {
        eprintln!("skipped: {} has no librosa", python.display());
        return;
    }
    let out = std::env::temp_dir().join(format!("tinyml-mfcc-golden-{}.json", std::process::id()));
    let status = std::process::Command::new(&python)
        .arg(root().join("tools/golden/mfcc_librosa.py"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "the golden script failed");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    check(&golden);
}
