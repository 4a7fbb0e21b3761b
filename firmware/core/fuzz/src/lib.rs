//! The fuzz targets' bodies, shared with the core's corpus regression test
//! (`firmware/core/tests/fuzz_corpus.rs`, which includes these files by path).

pub mod listener;
pub mod model_loader;
