//! Fuzzes the keyword features and the board's keyword loop: whatever feature configuration
//! the bytes describe, `Mfcc::plan` gives an error or a plan; a plan computes features of any
//! audio (the bytes' rest as 16-bit samples) without panicking, its vector and portable
//! kernels give the same bits, and a keyword model on those features (written with the core's
//! own writer, a max pool over every feature) runs in the `Listener` on the same audio.
//!
//! Built like the board with `--features small-tables` and `--target i686-unknown-linux-gnu`
//! (a 32-bit `usize`): `tools/fuzz listener`. The shared body is `src/listener.rs`, which
//! `firmware/core/tests/fuzz_corpus.rs` also runs on the kept corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tinyml_core_fuzz::listener::run(data));
