//! Executes every lesson notebook under the kit's Rust kernel and checks the result.
//!
//! The kernel is the one `tinyml lab` installs (spec `tinyml`: this crate's `tinyml kernel`
//! launching evcxr_jupyter in a kept build folder, see `tinyml_kit::lab`), so the test runs the
//! classroom's road: first the kit is built once into the template (`Lab::warm`, as `tinyml lab`
//! does; a no-op when nothing changed since the last run), then each `*.ipynb` in
//! `<repo>/notebooks/` (sorted by name, one after another) gets a kernel whose build slot is
//! copied from that template. For each notebook the test runs `jupyter execute --allow-errors`,
//! then reads the executed notebook and fails on:
//! - a non-zero exit of `jupyter execute` (the kernel died or did not start, a cell timed out),
//! - an output of type `error` (a cell that did not compile: the compiler's message is quoted),
//! - a stream output containing `panicked at` (a panic does not make `jupyter execute` fail),
//! - a code cell marked with the comment `// figure` that shows no `image/png` output.
//!
//! Cells are numbered from 1, counting every cell (markdown too), as a reader scrolling sees them.
//!
//! Files written under the target dir (`$CARGO_TARGET_DIR`, else `<repo>/target`):
//! - `notebooks/NAME.out.ipynb`: the executed notebook (open it to see what went wrong),
//! - `notebooks/NAME.timing.json`: wall time, the setup cell's time, median cell time and the
//!   slowest cell,
//! - `notebooks/jupyter/kernels/tinyml/`: the kernel spec (given to Jupyter as `JUPYTER_PATH`,
//!   so the user's own spec is left alone),
//! - `notebooks/kernels/`: the kernel's template and slots (`TINYML_KERNELS`), kept between runs.
//!   evcxr's crate there has no `[workspace]` table, so the root Cargo.toml must
//!   `exclude = ["target"]`, or the kernel dies at start ("Failed to load the project").
//!
//! Environment:
//! - `TINYML_NOTEBOOKS_DIR`: run the notebooks of this folder instead of `<repo>/notebooks`
//!   (to try the harness on throwaway notebooks; relative to the repo root; outputs still go to
//!   the target dir).
//! - `TINYML_JUPYTER`: the `jupyter` executable (`tools/test` sets it to the venv's). Otherwise
//!   `$TINYML_VENV/bin/jupyter`, then `~/.cache/tinyml-kit/venv/bin/jupyter`, then `jupyter` on
//!   `PATH`.
//! - `CI`: when non-empty, a missing Jupyter or evcxr_jupyter fails the test; otherwise the test
//!   says "skipped" on stderr and passes, so `cargo test` works on a laptop without Jupyter.
//!   `tools/setup` installs both.

use serde_json::{json, Value};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::time::Instant;
use tinyml_kit::lab::{self, KernelDirs, Lab, KERNEL_NAME};
/// Longest a single cell may run, in seconds (a cold `:dep` build can take minutes).
const CELL_TIMEOUT_SECS: u32 = 900;
/// A code cell containing this comment must display a PNG figure.
const FIGURE_MARKER: &str = "// figure";
/// What Rust prints when a thread panics.
const PANIC_TEXT: &str = "panicked at";
/// What an exercise's check says while the exercise's cell is as the notebook ships it.
const NO_ANSWER_TEXT: &str = "No answer yet";
/// How many lines of `jupyter execute`'s stderr a failure message quotes.
const STDERR_TAIL_LINES: usize = 40;

#[test]
fn notebooks_execute_without_errors() {
    let dir = notebooks_dir();
    let jupyter = match find_tools() {
        Ok(jupyter) => jupyter,
        Err(reason) => return tools_missing(&reason),
    };
    let notebooks = list_notebooks(&dir).unwrap_or_else(|e| panic!("{e}"));
    if notebooks.is_empty() {
        note(&format!("notebooks: none found in {}", dir.display()));
        return;
    }
    let kernel = Kernel::install(&jupyter).unwrap_or_else(|e| panic!("{e}"));
    let failures: Vec<String> = notebooks
        .iter()
        .filter_map(|nb| run_notebook(&kernel, nb).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} notebooks failed:\n\n{}",
        failures.len(),
        notebooks.len(),
        failures.join("\n\n")
    );
}

