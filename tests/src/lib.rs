//! Whole-kit tests live in `tests/`.
