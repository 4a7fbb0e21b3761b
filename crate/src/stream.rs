//! A stream of words with known times, played to the board (or to the laptop's copy of its
//! keyword loop), and what it heard scored against them: words heard, words missed, false
//! alarms.
//!
//! A report comes from the window of sound that ends at the report's time (one second for the
//! course's keyword model). It is right when the word it names was being said in that window,
//! the first time that word is reported; any other report is a false alarm (a word that was not
//! said, or one reported a second time).

use std::fmt;

use crate::audio::Audio;
use crate::device::Listening;
use crate::error::{Error, Result};
use crate::kws::{KeywordData, UNKNOWN};
use crate::plot::Table;

/// The pause after each word of [`WordStream::of`], in seconds.
pub const PAUSE_S: f64 = 0.6;

/// One word in a [`WordStream`].
#[derive(Debug, Clone, PartialEq)]
pub struct SaidWord {
    /// Its label ("unknown" for another word).
    pub label: String,
    /// When it starts, in seconds from the stream's start.
    pub start_s: f64,
    /// When its clip ends.
    pub end_s: f64,
}

/// Words, one after another with pauses, and when each was said.
#[derive(Debug, Clone, PartialEq)]
pub struct WordStream {
    /// The sound.
    pub audio: Audio,
    /// The words, in order.
    pub said: Vec<SaidWord>,
}

impl WordStream {
    /// One take of each keyword of `data`, each followed by [`PAUSE_S`] of silence and, when
    /// `data` has "unknown" clips, by one of them (another word, which the board must not
    /// report) and another pause.
    pub fn of(data: &KeywordData) -> Result<WordStream> {
        let keywords = data.keywords();
        if keywords.is_empty() {
            return Err(Error::param(
                "data",
                "it has no keywords to play: record some words first",
            ));
        }
        let unknown: Vec<usize> = (0..data.len())
            .filter(|&i| data.labels()[i] == UNKNOWN)
            .collect();
        let mut takes = Vec::new();
        for (i, word) in keywords.iter().enumerate() {
            takes.push((word.clone(), data.example(word)?));
            if let Some(&u) = unknown.get(i * unknown.len() / keywords.len().max(1)) {
                takes.push((UNKNOWN.to_string(), data.clip(u)?));
            }
        }
        let rate = takes[0].1.sample_rate_hz();
        let pause = vec![0.0f32; (PAUSE_S * rate as f64).round() as usize];
        let (mut samples, mut said) = (Vec::new(), Vec::new());
        for (label, take) in takes {
            let take = take.resample(rate)?;
            let start_s = samples.len() as f64 / rate as f64;
            samples.extend_from_slice(take.samples());
            said.push(SaidWord {
                label,
                start_s,
                end_s: samples.len() as f64 / rate as f64,
            });
            samples.extend_from_slice(&pause);
        }
        Ok(WordStream {
            audio: Audio::new(samples, rate)?,
            said,
        })
    }

    /// The keywords said (not the "unknown" words).
    pub fn keywords_said(&self) -> usize {
        self.said.iter().filter(|w| w.label != UNKNOWN).count()
    }

    /// `listening`'s reports scored against the words said. The reports' times must count from
    /// the stream's start, as [`crate::device::listen_to`] gives them.
    pub fn score(&self, listening: &Listening) -> StreamScore {
        let window_s = listening.window_ms as f64 / 1000.0;
        let mut heard = vec![false; self.said.len()];
        let mut reports = Vec::new();
        for (time_s, label, probability) in listening.heard() {
            let from_s = time_s - window_s;
            // The first word of this label said in the window and not reported yet.
            let said = (0..self.said.len()).find(|&i| {
                let w = &self.said[i];
                !heard[i] && w.label == label && w.start_s < time_s && w.end_s > from_s
            });
            if let Some(i) = said {
                heard[i] = true;
            }
            reports.push(Report {
                time_s,
                from_s,
                label,
                probability,
                right: said.is_some(),
            });
        }
        StreamScore {
            said: self.keywords_said(),
            heard: heard.iter().filter(|&&h| h).count(),
            false_alarms: reports.iter().filter(|r| !r.right).count(),
            reports,
        }
    }

    /// When each word was said, as a table.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&["word", "from (s)", "to (s)"]);
        for w in &self.said {
            table.push(vec![
                w.label.clone(),
                format!("{:.2}", w.start_s),
                format!("{:.2}", w.end_s),
            ]);
        }
        table
    }

    /// Shows the words and their times in Jupyter.
    pub fn evcxr_display(&self) {
        println!(
            "{:.1} s of sound: {} keyword(s) and {} other word(s)",
            self.audio.duration_s(),
            self.keywords_said(),
            self.said.len() - self.keywords_said()
        );
        self.table().evcxr_display();
    }
}