/// Every lesson has at least three exercises, each with one check cell, and says which of its
/// sections are optional (no Jupyter needed: the shipped notebooks are read as they are).
#[test]
fn every_lesson_has_three_checked_exercises_and_marks_its_optional_sections() {
    let dir = repo().join("notebooks");
    let notebooks = list_notebooks(&dir).expect("the notebooks folder");
    assert!(notebooks.len() >= 4, "{notebooks:?}");
    for path in notebooks {
        let name = file_name(&path);
        let notebook = read_notebook(&path).expect("a notebook");
        let plan = tinyml_kit::lesson_plan::lesson_plan(&name, &notebook);
        let exercises = plan.core.exercises + plan.optional.exercises;
        let checks = cells(&notebook)
            .iter()
            .filter(|c| c["cell_type"] == "code")
            .filter(|c| exercise_check(&multiline(&c["source"])).is_some())
            .count();
        assert!(exercises >= 3, "{name}: {exercises} exercises");
        assert_eq!(checks, exercises, "{name}: one check cell per exercise");
        assert!(plan.optional.reading_s > 0.0, "{name}: no Optional section");
        let intro = multiline(&cells(&notebook)[0]["source"]);
        assert!(
            intro.contains("**Core and optional.**"),
            "{name}: the first cell explains the convention"
        );
    }
}

/// A kernel whose build folder is in the home folder, beside rustup's toolchains (the default on
/// a laptop: `~/.cache/tinyml-kit/kernels`), runs its cells. evcxr moves each compiled cell one
/// folder up, which breaks the cell's relative path to `libstd` there; the launcher gives the
/// loader the toolchain's library folder ("dlopen failed" at kernel start before).
#[test]
fn a_kernel_building_in_the_home_folder_runs_its_cells() {
    let jupyter = match find_tools() {
        Ok(jupyter) => jupyter,
        Err(reason) => return tools_missing(&reason),
    };
    let Some(home) = non_empty_env("HOME").map(PathBuf::from) else {
        return note("skipped: no HOME");
    };
    let base = target_dir().join("notebooks-home");
    let build = home
        .join(".cache/tinyml-kit")
        .join(format!("test-kernel-{}", std::process::id()));
    let _ = fs::remove_dir_all(&build);
    fs::create_dir_all(&build).expect("a build folder in the home folder");
    let lab = Lab {
        repo: repo(),
        venv: PathBuf::new(),
        jupyter: jupyter.clone(),
        kernels: KernelDirs::at(base.join("kernels")),
    };
    lab.install_kernel(
        &base.join("jupyter/kernels"),
        Path::new(env!("CARGO_BIN_EXE_tinyml")),
        &[("TINYML_KERNEL_DIR", &build)],
    )
    .expect("the kernel spec");
    let notebook = base.join("one-cell.ipynb");
    let cell = json!([{"cell_type": "code", "id": "c", "metadata": {}, "outputs": [],
                        "execution_count": null, "source": "40 + 2"}]);
    let nb = json!({"cells": cell, "metadata": {}, "nbformat": 4, "nbformat_minor": 5});
    fs::write(&notebook, nb.to_string()).unwrap();
    let executed = base.join("one-cell.out.ipynb");
    let out = Command::new(&jupyter)
        .arg("execute")
        .arg(format!("--kernel_name={KERNEL_NAME}"))
        .arg(format!("--output={}", executed.display()))
        .arg(&notebook)
        .env("JUPYTER_PATH", base.join("jupyter"))
        // As a class starts it: cargo gives tests the toolchain's library folder, people do
        // not have it.
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("DYLD_FALLBACK_LIBRARY_PATH")
        .output()
        .expect("jupyter execute runs");
    let _ = fs::remove_dir_all(&build);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the kernel failed:\n{}",
        tail(&stderr, 30)
    );
    let result = read_notebook(&executed).expect("the executed notebook");
    assert_eq!(
        multiline(&cells(&result)[0]["outputs"][0]["data"]["text/plain"]),
        "42"
    );
}

// ---------------------------------------------------------------------------------------------
// Where things are

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate/ is in the repo")
        .to_path_buf()
}

/// The workspace's target dir: `$CARGO_TARGET_DIR` (relative to the repo root), else
/// `<repo>/target`.
fn target_dir() -> PathBuf {
    match non_empty_env("CARGO_TARGET_DIR") {
        Some(dir) => repo().join(dir),
        None => repo().join("target"),
    }
}

