//! `tinyml course` (every lesson on the embedded data) and `tinyml data fetch`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use tinyml_kit::activity::ActivityData;
use tinyml_kit::course::{write_figures, Course};
use tinyml_kit::digits::Digits;
use tinyml_kit::error::{Error, Result};
use tinyml_kit::kws::KeywordData;

use crate::print_json;

#[derive(Subcommand)]
pub(crate) enum DataCmd {
    /// Download a dataset with size and SHA-256 checks; resumes an interrupted download.
    Fetch {
        /// The dataset: mnist (60,000 + 10,000 digits, 11 MB).
        name: String,
        /// Where to keep it (default: ~/.cache/tinyml-kit/NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A mirror's base URL, tried before the public ones (repeatable).
        #[arg(long)]
        mirror: Vec<String>,
    },
}

pub(crate) fn course(
    out: &Path,
    data: &ActivityData,
    digits: &Digits,
    words: &KeywordData,
    json: bool,
) -> Result<()> {
    if !json {
        println!(
            "running every lesson (about 40 seconds: the digits lesson trains two networks, \
             the keyword lesson one)..."
        );
    }
    let course = Course::run(data, digits, words)?;
    let summary = course.json();
    let written = write_figures(&course.figures()?, out, "tinyml-kit course run")?;
    let path = out.join("summary.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )
    .map_err(|e| Error::io(&path, e))?;
    if json {
        print_json(&summary);
    } else {
        println!(
            "Day 1 on {} ({} windows, {} people) and {} ({} digits); Day 2 on {} ({} clips, {} \
             speakers)\n",
            data.source,
            data.len(),
            data.person_names().len(),
            digits.source,
            digits.len(),
            words.source,
            words.len(),
            words.speaker_names().len()
        );
        print!("{}", course.summary());
        println!(
            "\nwrote {} figures and summary.json to {} (open {})",
            (written.len() - 1) / 2,
            out.display(),
            out.join("index.html").display()
        );
    }
    Ok(())
}

pub(crate) fn fetch(name: &str, dir: Option<PathBuf>, mut mirrors: Vec<String>) -> Result<()> {
    use tinyml_kit::fetch::{fetch, mnist_files, Fetched, MNIST_MIRRORS};
    if name != "mnist" {
        return Err(Error::param(
            "name",
            format!("'{name}': the dataset that can be fetched is mnist"),
        ));
    }
    let dir = dir.unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        home.join(".cache/tinyml-kit").join(name)
    });
    mirrors.extend(MNIST_MIRRORS.iter().map(|m| m.to_string()));
    let mut last_tenth = (String::new(), 0);
    let mut progress = |file: &str, got: u64, total: u64| {
        let tenth = (10 * got / total.max(1)) as usize;
        if (file.to_string(), tenth) != last_tenth {
            eprint!("\r{file}: {:>3}%", 10 * tenth);
            if tenth == 10 {
                eprintln!();
            }
            last_tenth = (file.to_string(), tenth);
        }
    };
    for f in fetch(&mirrors, &mnist_files(), &dir, &mut progress)? {
        match f {
            Fetched::Cached(p) => println!("cached      {}", p.display()),
            Fetched::Downloaded {
                path,
                resumed_from: 0,
            } => println!("downloaded  {}", path.display()),
            Fetched::Downloaded { path, resumed_from } => {
                println!("resumed     {} (from byte {resumed_from})", path.display())
            }
        }
    }
    println!("verified; use it with --data {}", dir.display());
    Ok(())
}
