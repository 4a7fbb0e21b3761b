//! Fuzzes the `.tkm` loader and the interpreter: whatever the bytes, `Model::parse` (and the
//! board's lighter `Model::parse_stored`) returns an error or a model, and a model it accepts
//! runs (both kernel sets, the front end, and the board's activity loop when the model is an
//! activity model: whatever window and hop it claims) without panicking or reading out of bounds.
//!
//! Each input is tried twice: as given (most die at the CRC, as damaged files should), and
//! "resealed" with its length and CRC rewritten, so that the fuzzer explores the checks behind
//! the CRC. Run with `tools/fuzz` (seeds: the malformed-model corpus of the kit's tests).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyml_core::listen::{RecognizerConfig, MAX_CLASSES};
use tinyml_core::model::{Kernels, Model, HEADER_LEN};
use tinyml_core::motion::{MotionListener, MAX_WINDOW};

fn run(bytes: &[u8]) {
    if let Ok(model) = Model::parse(bytes) {
        exercise(model, true);
    }
    if let Ok(model) = Model::parse_stored(bytes) {
        exercise(model, false);
    }
}

/// Runs a model the loader accepted. `checked`: it went through every check (folded biases
/// among them), so the faster kernels (the laptop's vector units here) must give exactly the
/// reference's bytes.
fn exercise(model: Model, checked: bool) {
    // Arena sizes are bounded by the loader (16 MiB); keep the fuzzer's memory small.
    if model.arena_bytes() > 1 << 20 {
        return;
    }
    let mut arena = vec![0i8; model.arena_bytes()];
    let input: Vec<i8> = (0..model.input().len()).map(|i| (i * 31) as i8).collect();
    let mut output = vec![0i8; model.output().len()];
    let mut reference = vec![0i8; model.output().len()];
    let fast = model.invoke(&mut arena, &input, &mut output, Kernels::Optimized);
    let slow = model.invoke(&mut arena, &input, &mut reference, Kernels::Reference);
    if checked && fast.is_ok() && slow.is_ok() {
        assert_eq!(output, reference, "faster kernels differ from the reference");
    }
    let mut features = vec![0.25f32; model.input().len()];
    let mut quantized = vec![0i8; model.input().len()];
    let _ = model.quantize_input(&mut features, &mut quantized);
    for i in 0..=model.label_count() {
        let _ = model.label(i);
    }
    let mut motion = MotionListener::new();
    if motion.start(&model, RecognizerConfig::ACTIVITIES).is_ok() {
        let samples: Vec<i16> = (0..6 * MAX_WINDOW)
            .map(|i| (i as i16).wrapping_mul(977))
            .collect();
        let mut rest = &samples[..];
        let mut scores = [0i8; MAX_CLASSES];
        while motion.feed(&mut rest) {
            if motion.infer(&model, &mut arena, 0, &mut scores).is_err() {
                break;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    if data.len() >= HEADER_LEN + 4 {
        let mut sealed = data.to_vec();
        let n = sealed.len();
        sealed[8..12].copy_from_slice(&(n as u32).to_le_bytes());
        let crc = tinyml_core::crc32::crc32(&sealed[..n - 4]);
        sealed[n - 4..].copy_from_slice(&crc.to_le_bytes());
        run(&sealed);
    }
});