/// The value of an environment variable, unless it is unset or empty.
fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// True under CI: missing tools fail the test instead of skipping it.
fn in_ci() -> bool {
    non_empty_env("CI").is_some()
}

/// The folder of notebooks to run: `$TINYML_NOTEBOOKS_DIR`, else `<repo>/notebooks`.
fn notebooks_dir() -> PathBuf {
    match non_empty_env("TINYML_NOTEBOOKS_DIR") {
        Some(dir) => repo().join(dir),
        None => repo().join("notebooks"),
    }
}

/// The `*.ipynb` files directly in `dir`, sorted by name.
fn list_notebooks(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir)
        .map_err(|e| format!("cannot list notebooks in {}: {e}", dir.display()))?;
    let mut notebooks = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list notebooks in {}: {e}", dir.display()))?
            .path();
        if path.is_file() && tinyml_kit::lab::is_lesson_notebook(&path) {
            notebooks.push(path);
        }
    }
    notebooks.sort();
    Ok(notebooks)
}

/// The kit's kernel, installed for this test and warm.
struct Kernel {
    /// The `jupyter` program.
    jupyter: PathBuf,
    /// The folder given to Jupyter as `JUPYTER_PATH` (it holds `kernels/tinyml/`).
    jupyter_path: PathBuf,
    /// Where the executed notebooks and timings go.
    out_dir: PathBuf,
}

impl Kernel {
    /// Installs the kernel spec under the target dir (launcher: this crate's `tinyml`) and
    /// builds the kit into its template, as `tinyml lab` does.
    fn install(jupyter: &Path) -> Result<Self, String> {
        let base = target_dir().join("notebooks");
        let jupyter_path = base.join("jupyter");
        let kernels = base.join("kernels");
        let lab = Lab {
            repo: repo(),
            venv: PathBuf::new(),
            jupyter: jupyter.to_path_buf(),
            kernels: KernelDirs::at(&kernels),
        };
        let launcher = Path::new(env!("CARGO_BIN_EXE_tinyml"));
        lab.install_kernel(
            &jupyter_path.join("kernels"),
            launcher,
            &[("TINYML_KERNELS", &kernels)],
        )
        .map_err(|e| format!("cannot install the kernel spec: {e}"))?;
        let report = lab
            .warm(Some(&jupyter_path))
            .map_err(|e| format!("cannot build the kit for the notebooks: {e}"))?;
        if report.built {
            note(&format!(
                "notebooks: the kit built for the kernel in {:.0} s ({})",
                report.seconds,
                report.template.display()
            ));
        }
        Ok(Kernel {
            jupyter: jupyter.to_path_buf(),
            jupyter_path,
            out_dir: base,
        })
    }
}

/// The files one notebook run writes.
struct RunPaths {
    /// The executed notebook.
    executed: PathBuf,
    /// The timing report.
    timing: PathBuf,
}

