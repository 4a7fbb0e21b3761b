//! The body of the `model_loader` fuzz target (see `fuzz_targets/model_loader.rs`), also run
//! on the kept corpus by `firmware/core/tests/fuzz_corpus.rs`.

use tinyml_core::listen::{keyword_arena_bytes, Listener, RecognizerConfig, MAX_CLASSES};
use tinyml_core::model::{Kernels, Model, HEADER_LEN};
use tinyml_core::motion::{MotionListener, MAX_WINDOW};

/// Runs one input: as given, and resealed with its length and CRC rewritten.
pub fn run(data: &[u8]) {
    open(data);
    if data.len() >= HEADER_LEN + 4 {
        let mut sealed = data.to_vec();
        let n = sealed.len();
        sealed[8..12].copy_from_slice(&(n as u32).to_le_bytes());
        let crc = tinyml_core::crc32::crc32(&sealed[..n - 4]);
        sealed[n - 4..].copy_from_slice(&crc.to_le_bytes());
        open(&sealed);
    }
}

/// Opens `bytes` with both loaders and runs what they accept.
fn open(bytes: &[u8]) {
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
        assert_eq!(
            output, reference,
            "faster kernels differ from the reference"
        );
    }
    let mut features = vec![0.25f32; model.input().len()];
    let mut quantized = vec![0i8; model.input().len()];
    let _ = model.quantize_input(&mut features, &mut quantized);
    for i in 0..=model.label_count() {
        let _ = model.label(i);
    }
    // The board's keyword loop, when the model is a keyword model: one window, in the arena
    // the board's Run asks for.
    let mut keywords = Box::new(Listener::new());
    if keywords.start(&model, RecognizerConfig::KEYWORDS).is_ok() {
        let needed = keyword_arena_bytes(&model).expect("started, so a keyword model");
        let mut loop_arena = vec![0i8; needed];
        let samples: Vec<i16> = (0..keywords.clip_samples())
            .map(|i| (i as i16).wrapping_mul(2_731))
            .collect();
        let mut rest = &samples[..];
        let mut scores = [0i8; MAX_CLASSES];
        if keywords.feed(&mut rest, &mut loop_arena) {
            let _ = keywords.infer(&model, &mut loop_arena, 0, &mut scores);
        }
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
