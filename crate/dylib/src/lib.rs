//! The kit as one shared library for the notebooks (see `Cargo.toml`): everything of
//! `tinyml_kit`, under the same paths.

pub use tinyml_kit::*;