impl RunPaths {
    /// The paths for the notebook with file stem `stem`, creating their folder.
    fn create(kernel: &Kernel, stem: &str) -> Result<Self, String> {
        let out_dir = &kernel.out_dir;
        fs::create_dir_all(out_dir)
            .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
        Ok(RunPaths {
            executed: out_dir.join(format!("{stem}.out.ipynb")),
            timing: out_dir.join(format!("{stem}.timing.json")),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Finding Jupyter and the kernel

/// The `jupyter` executable, once it, nbclient and evcxr_jupyter are known to be installed.
fn find_tools() -> Result<PathBuf, String> {
    let jupyter = find_jupyter()?;
    let execute = Command::new(&jupyter).args(["execute", "--help"]).output();
    if !execute.is_ok_and(|o| o.status.success()) {
        return Err(format!(
            "`{} execute` does not run (nbclient missing)",
            jupyter.display()
        ));
    }
    if lab::find_evcxr().is_none() {
        return Err("evcxr_jupyter (the Rust kernel) is not installed".into());
    }
    Ok(jupyter)
}

/// `$TINYML_JUPYTER`, else the venv's `jupyter`, else `jupyter` on `PATH`.
fn find_jupyter() -> Result<PathBuf, String> {
    if let Some(path) = non_empty_env("TINYML_JUPYTER") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("TINYML_JUPYTER={} does not exist", path.display()))
        };
    }
    let venvs = [
        non_empty_env("TINYML_VENV").map(PathBuf::from),
        non_empty_env("HOME").map(|home| Path::new(&home).join(".cache/tinyml-kit/venv")),
    ];
    venvs
        .into_iter()
        .flatten()
        .map(|venv| lab::venv_program(&venv, "jupyter"))
        .find(|path| path.is_file())
        .or_else(|| find_on_path("jupyter"))
        .ok_or_else(|| {
            "jupyter not found (no venv at ~/.cache/tinyml-kit/venv, none on PATH)".into()
        })
}

/// The first file named `program` in the folders of `PATH`.
fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Fails under CI, otherwise prints why the notebooks are skipped.
fn tools_missing(reason: &str) {
    let message = format!("notebooks not run: {reason}; run tools/setup to install what they need");
    if in_ci() {
        panic!("{message} (CI is set, so this is a failure, not a skip)");
    }
    note(&format!("skipped: {message}"));
}

/// Writes a line to stderr even while libtest captures output (it captures only `eprintln!`),
/// so skips and timings show up in a plain `cargo test`.
fn note(line: &str) {
    // Best effort: a closed stderr must not fail the test.
    let _ = writeln!(std::io::stderr(), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Running one notebook

/// Executes one notebook and checks it; the error is the whole report for this notebook.
fn run_notebook(kernel: &Kernel, notebook: &Path) -> Result<(), String> {
    let name = file_name(notebook);
    let stem = notebook
        .file_stem()
        .map_or(name.clone(), |s| s.to_string_lossy().into_owned());
    let paths = RunPaths::create(kernel, &stem)?;
    // A stale executed notebook from an earlier run must not be checked by mistake.
    let _ = fs::remove_file(&paths.executed);

    let started = Instant::now();
    let output = execute(kernel, notebook, &paths)?;
    let seconds = started.elapsed().as_secs_f64();
    note(&format!(
        "notebook {name}: {seconds:.1} s ({})",
        output.status
    ));

    if !output.status.success() {
        return Err(execute_failure(notebook, &output));
    }
    let executed = read_notebook(&paths.executed)?;
    let timing = report_timing(&name, seconds, &executed, &paths.timing);
    let problems = check_notebook(&executed);
    if problems.is_empty() {
        timing
    } else {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        Err(format!(
            "{name}: {} problem(s) (executed notebook: {}):\n{}",
            problems.len(),
            paths.executed.display(),
            list.join("\n")
        ))
    }
}

/// Runs `jupyter execute` on the notebook, from the notebook's folder.
///
/// `--allow-errors` makes a cell that fails to compile an `error` output in the executed notebook,
/// which holds the compiler's message: without it `jupyter execute` exits 1 and its stderr quotes
/// the cell but not the error. The run still fails on a kernel that dies or a cell that times out.
fn execute(kernel: &Kernel, notebook: &Path, paths: &RunPaths) -> Result<Output, String> {
    let folder = notebook.parent().unwrap_or(Path::new("."));
    Command::new(&kernel.jupyter)
        .arg("execute")
        .arg("--allow-errors")
        .arg(format!("--kernel_name={KERNEL_NAME}"))
        .arg(format!("--timeout={CELL_TIMEOUT_SECS}"))
        .arg(format!("--output={}", paths.executed.display()))
        .arg(notebook)
        .current_dir(folder)
        .env("JUPYTER_PATH", &kernel.jupyter_path)
        // As a class starts it: cargo gives tests the toolchain's library folder, people do
        // not have it.
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("DYLD_FALLBACK_LIBRARY_PATH")
        .output()
        .map_err(|e| format!("cannot run {} execute: {e}", kernel.jupyter.display()))
}

/// The report for a failed `jupyter execute`: the failing cell if quoted, then stderr's tail
/// without the indented lines of Python tracebacks and Rust backtraces.
fn execute_failure(notebook: &Path, output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let cell = failing_cell_source(&stderr)
        .map(|source| format!(" in {}", locate_cell(notebook, &source)))
        .unwrap_or_default();
    let unindented: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with([' ', '\t']) && !line.trim().is_empty())
        .collect();
    let mut report = format!(
        "{}: jupyter execute failed ({}){cell}\n\
         --- stderr, last {STDERR_TAIL_LINES} unindented lines ---\n{}",
        file_name(notebook),
        output.status,
        tail(&unindented.join("\n"), STDERR_TAIL_LINES)
    );
    if let Some(hint) = failure_hint(&stderr) {
        report.push_str("\nhint: ");
        report.push_str(hint);
    }
    report
}

/// Advice for failures whose cause the messages do not tell.
fn failure_hint(stderr: &str) -> Option<&'static str> {
    if stderr.contains("Failed to load the project at")
        || stderr.contains("believes it's in a workspace")
    {
        // evcxr's Cargo.toml has no [workspace] table, so cargo sees the workspace above it.
        Some(
            "evcxr could not load its build crate (EVCXR_TMPDIR); if it lies inside the cargo \
             workspace, the root Cargo.toml needs `exclude = [\"target\"]` under [workspace]",
        )
    } else if stderr.contains("Kernel died") {
        Some("the kernel died; run `evcxr_jupyter` by hand, or check `cargo` is on PATH")
    } else {
        None
    }
}

/// The source of the cell that nbclient quotes between dashed lines when a cell fails
/// (`CellExecutionError`) or times out (`CellTimeoutError`).
fn failing_cell_source(stderr: &str) -> Option<String> {
    const INTROS: [&str; 2] = [
        "An error occurred while executing the following cell:",
        "Here is a preview of the cell contents:",
    ];
    let after = INTROS
        .iter()
        .find_map(|intro| stderr.split_once(intro).map(|(_, after)| after))?;
    let is_dashes = |line: &str| line.len() >= 3 && line.chars().all(|c| c == '-');
    let mut lines = after.lines().skip_while(|line| !is_dashes(line)).skip(1);
    let source: Vec<&str> = lines.by_ref().take_while(|line| !is_dashes(line)).collect();
    Some(source.join("\n").trim().to_string()).filter(|s| !s.is_empty())
}

/// Names the cell of `notebook` whose source is `source`: "cell N (`head`)".
fn locate_cell(notebook: &Path, source: &str) -> String {
    let index = read_notebook(notebook).ok().and_then(|nb| {
        cells(&nb)
            .iter()
            .position(|cell| multiline(&cell["source"]).trim() == source)
    });
    match index {
        Some(i) => format!("cell {} (`{}`)", i + 1, head(source)),
        None => format!("the cell `{}`", head(source)),
    }
}

/// Reads and parses a notebook file.
fn read_notebook(path: &Path) -> Result<Value, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// The file name of a path, for messages.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Checking an executed notebook

/// Something wrong in one cell of an executed notebook.
#[derive(Debug, Clone, PartialEq)]
struct Problem {
    /// 1-based position of the cell among all cells.
    cell: usize,
    /// The first non-blank line of the cell's source.
    source_head: String,
    /// What is wrong.
    what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cell {} (`{}`): {}",
            self.cell, self.source_head, self.what
        )
    }
}