/// One word a keyword loop reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// When, in seconds from the stream's start: the end of the window it came from.
    pub time_s: f64,
    /// Where that window started.
    pub from_s: f64,
    /// The word reported.
    pub label: String,
    /// Its probability.
    pub probability: f64,
    /// True when that word was being said in the report's window, and not reported before.
    pub right: bool,
}

/// How a keyword loop did on a [`WordStream`].
#[derive(Debug, Clone, PartialEq)]
pub struct StreamScore {
    /// Keywords said.
    pub said: usize,
    /// Keywords said and reported.
    pub heard: usize,
    /// Reports of a word that was not being said, or was reported already.
    pub false_alarms: usize,
    /// Every report.
    pub reports: Vec<Report>,
}

impl StreamScore {
    /// Every report, right or a false alarm.
    pub fn table(&self) -> Table {
        let mut table = Table::new(&["listened from (s)", "to (s)", "reported", "probability", ""]);
        for r in &self.reports {
            table.push(vec![
                format!("{:.2}", r.from_s.max(0.0)),
                format!("{:.2}", r.time_s),
                r.label.clone(),
                format!("{:.0}%", 100.0 * r.probability),
                if r.right { "right" } else { "false alarm" }.into(),
            ]);
        }
        table
    }

    /// Shows the score and the reports in Jupyter.
    pub fn evcxr_display(&self) {
        println!("{self}");
        self.table().evcxr_display();
    }
}

impl fmt::Display for StreamScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} words heard, {} false alarm(s)",
            self.heard, self.said, self.false_alarms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{ListenWindow, Sensor};
    use tinyml_core::model::Tensor;

    fn stream() -> WordStream {
        let said = |label: &str, start_s: f64, end_s: f64| SaidWord {
            label: label.into(),
            start_s,
            end_s,
        };
        WordStream {
            audio: Audio::new(vec![0.0; 8_000 * 6], 8_000).unwrap(),
            said: vec![
                said("yes", 0.0, 1.0),
                said(UNKNOWN, 1.6, 2.6),
                said("no", 3.2, 4.2),
            ],
        }
    }

    /// A listening that reported `class` at each of `reports` (ms).
    fn listening(reports: &[(u32, usize)]) -> Listening {
        let windows = reports
            .iter()
            .map(|&(time_ms, class)| ListenWindow {
                time_ms,
                heard: Some(class),
                score: 230,
                outputs: vec![100, -100, -100],
            })
            .collect();
        Listening {
            sensor: Sensor::Microphone,
            recognizer: tinyml_core::listen::RecognizerConfig::KEYWORDS,
            window_ms: 1_000,
            labels: vec!["no".into(), "unknown".into(), "yes".into()],
            output: Tensor {
                h: 1,
                w: 1,
                c: 3,
                offset: 0,
                scale: 1.0 / 256.0,
                zero_point: -128,
            },
            windows,
            simulated: true,
        }
    }

    #[test]
    fn a_report_is_right_only_when_its_word_was_said_in_its_window() {
        let stream = stream();
        // "yes" at 0.75 s: said from 0 s. "no" at 2.5 s: its window 1.5–2.5 s holds the
        // unknown word, not "no". "no" at 4.0 s: right. "yes" at 2.2 s: its window starts
        // at 1.2 s, after "yes" ended. "no" again at 4.2 s: reported twice.
        let reports = [(750, 2), (2_500, 0), (4_000, 0), (2_200, 2), (4_200, 0)];
        let score = stream.score(&listening(&reports));
        assert_eq!((score.said, score.heard, score.false_alarms), (2, 2, 3));
        let rights: Vec<bool> = score.reports.iter().map(|r| r.right).collect();
        assert_eq!(rights, vec![true, false, true, false, false]);
        assert_eq!(score.to_string(), "2 of 2 words heard, 3 false alarm(s)");
        assert!(score.table().to_string().contains("listened from"));
        // A window of 1.5 s reaches back to the end of "yes".
        let longer = Listening {
            window_ms: 1_500,
            ..listening(&[(2_200, 2)])
        };
        assert_eq!(stream.score(&longer).false_alarms, 0);
        let missed = stream.score(&listening(&[]));
        assert_eq!((missed.heard, missed.false_alarms), (0, 0));
    }
}
