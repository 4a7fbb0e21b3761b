//! `tinyml words …`: a class's recordings (pool, audit, forget).

use std::path::PathBuf;

use clap::Subcommand;
use tinyml_kit::error::{Error, Result};

use crate::print_json;

#[derive(Subcommand)]
pub(crate) enum WordsCmd {
    /// Copy the students' dataset folders into one class folder: speaker names made unique,
    /// exact duplicate recordings left out, spellings merged (run it again to add new takes).
    Pool {
        /// The class folder (made if needed).
        #[arg(long)]
        out: PathBuf,
        /// The students' folders (each `DIR/<word>/<speaker>_nohash_<n>.wav`).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Print JSON: `copied`, `duplicates`, `renamed`, `skipped`.
        #[arg(long)]
        json: bool,
    },
    /// Takes per word and speaker; takes that are too short, quiet, silent, clipped, duplicated
    /// or unreadable; warnings about balance.
    Audit {
        /// The dataset folder.
        dir: PathBuf,
        /// Also write the figure (PNG and SVG) into this folder.
        #[arg(long)]
        figures: Option<PathBuf>,
        /// Print JSON: `words`, `speakers`, `takes`, `findings`, `skipped`, `warnings`.
        #[arg(long)]
        json: bool,
    },
    /// Delete every recording of one speaker (when they ask), and list what was deleted.
    Forget {
        /// Whose recordings.
        #[arg(long)]
        speaker: String,
        /// The dataset folder.
        dir: PathBuf,
    },
}

pub(crate) fn words_cmd(cmd: WordsCmd) -> Result<()> {
    match cmd {
        WordsCmd::Pool { out, dirs, json } => {
            let report = tinyml_kit::words::pool(&out, &dirs)?;
            if json {
                print_json(&serde_json::to_value(&report).map_err(|e| Error::Audio {
                    path: report.out.clone(),
                    message: format!(
                        "the report cannot be written as JSON ({e}): rename files whose \
                             names are not text"
                    ),
                })?);
            } else {
                println!("{}", report.summary());
            }
        }
        WordsCmd::Audit { dir, figures, json } => {
            let audit = tinyml_kit::words::WordsAudit::of_dir(&dir)?;
            if let Some(folder) = &figures {
                std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
            }
            if json {
                print_json(&audit.json()?);
            } else {
                print!("{}", audit.report());
            }
            if let Some(folder) = figures {
                if audit.words.is_empty() || audit.speakers.is_empty() {
                    eprintln!("no recordings: no figure written");
                } else {
                    audit.figure().save(&folder, "words-audit")?;
                }
            }
        }
        WordsCmd::Forget { speaker, dir } => {
            let deleted = tinyml_kit::words::forget(&dir, &speaker)?;
            for file in &deleted {
                println!("deleted {}", file.display());
            }
            println!(
                "{} recording(s) of {speaker} deleted from {}; models trained before still \
                 hold what they learned from them: train again",
                deleted.len(),
                dir.display()
            );
        }
    }
    Ok(())
}