/// Every problem in an executed notebook: panics, error outputs and missing figures.
fn check_notebook(notebook: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (index, cell) in cells(notebook).iter().enumerate() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let source = multiline(&cell["source"]);
        problems.extend(check_cell(cell, &source).into_iter().map(|what| Problem {
            cell: index + 1,
            source_head: head(&source),
            what,
        }));
    }
    problems
}

/// What is wrong with one code cell, one sentence per problem.
fn check_cell(cell: &Value, source: &str) -> Vec<String> {
    let outputs = cell["outputs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut problems = Vec::new();
    if let Some(panic) = find_panic(outputs) {
        problems.push(format!("panic: {panic}"));
    }
    for error in outputs.iter().filter(|o| o["output_type"] == "error") {
        problems.push(describe_error(error));
    }
    if let Some(check) = exercise_check(source) {
        if !outputs
            .iter()
            .any(|o| output_text(o).contains(NO_ANSWER_TEXT))
        {
            problems.push(format!(
                "calls the exercise check `{check}` but does not say \"{NO_ANSWER_TEXT}\": a \
                 shipped notebook must not answer its own exercises"
            ));
        }
    }
    if source.contains(FIGURE_MARKER) && !outputs.iter().any(has_png) {
        problems.push(format!(
            "marked `{FIGURE_MARKER}` but shows no image/png output"
        ));
    }
    problems
}

/// The `panicked at` line of the cell's stream outputs and the line after it (the message).
///
/// The streams are joined first: the kernel sends the panic's lines as separate outputs.
fn find_panic(outputs: &[Value]) -> Option<String> {
    let streams: String = outputs
        .iter()
        .filter(|o| o["output_type"] == "stream")
        .map(|o| multiline(&o["text"]))
        .collect();
    let mut lines = streams
        .lines()
        .skip_while(|line| !line.contains(PANIC_TEXT));
    let panic_line = lines.next()?.trim();
    match lines.map(str::trim).find(|line| !line.is_empty()) {
        Some(message) => Some(format!("{panic_line} {message}")),
        None => Some(panic_line.to_string()),
    }
}

/// An `error` output in a few lines: its name and value, then the start of its traceback
/// (for a compile error, the compiler's message) without terminal colours.
fn describe_error(error: &Value) -> String {
    const TRACEBACK_LINES: usize = 12;
    let traceback: Vec<String> = error["traceback"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .flat_map(|part| {
            strip_ansi(part)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|line| !line.trim().is_empty())
        .take(TRACEBACK_LINES)
        .collect();
    let mut text = format!(
        "error output: {}: {}",
        error["ename"].as_str().unwrap_or("?"),
        error["evalue"].as_str().unwrap_or("?")
    );
    for line in traceback {
        text.push_str("\n      ");
        text.push_str(&line);
    }
    text
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                chars.by_ref().find(|c| c.is_ascii_alphabetic());
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The name of the exercise check (`check_rules`, …) a cell calls, if any: a call of a function
/// named `check_…`, not a method (`model.check_fits(…)` is not an exercise).
fn exercise_check(source: &str) -> Option<&str> {
    source.match_indices("check_").find_map(|(at, _)| {
        let before = source[..at].chars().next_back();
        if before.is_some_and(|c| c == '.' || c == '_' || c.is_alphanumeric()) {
            return None;
        }
        let name_len = source[at..]
            .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
            .unwrap_or(source.len() - at);
        let name = &source[at..at + name_len];
        source[at + name_len..].starts_with('(').then_some(name)
    })
}

/// Everything an output shows as text: streams, and the text and HTML of displayed data.
fn output_text(output: &Value) -> String {
    let data = &output["data"];
    [
        multiline(&output["text"]),
        multiline(&data["text/plain"]),
        multiline(&data["text/html"]),
    ]
    .concat()
}

/// Whether an output carries a non-empty `image/png`.
fn has_png(output: &Value) -> bool {
    !multiline(&output["data"]["image/png"]).trim().is_empty()
}

/// The cells of a notebook (none if it has no `cells` list).
fn cells(notebook: &Value) -> &[Value] {
    notebook["cells"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Notebook text, stored either as one string or as a list of strings (lines).
fn multiline(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// The first non-blank line of a cell's source, shortened for messages. A bare `// figure`
/// marker line is passed over: the code after it says more.
fn head(source: &str) -> String {
    const MAX_CHARS: usize = 60;
    let line = source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && *l != FIGURE_MARKER)
        .unwrap_or("");
    if line.chars().count() > MAX_CHARS {
        format!("{}…", line.chars().take(MAX_CHARS).collect::<String>())
    } else {
        line.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Cell timing (informational only: shared machines are too noisy to assert on)

/// How long one cell ran, from the kernel's `execute_input` to its `execute_reply`.
#[derive(Debug, Clone, PartialEq)]
struct CellTime {
    /// 1-based position of the cell among all cells.
    cell: usize,
    seconds: f64,
    source_head: String,
}

/// The run time of every cell that has nbclient's `metadata.execution` timestamps.
fn cell_times(notebook: &Value) -> Vec<CellTime> {
    lab::cell_seconds(notebook)
        .into_iter()
        .map(|(cell, seconds)| CellTime {
            cell,
            seconds,
            source_head: head(&multiline(&cells(notebook)[cell - 1]["source"])),
        })
        .collect()
}

/// The median of some numbers (`None` for none).
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The slowest cell, if any was timed.
fn slowest(times: &[CellTime]) -> Option<&CellTime> {
    times.iter().max_by(|a, b| a.seconds.total_cmp(&b.seconds))
}

/// The timing summary of one run, as written to `NAME.timing.json`.
fn timing_report(notebook: &str, total_seconds: f64, times: &[CellTime]) -> Value {
    let seconds: Vec<f64> = times.iter().map(|t| t.seconds).collect();
    json!({
        "notebook": notebook,
        "total_seconds": round3(total_seconds),
        "cells_timed": times.len(),
        "setup_cell_seconds": times.first().map(|t| round3(t.seconds)),
        "median_cell_seconds": median(&seconds).map(round3),
        "max_cell": slowest(times).map(|t| json!({
            "cell": t.cell,
            "seconds": round3(t.seconds),
            "source_head": t.source_head,
        })),
    })
}

/// Prints the median and slowest cell, and writes the timing report.
fn report_timing(name: &str, total: f64, executed: &Value, path: &Path) -> Result<(), String> {
    let times = cell_times(executed);
    let seconds: Vec<f64> = times.iter().map(|t| t.seconds).collect();
    if let (Some(median), Some(max)) = (median(&seconds), slowest(&times)) {
        note(&format!(
            "notebook {name}: cells timed: {}, setup cell {:.2} s, median {median:.2} s, slowest: cell {} ({:.2} s) `{}`",
            times.len(),
            times[0].seconds,
            max.cell,
            max.seconds,
            max.source_head
        ));
    }
    let report = timing_report(name, total, &times);
    let text = serde_json::to_string_pretty(&report).expect("a JSON value serialises");
    fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Rounds to milliseconds, to keep reports readable.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------------
// Tests of the checking logic (no Jupyter needed)

mod tests {
    use super::*;

    /// A notebook with the given cells.
    fn notebook(cells: Vec<Value>) -> Value {
        json!({
            "cells": cells,
            "metadata": {"kernelspec": {"name": "rust", "language": "rust", "display_name": "Rust"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        })
    }

    /// A code cell with the given source and outputs.
    fn code_cell(source: Value, outputs: Vec<Value>) -> Value {
        json!({"cell_type": "code", "metadata": {}, "source": source, "outputs": outputs})
    }

    #[test]
    fn an_exercise_check_must_say_no_answer_yet_in_a_shipped_notebook() {
        let silent = notebook(vec![code_cell(
            json!("// Check exercise 2\ncheck_search_turns(turns)"),
            vec![
                json!({"output_type": "execute_result", "metadata": {}, "execution_count": 1,
                        "data": {"text/plain": "Right! 9 turns take 21.9 hours"}}),
            ],
        )]);
        let problems = check_notebook(&silent);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].what.contains("check_search_turns"),
            "{}",
            problems[0]
        );
        let waiting = notebook(vec![code_cell(
            json!("check_fmax(&my_config).evcxr_display();\nmel_filter_figure(&my_config)?"),
            vec![
                json!({"output_type": "display_data", "metadata": {},
                       "data": {"text/html": "<div>No answer yet: set fmax_hz</div>"}}),
                json!({"output_type": "display_data", "metadata": {},
                       "data": {"image/png": "iVBORw0KGgo="}}),
            ],
        )]);
        assert_eq!(check_notebook(&waiting), vec![]);
        assert_eq!(exercise_check("int8.check_fits(&b)"), None);
        assert_eq!(exercise_check("my_check_value(1)"), None);
        assert_eq!(exercise_check("x\ncheck_mlp(a, b)?"), Some("check_mlp"));
        assert_eq!(exercise_check("let check_x = 1;"), None);
    }

    #[test]
    fn good_notebook_passes() {
        let nb = notebook(vec![
            json!({"cell_type": "markdown", "metadata": {}, "source": "# Lesson\n// figure in prose"}),
            code_cell(json!("let x = 1 + 1;"), vec![]),
            code_cell(
                json!(["println!(\"{}\", x);\n"]),
                vec![json!({"output_type": "stream", "name": "stdout", "text": ["2\n"]})],
            ),
            code_cell(
                json!(["// figure\n", "plot(&x)"]),
                vec![json!({"output_type": "display_data", "metadata": {},
                            "data": {"image/png": "iVBORw0KGgo=", "text/plain": "plot"}})],
            ),
        ]);
        assert_eq!(check_notebook(&nb), vec![]);
    }

    #[test]
    fn panic_in_list_of_strings_stream_is_detected() {
        let nb = notebook(vec![
            code_cell(json!("let x = 1;"), vec![]),
            code_cell(
                json!(["// boom\n", "panic!(\"boom\")"]),
                vec![json!({"output_type": "stream", "name": "stderr",
                            "text": ["thread '<unnamed>' ", "panicked at src/lib.rs:3:1:\n", "boom\n"]})],
            ),
        ]);
        let problems = check_notebook(&nb);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].cell, 2);
        assert_eq!(problems[0].source_head, "// boom");
        assert!(
            problems[0]
                .what
                .contains("panicked at src/lib.rs:3:1: boom"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn error_output_is_reported() {
        let nb = notebook(vec![code_cell(
            json!("let y: u8 = \"no\";"),
            vec![
                // As evcxr reports a compile error (`--allow-errors`), colours included.
                json!({"output_type": "error", "ename": "Error", "evalue": "mismatched types",
                        "traceback": ["\u{1b}[31m[E0308] Error:\u{1b}[0m mismatched types",
                                      "   \u{1b}[38;5;246m╭─[\u{1b}[0m command_3:1:1 ]"]}),
            ],
        )]);
        let problems = check_notebook(&nb);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "cell 1 (`let y: u8 = \"no\";`): error output: Error: mismatched types\n      \
             [E0308] Error: mismatched types\n         ╭─[ command_3:1:1 ]"
        );
    }

    #[test]
    fn figure_cell_without_png_is_reported() {
        let text_only = json!({"output_type": "execute_result", "execution_count": 1, "metadata": {},
                               "data": {"text/plain": "Figure"}});
        let empty_png =
            json!({"output_type": "display_data", "metadata": {}, "data": {"image/png": ""}});
        let nb = notebook(vec![
            code_cell(json!("let f = 1;"), vec![]),
            code_cell(
                json!("// figure: the accuracy curve\nshow(f)"),
                vec![text_only],
            ),
            code_cell(json!(["// figure\n", "show(f)"]), vec![empty_png]),
            code_cell(json!("// figure\nshow(f)"), vec![]),
        ]);
        let cells: Vec<usize> = check_notebook(&nb).iter().map(|p| p.cell).collect();
        assert_eq!(cells, vec![2, 3, 4]);
        assert_eq!(check_notebook(&nb)[2].source_head, "show(f)");
        assert!(check_notebook(&nb)[0].what.contains("image/png"));
    }

    #[test]
    fn failing_cell_is_found_in_nbclient_stderr() {
        let stderr = "[NbClientApp] Executing x.ipynb\n\
            Traceback (most recent call last):\n  ...\n\
            nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:\n\
            ------------------\n\
            let y: u8 = \"no\";\n\
            ------------------\n\n\
            [E0308] Error: mismatched types\n";
        assert_eq!(
            failing_cell_source(stderr).as_deref(),
            Some("let y: u8 = \"no\";")
        );
        assert_eq!(failing_cell_source("Kernel died"), None);

        let timeout = "nbclient.exceptions.CellTimeoutError: A cell timed out while it was being \
            executed, after 900 seconds.\nThe message was: Cell execution timed out.\n\
            Here is a preview of the cell contents:\n-------------------\nloop {}\n\
            -------------------\n";
        assert_eq!(failing_cell_source(timeout).as_deref(), Some("loop {}"));
    }

    #[test]
    fn cell_times_come_from_execution_metadata() {
        let mut slow = code_cell(json!(":dep plotters"), vec![]);
        slow["metadata"]["execution"] = json!({
            "iopub.execute_input": "2024-12-31T23:59:58.500000Z",
            "shell.execute_reply": "2025-01-01T00:00:10.750000Z",
        });
        let mut quick = code_cell(json!("1 + 1"), vec![]);
        quick["metadata"]["execution"] = json!({
            "iopub.execute_input": "2025-01-01T02:00:11+02:00",
            "shell.execute_reply": "2025-01-01T00:00:11.5Z",
        });
        let untimed = code_cell(json!("2 + 2"), vec![]);
        let times = cell_times(&notebook(vec![slow, untimed, quick]));
        let summary: Vec<(usize, f64)> = times.iter().map(|t| (t.cell, t.seconds)).collect();
        assert_eq!(summary, vec![(1, 12.25), (3, 0.5)]);

        let report = timing_report("x.ipynb", 20.0, &times);
        assert_eq!(report["median_cell_seconds"], json!(6.375));
        assert_eq!(report["max_cell"]["cell"], json!(1));
        assert_eq!(report["max_cell"]["source_head"], json!(":dep plotters"));
        assert_eq!(timing_report("x.ipynb", 1.0, &[])["max_cell"], Value::Null);
    }
}
