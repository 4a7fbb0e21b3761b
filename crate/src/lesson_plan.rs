//! How long a lesson notebook takes a class: its core path and its optional sections, from the
//! cells' measured run times plus the time to read them and to do the exercises.
//!
//! The notebooks mark what can be skipped with a heading that starts with **Optional** (at any
//! level); such a section ends at the next heading of the same or a higher level. Everything
//! else is the core path. An exercise is a heading with the word **exercise** in it (`### Exercise
//! 2`, `### Optional exercise: …`); its check cell calls one of the kit's `check_…` functions.
//!
//! The reading assumptions are constants, stated here and in README: a class reads
//! [`READING_WORDS_PER_MINUTE`], spends [`SECONDS_PER_CODE_LINE`] on each line of code and
//! [`SECONDS_PER_CODE_CELL`] to run a cell and look at what it shows, [`EXERCISE_MINUTES`] on
//! each exercise, and [`RECORDING_MINUTES`] recording its words where a cell opens the recorder.

use std::fmt;

use crate::plot::Table;

/// Words of the notebooks' text a class reads (and talks about) in a minute.
pub const READING_WORDS_PER_MINUTE: f64 = 120.0;
/// Seconds to read one line of code.
pub const SECONDS_PER_CODE_LINE: f64 = 4.0;
/// Seconds to run a cell and look at its output, besides its run time.
pub const SECONDS_PER_CODE_CELL: f64 = 15.0;
/// Minutes a class spends on one exercise (trying, running, reading the check).
pub const EXERCISE_MINUTES: f64 = 5.0;
/// Minutes a class spends recording its words (ten takes of four words, about five minutes a
/// person, plus setting up the microphones).
pub const RECORDING_MINUTES: f64 = 15.0;

/// The time of one part (core or optional) of a notebook, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PartTime {
    /// Reading the text and the code, running and looking.
    pub reading_s: f64,
    /// The cells' measured run times.
    pub computing_s: f64,
    /// Exercises and recording.
    pub doing_s: f64,
    /// Exercises in this part.
    pub exercises: usize,
}

impl PartTime {
    /// All of it, in minutes.
    pub fn minutes(&self) -> f64 {
        (self.reading_s + self.computing_s + self.doing_s) / 60.0
    }
}

/// A notebook's core path and optional sections, timed.
#[derive(Debug, Clone, PartialEq)]
pub struct LessonPlan {
    /// The notebook's name.
    pub notebook: String,
    /// What every class does.
    pub core: PartTime,
    /// What a class may skip.
    pub optional: PartTime,
    /// Code cells without a measured run time (the notebook was not executed, or not all of it).
    pub untimed_cells: usize,
}

/// The plan of `notebook` (an executed notebook's JSON: its cells' run times come from nbclient's
/// timestamps, see [`crate::lab::cell_seconds`]; an unexecuted one counts no computing time).
pub fn lesson_plan(name: &str, notebook: &serde_json::Value) -> LessonPlan {
    let cells = notebook["cells"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let times = crate::lab::cell_seconds(notebook);
    let mut plan = LessonPlan {
        notebook: name.to_string(),
        core: PartTime::default(),
        optional: PartTime::default(),
        untimed_cells: 0,
    };
    // The level of the Optional heading we are under, if any.
    let mut optional_level: Option<usize> = None;
    for (index, cell) in cells.iter().enumerate() {
        let source = crate::lab::source_text(&cell["source"]);
        if cell["cell_type"] == "markdown" {
            for line in source.lines() {
                if let Some((level, title)) = heading(line) {
                    if optional_level.is_some_and(|l| level <= l) {
                        optional_level = None;
                    }
                    if title.starts_with("Optional") && optional_level.is_none() {
                        optional_level = Some(level);
                    }
                    if title.to_lowercase().contains("exercise") {
                        let part = part_of(&mut plan, optional_level);
                        part.exercises += 1;
                        part.doing_s += EXERCISE_MINUTES * 60.0;
                    }
                }
                let words = line.split_whitespace().count() as f64;
                part_of(&mut plan, optional_level).reading_s +=
                    words * 60.0 / READING_WORDS_PER_MINUTE;
            }
        } else if cell["cell_type"] == "code" {
            let measured = times.iter().find(|(cell, _)| *cell == index + 1);
            let lines = source.lines().filter(|l| !l.trim().is_empty()).count() as f64;
            let part = part_of(&mut plan, optional_level);
            part.reading_s += SECONDS_PER_CODE_CELL + lines * SECONDS_PER_CODE_LINE;
            if source.contains("Recorder::start(") {
                part.doing_s += RECORDING_MINUTES * 60.0;
            }
            match measured {
                Some((_, seconds)) => part.computing_s += seconds,
                None => plan.untimed_cells += 1,
            }
        }
    }
    plan
}

fn part_of(plan: &mut LessonPlan, optional_level: Option<usize>) -> &mut PartTime {
    if optional_level.is_some() {
        &mut plan.optional
    } else {
        &mut plan.core
    }
}

/// `(level, title)` of a Markdown heading line such as `### Exercise 2`.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    let rest = line[level..].strip_prefix(' ')?;
    (1..=6).contains(&level).then(|| (level, rest.trim()))
}

