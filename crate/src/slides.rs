//! Every figure of the kit, for the instructor's slides: `tinyml slides --out DIR`.
//!
//! The figures come from the lesson pipelines on the embedded default data with fixed seeds, so
//! running it twice gives byte-identical files.

use std::path::{Path, PathBuf};

use crate::activity::ActivityData;
use crate::course::{write_figures, Course};
use crate::digits::Digits;
use crate::error::Result;
use crate::kws::KeywordData;
use crate::plot::Figure;

/// Every figure of every lesson so far, with its file stem, in course order.
pub fn catalogue() -> Result<Vec<(String, Figure)>> {
    Course::run(
        &ActivityData::course_default(),
        &Digits::course_default(),
        &KeywordData::course_default()?,
    )?
    .figures()
}

/// Writes the [`catalogue`] into `dir` as PNG and SVG, with an `index.html` contact sheet.
pub fn write_slides(dir: &Path) -> Result<Vec<PathBuf>> {
    write_figures(&catalogue()?, dir, "tinyml-kit: every figure of the course")
}
