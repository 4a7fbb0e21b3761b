//! Helpers the integration tests share: a scratch folder, running `tinyml`, reading its output.
#![allow(dead_code)] // each test file uses some of them

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn tinyml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinyml"))
        .args(args)
        .output()
        .expect("run tinyml")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// A fresh folder under the target dir for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts a clean failure: exit code 1, an `error:` line containing every piece, no panic.
pub fn assert_fails_with(o: &Output, pieces: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for p in pieces {
        assert!(err.contains(p), "expected {p:?} in: {err}");
    }
}

/// Rewrites a `.tkm` file's length and CRC after an edit, so that the loader looks past them.
pub fn reseal(bytes: &mut [u8]) {
    if bytes.len() < tinyml_core::model::HEADER_LEN + 4 {
        return;
    }
    let n = bytes.len();
    let at = tinyml_core::model::file::header::FILE_LEN;
    bytes[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
    let crc = tinyml_core::crc32::crc32(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
}

/// A 784 → 512 → 10 network in int8: 407 KB of weights, more than the board's 256 KB slot.
pub fn too_big_mlp() -> tinyml_kit::quantize::QuantizedModel {
    use tinyml_kit::front_end::InputKind;
    use tinyml_kit::nn::{Layer, Network, Shape};
    use tinyml_kit::quantize::{quantize, Calibration, QuantizeOptions};
    let net = Network::new(
        Shape::Flat(784),
        vec![
            Layer::Dense { units: 512 },
            Layer::Relu,
            Layer::Dense { units: 10 },
        ],
        1,
    )
    .expect("valid");
    quantize(
        &net,
        &(0..10).map(|d| d.to_string()).collect::<Vec<_>>(),
        &InputKind::Raw,
        &vec![0.5; 784],
        &QuantizeOptions {
            calibration: Calibration::MinMax,
            kind: "big-mlp".into(),
        },
    )
    .expect("quantizes")
}

/// The path of a program the test needs (`None`: skip it here); under `CI` a missing program
/// is a failure, since tools/setup installs it there.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let message = format!("{name} is not installed (tools/setup installs it)");
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("{message}; CI is set, so this is a failure, not a skip");
        }
        eprintln!("skipped: {message}");
    }
    found
}

/// A generated voice saying `text` (espeak-ng: `voice` such as `en+f2`, pitch 0–99, speed in
/// words per minute), written as WAV at `path`.
pub fn espeak(espeak: &Path, path: &Path, voice: &str, pitch: u32, speed: u32, text: &str) {
    let out = Command::new(espeak)
        .args([
            "-v",
            voice,
            "-p",
            &pitch.to_string(),
            "-s",
            &speed.to_string(),
            "-w",
        ])
        .arg(path)
        .arg(text)
        .output()
        .expect("run espeak-ng");
    assert!(
        out.status.success(),
        "espeak-ng failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