impl LessonPlan {
    /// One row per part: minutes of reading, computing, exercises, and in all.
    pub fn table(plans: &[LessonPlan]) -> Table {
        let mut table = Table::new(&[
            "notebook",
            "part",
            "exercises",
            "reading (min)",
            "computing (min)",
            "exercises and recording (min)",
            "in all (min)",
        ]);
        for plan in plans {
            for (part, time) in [("core", plan.core), ("optional", plan.optional)] {
                table.push(vec![
                    plan.notebook.clone(),
                    part.into(),
                    time.exercises.to_string(),
                    format!("{:.0}", time.reading_s / 60.0),
                    format!("{:.1}", time.computing_s / 60.0),
                    format!("{:.0}", time.doing_s / 60.0),
                    format!("{:.1}", time.minutes()),
                ]);
            }
        }
        table
    }
}

impl fmt::Display for LessonPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: core {:.0} min ({} exercises), optional {:.0} min",
            self.notebook,
            self.core.minutes(),
            self.core.exercises,
            self.optional.minutes()
        )?;
        if self.untimed_cells > 0 {
            write!(f, " ({} code cells without a run time)", self.untimed_cells)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn md(text: &str) -> serde_json::Value {
        json!({"cell_type": "markdown", "source": text})
    }

    fn code(text: &str, start: &str, end: &str) -> serde_json::Value {
        json!({"cell_type": "code", "source": text, "metadata": {"execution": {
            "iopub.execute_input": start, "shell.execute_reply": end}}})
    }

    #[test]
    fn optional_sections_end_at_the_next_heading_of_their_level() {
        let notebook = json!({"cells": [
            md("## One\nsix words of text to read here"),
            code("a\nb", "2026-01-01T00:00:00Z", "2026-01-01T00:00:02Z"),
            md("## Optional: more\n### Exercise 1\ntwo words"),
            code("c", "2026-01-01T00:00:02Z", "2026-01-01T00:00:12Z"),
            md("### Exercise 2\n## Two"),
            json!({"cell_type": "code", "source": "Recorder::start(\"x\", &[])"}),
        ]});
        let plan = lesson_plan("n", &notebook);
        // Core: "## One" (2 words) + 7 words + "## Two" (2 words), two code cells.
        let core_reading = 11.0 * 60.0 / READING_WORDS_PER_MINUTE
            + 2.0 * SECONDS_PER_CODE_CELL
            + 3.0 * SECONDS_PER_CODE_LINE;
        assert!(
            (plan.core.reading_s - core_reading).abs() < 1e-9,
            "{plan:?}"
        );
        assert_eq!(plan.core.computing_s, 2.0);
        assert_eq!(plan.core.doing_s, RECORDING_MINUTES * 60.0);
        assert_eq!(plan.core.exercises, 0);
        // Both exercises sit under the optional "##" heading.
        assert_eq!(plan.optional.exercises, 2);
        assert_eq!(plan.optional.computing_s, 10.0);
        assert_eq!(plan.untimed_cells, 1);
        assert!(plan.to_string().contains("1 code cells without a run time"));
        assert!(LessonPlan::table(&[plan]).to_string().contains("optional"));
    }

    #[test]
    fn an_optional_heading_inside_an_optional_section_keeps_the_outer_level() {
        let notebook = json!({"cells": [
            md("## Optional: outer\n### Optional: inner\n### Still outer\nthree words here"),
            md("## Core again\none two"),
        ]});
        let plan = lesson_plan("n", &notebook);
        // Everything up to "## Core again" is optional: 3 + 3 + 3 + 3 words.
        assert!((plan.optional.reading_s - 12.0 * 60.0 / READING_WORDS_PER_MINUTE).abs() < 1e-9);
        assert!((plan.core.reading_s - 5.0 * 60.0 / READING_WORDS_PER_MINUTE).abs() < 1e-9);
    }

    #[test]
    fn headings_need_a_space_after_their_hashes() {
        assert_eq!(heading("## Optional: x"), Some((2, "Optional: x")));
        assert_eq!(heading("#hashtag"), None);
        assert_eq!(heading("plain"), None);
    }
}
