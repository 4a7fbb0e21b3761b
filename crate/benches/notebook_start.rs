//! How fast a notebook starts in the kit's kernel, as a class meets it: the table in README's
//! "Teaching with it".
//!
//! `cargo bench -p tinyml-kit --bench notebook_start` uses its own kernel folders
//! (`target/bench-notebook-start`: kernel spec, template and slots; the user's are left alone)
//! and the venv's Jupyter (`$TINYML_VENV`, else the platform's default). It measures:
//!
//! 1. **cold**: the first build ever, `tinyml lab --prepare` on an empty kernels folder (the
//!    kit and its crates compiled into the template; crates.io downloads already cached);
//! 2. for each notebook, **fresh kernel**: a new kernel as `tinyml lab` starts it after that
//!    (its build slot copied from the template): the setup cell's time, the median cell, the
//!    whole notebook;
//! 3. **restart**: the same notebook in a new kernel again (what a kernel restart does: the slot
//!    is already built): the setup cell's time and the median cell.
//!
//! 4. **static link**: the same notebook once more, restarted, with the setup line the notebooks
//!    had before the kit's shared library (`crate/dylib`): the kit's static libraries, linked
//!    into every cell. Same slot, same compiled kit: only how a cell links differs, side by side
//!    in one run.
//!
//! The goals on 2 cores: the setup cell ≤ 15 s after install and after a restart, the median
//! cell ≤ 0.7 s. Each notebook runs whole three times (training included), so the run takes
//! about 20 minutes.
//! `BENCH_NOTEBOOKS=day1-rules-vs-learning,…` limits it to some notebooks.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tinyml_kit::lab::{self, KernelDirs, Lab, KERNEL_NAME};

/// One run of one notebook.
struct Run {
    setup: f64,
    median: f64,
    total: f64,
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate/ is in the repo")
        .to_path_buf();
    let base = repo.join("target/bench-notebook-start");
    let kernels = base.join("kernels");
    let jupyter_path = base.join("jupyter");
    let default = Lab::new(&repo).expect("a cache folder");
    let lab = Lab {
        kernels: KernelDirs::at(&kernels),
        ..default
    };
    let tools = lab.check();
    if !tools.nbclient || tools.evcxr.is_none() {
        eprintln!(
            "notebook_start: {} missing; run tools/setup first",
            tools.missing().join(", ")
        );
        std::process::exit(1);
    }
    let launcher = Path::new(env!("CARGO_BIN_EXE_tinyml"));
    lab.install_kernel(
        &jupyter_path.join("kernels"),
        launcher,
        &[("TINYML_KERNELS", &kernels)],
    )
    .expect("the kernel spec");

    // 1. The first build ever.
    if kernels.exists() {
        fs::remove_dir_all(&kernels).expect("an empty kernels folder");
    }
    let cold = lab.warm(Some(&jupyter_path)).expect("the kit builds");

    let only: Option<Vec<String>> = std::env::var("BENCH_NOTEBOOKS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let mut notebooks: Vec<PathBuf> = fs::read_dir(repo.join("notebooks"))
        .expect("notebooks/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| lab::is_lesson_notebook(p))
        .filter(|p| {
            let stem = p.file_stem().unwrap_or_default().to_string_lossy();
            only.as_ref().is_none_or(|o| o.iter().any(|n| *n == stem))
        })
        .collect();
    notebooks.sort();

    let mut rows = Vec::new();
    for notebook in &notebooks {
        let stem = notebook
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // A fresh kernel after `tinyml lab`: no slot yet, so it is copied from the template.
        for slot in 0..lab::MAX_SLOTS {
            let _ = fs::remove_dir_all(kernels.join(format!("slot-{slot}")));
        }
        let fresh = run(&lab, &jupyter_path, notebook, &base.join("out.ipynb"));
        let restart = run(&lab, &jupyter_path, notebook, &base.join("out.ipynb"));
        let linked = run_static(&lab, &jupyter_path, notebook, &base.join("out.ipynb"));
        eprintln!(
            "{stem}: fresh setup {:.1} s, restart setup {:.1} s, median {:.2}/{:.2} s, static link {:.2} s",
            fresh.setup, restart.setup, fresh.median, restart.median, linked.median
        );
        rows.push((stem, fresh, restart, linked));
    }

    println!("\nnotebook start, kernel `{KERNEL_NAME}` (2 cores; seconds)\n");
    println!(
        "cold: the first build ever (`tinyml lab --prepare`, empty cache): {:.0} s\n",
        cold.seconds
    );
    println!("| notebook | setup cell, fresh kernel | setup cell, restarted | median cell | whole notebook | median cell, static link (before) |");
    println!("|---|---|---|---|---|---|");
    for (stem, fresh, restart, linked) in &rows {
        println!(
            "| {stem} | {:.1} s | {:.1} s | {:.2} s | {:.0} s | {:.2} s |",
            fresh.setup,
            restart.setup,
            median(&[fresh.median, restart.median]),
            restart.total,
            linked.median
        );
    }
}

/// The notebooks' setup line before the kit's shared library, and the one they have now.
const STATIC_LINE: &str = r#":dep tinyml-kit = { path = \"../crate\", default-features = false }"#;
const DYLIB_LINE: &str =
    r#":dep tinyml-kit = { package = \"tinyml-kit-dylib\", path = \"../crate/dylib\" }"#;

/// Executes `notebook` with [`STATIC_LINE`] as its setup line and times it. The copy is written
/// beside it, so that its relative paths still hold, as a hidden file (which the notebook test,
/// `tinyml lab --copy-to` and this bench pass over, and git ignores, should a stopped run leave
/// it), and removed afterwards.
fn run_static(lab: &Lab, jupyter_path: &Path, notebook: &Path, out: &Path) -> Run {
    let text = fs::read_to_string(notebook).expect("the notebook");
    assert!(
        text.contains(DYLIB_LINE),
        "{} has no setup line {DYLIB_LINE}",
        notebook.display()
    );
    let stem = notebook.file_stem().unwrap_or_default().to_string_lossy();
    let copy = notebook.with_file_name(format!(".{stem}.static-link.ipynb"));
    fs::write(&copy, text.replace(DYLIB_LINE, STATIC_LINE)).expect("a copy of the notebook");
    let timed = std::panic::catch_unwind(|| run(lab, jupyter_path, &copy, out));
    let _ = fs::remove_file(&copy);
    timed.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Executes `notebook` whole in a new kernel and times it.
fn run(lab: &Lab, jupyter_path: &Path, notebook: &Path, out: &Path) -> Run {
    let started = Instant::now();
    let status = Command::new(&lab.jupyter)
        .arg("execute")
        .arg(format!("--kernel_name={KERNEL_NAME}"))
        .arg("--timeout=1800")
        .arg(format!("--output={}", out.display()))
        .arg(notebook)
        .current_dir(notebook.parent().expect("a folder"))
        .env("JUPYTER_PATH", jupyter_path)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("jupyter execute runs");
    assert!(status.success(), "{} failed", notebook.display());
    let total = started.elapsed().as_secs_f64();
    let seconds: Vec<f64> = lab::notebook_cell_seconds(out)
        .expect("the executed notebook's cell times")
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    Run {
        setup: seconds[0],
        median: median(&seconds),
        total,
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}
