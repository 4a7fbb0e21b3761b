//! Fuzzes the `.tkm` loader and the interpreter: whatever the bytes, `Model::parse` (and the
//! board's lighter `Model::parse_stored`) returns an error or a model, and a model it accepts
//! runs (both kernel sets, the front end, the board's keyword loop when the model is a keyword
//! model, and its activity loop when it is an activity model: whatever window and hop it
//! claims) without panicking or reading out of bounds.
//!
//! Each input is tried twice: as given (most die at the CRC, as damaged files should), and
//! "resealed" with its length and CRC rewritten, so that the fuzzer explores the checks behind
//! the CRC. Run with `tools/fuzz` (seeds: the malformed-model corpus of the kit's tests). The
//! shared body is `src/model_loader.rs`, which `firmware/core/tests/fuzz_corpus.rs` also runs on
//! the kept corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tinyml_core_fuzz::model_loader::run(data));
