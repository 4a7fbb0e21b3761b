//! The fuzzers' kept corpus as regression tests: every input in `tests/fuzz-corpus/TARGET` goes
//! through the same body as the fuzz target (`fuzz/src/TARGET.rs`, included here by path), on
//! every test run and in every build (the board's, with
//! `--target i686-unknown-linux-gnu --features small-tables`, too). Each body asserts what it
//! checks (the writer and the loader agree, the planner and the validator agree, the vector
//! kernels give the reference's bits); a panic anywhere fails the test and names the input.
//!
//! The corpus is what `cargo +nightly fuzz cmin` kept of the runs reported in README, plus the
//! hand-made seeds (`seed-*`).

use std::path::Path;

#[path = "../fuzz/src/listener.rs"]
mod listener;
#[path = "../fuzz/src/model_loader.rs"]
mod model_loader;

/// Runs `body` on every file of `tests/fuzz-corpus/<target>`; gives how many.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    for file in &files {
        let bytes = std::fs::read(file).expect("a corpus file");
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if let Err(panic) = std::panic::catch_unwind(|| body(&bytes)) {
            std::panic::resume_unwind(Box::new(format!(
                "{target} input {name}: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("panicked")
            )));
        }
    }
    files.len()
}

#[test]
fn the_loaders_kept_fuzz_inputs_still_pass() {
    assert!(replay("model_loader", model_loader::run) > 0);
}

#[test]
fn the_listeners_kept_fuzz_inputs_still_pass() {
    assert!(replay("listener", listener::run) >= 8);
}
