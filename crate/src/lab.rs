//! The notebooks' Jupyter environment: a Rust kernel that starts warm.
//!
//! evcxr, the Rust kernel, compiles a notebook's `:dep` crates in a build folder of its own,
//! by default a new temporary folder for every kernel: each kernel start or restart compiled the
//! kit and its ~140 crates again, one to three minutes on two cores. Here:
//!
//! - the kit installs its own kernel spec, [`KERNEL_NAME`] ("Rust (tinyml-kit)"), whose command
//!   is `tinyml kernel`: a small launcher that runs evcxr in a **kept build folder**;
//! - [`Lab::warm`] compiles the kit once into a **template** folder (`tinyml lab` does it, with
//!   the compiler's progress in the terminal, and only when the kit changed since);
//! - each kernel takes the first free **slot** (`slot-0`, `slot-1`, …, each locked by the kernel
//!   that uses it for as long as it runs, so two notebooks open at once never share a build),
//!   copied from the template when the template is newer than the slot. A restarted kernel finds
//!   its slot already built: the notebook's `:dep` cell takes seconds;
//! - the notebooks load the kit as **one shared library** (`crate/dylib`, [`NOTEBOOK_CRATE`]):
//!   evcxr links every cell against it instead of the kit's ~120 static libraries, and the
//!   kernel keeps one copy of the kit (restart the kernels after upgrading the kit: a running
//!   kernel keeps the library it loaded).
//!
//! Cargo checks every build against the sources, so a slot never uses a stale kit: after an
//! upgrade, a slot is either copied from the newly warmed template or compiles what changed.
//!
//! Folders (the cache folder is the platform's: `~/.cache` on Linux, `~/Library/Caches` on
//! macOS, `%LOCALAPPDATA%` on Windows):
//! - `<cache>/tinyml-kit/venv`: the Python venv with JupyterLab (`$TINYML_VENV` overrides);
//! - `<cache>/tinyml-kit/kernels`: the template and the slots (`$TINYML_KERNELS` overrides);
//!   `$TINYML_KERNEL_TEMPLATE` names a template elsewhere (a school server's shared, read-only
//!   one), used when the kernels folder has none.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Instant, SystemTime};

use serde_json::json;

use crate::error::{Error, Result};

/// The evcxr_jupyter version the notebooks are tested with (`tools/setup` installs this one).
pub const EVCXR_VERSION: &str = "0.22.0";
/// The name of the kit's kernel spec (the notebooks ask for it).
pub const KERNEL_NAME: &str = "tinyml";
/// The kernel's name in JupyterLab's launcher and kernel menu.
pub const KERNEL_DISPLAY_NAME: &str = "Rust (tinyml-kit)";
/// Most kernels one user runs at once (each has its own build slot, ~0.5 GB).
pub const MAX_SLOTS: usize = 16;
/// The notebooks' setup line, with `{kit}` for the folder of the kit's shared library
/// ([`NOTEBOOK_CRATE`]), which the notebooks' code knows as `tinyml_kit`.
const DEP_LINE: &str = ":dep tinyml-kit = { package = \"tinyml-kit-dylib\", path = \"{kit}\" }";
/// The crate the notebooks load, in the kit's folder: the kit as one shared library
/// (`crate/dylib`). evcxr links every cell against it instead of the kit's ~120 static
/// libraries: smaller cells, one copy of the kit per kernel (README, "A kernel that starts
/// warm").
const NOTEBOOK_CRATE: &str = "dylib";
/// The file in a build folder that says which warm build it holds.
const STAMP_FILE: &str = ".tinyml-stamp";
/// Set by the warm-up for the launcher it starts: use this build folder as it is.
const KERNEL_DIR_ENV: &str = "TINYML_KERNEL_DIR";
/// Longest the warm-up build may take, in seconds (a cold build takes 2–4 minutes on 2 cores).
const WARM_TIMEOUT_SECS: u32 = 1800;

/// Where the kit's Jupyter pieces live on this machine.
#[derive(Debug, Clone)]
pub struct Lab {
    /// The repository (the kit is used from a clone): `crate/` and `notebooks/` are in it.
    pub repo: PathBuf,
    /// The Python venv with JupyterLab and nbclient.
    pub venv: PathBuf,
    /// Its `jupyter` program.
    pub jupyter: PathBuf,
    /// The template and the slots of the kernel's build.
    pub kernels: KernelDirs,
}

impl Lab {
    /// The lab of the clone at `repo`, with folders from the environment or the platform's
    /// cache folder.
    pub fn new(repo: impl Into<PathBuf>) -> Result<Self> {
        let venv = match env_path("TINYML_VENV") {
            Some(venv) => venv,
            None => kit_cache_dir()?.join("venv"),
        };
        Ok(Lab {
            repo: repo.into(),
            jupyter: venv_program(&venv, "jupyter"),
            venv,
            kernels: KernelDirs::from_env()?,
        })
    }

    /// The kit's crate folder, canonical as evcxr will see the notebooks' crate in it (evcxr
    /// canonicalizes the notebooks' relative `../crate/dylib`, and a build is only reused for
    /// the same path).
    pub fn kit_dir(&self) -> Result<PathBuf> {
        let dir = self.repo.join("crate");
        dir.canonicalize().map_err(|e| Error::io(dir, e))
    }

    /// The folder of the crate the notebooks' setup line loads ([`NOTEBOOK_CRATE`]).
    pub fn notebook_crate_dir(&self) -> Result<PathBuf> {
        Ok(self.kit_dir()?.join(NOTEBOOK_CRATE))
    }

    /// The folder of the venv's kernel specs (where [`Lab::install_kernel`] writes).
    pub fn kernel_specs_dir(&self) -> PathBuf {
        self.venv.join("share").join("jupyter").join("kernels")
    }

    /// Installs what [`Lab::check`] finds missing, in the user's own folders (nothing
    /// system-wide, no root): the venv with the pinned JupyterLab and nbclient
    /// (`tools/lab-requirements.txt`), and evcxr_jupyter [`EVCXR_VERSION`] with `cargo install`.
    /// Says what it installs before it does. The same on Linux, macOS and Windows.
    pub fn install_tools(&self) -> Result<Tools> {
        let python = venv_program(&self.venv, "python");
        let venv_works = || runs(Command::new(&python).args(["-c", "import sys"]));
        if venv_works() {
            println!("ok: Python venv already at {}", self.venv.display());
        } else {
            let base = find_python().ok_or_else(|| Error::Lab(no_python_message()))?;
            // A folder that was there before (a broken venv, someone's own) is never removed.
            let existed = self.venv.exists();
            println!(
                "installing: a Python venv at {} ({})",
                self.venv.display(),
                base.join(" ")
            );
            if let Some(parent) = self.venv.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let made = python_command(&base)
                .args(["-m", "venv"])
                .arg(&self.venv)
                .status()
                .is_ok_and(|s| s.success());
            if !made || !venv_works() {
                if !existed {
                    let _ = fs::remove_dir_all(&self.venv);
                }
                return Err(Error::Lab(no_venv_message(&base.join(" "))));
            }
        }
        let tools = self.check();
        if tools.jupyter_lab && tools.nbclient {
            println!("ok: JupyterLab and nbclient already in the venv");
        } else {
            let requirements = self.repo.join("tools").join("lab-requirements.txt");
            println!(
                "installing: JupyterLab and nbclient into the venv (pip, the versions in {}: about 1 minute, 250 MB)",
                requirements.display()
            );
            let status = Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--requirement"])
                .arg(&requirements)
                .env("PIP_NO_INPUT", "1")
                .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
                .status()
                .map_err(|e| Error::io(&python, e))?;
            if !status.success() {
                return Err(Error::Lab(format!(
                    "pip could not install JupyterLab ({status}; its messages are above). It needs PyPI (pypi.org) to be reachable; behind a proxy set HTTPS_PROXY, then run `tinyml lab --install` again"
                )));
            }
        }
        match (find_evcxr(), installed_evcxr_version()) {
            (Some(path), version) => println!(
                "ok: evcxr_jupyter {} already installed ({})",
                version.as_deref().unwrap_or("?"),
                path.display()
            ),
            (None, _) => {
                let cargo = find_cargo().ok_or_else(|| {
                    Error::Lab(
                        "cargo is not found (on PATH or in ~/.cargo/bin): install Rust from https://rustup.rs, then run `tinyml lab --install` again".into(),
                    )
                })?;
                println!(
                    "installing: evcxr_jupyter {EVCXR_VERSION}, the Rust kernel, with cargo install (builds ~270 crates: about 15 minutes on 2 cores, 1 GB while it builds)"
                );
                let status = Command::new(&cargo)
                    .args(["install", "evcxr_jupyter", "--locked", "--version"])
                    .arg(EVCXR_VERSION)
                    .current_dir(&self.repo)
                    .status()
                    .map_err(|e| Error::io(&cargo, e))?;
                if !status.success() {
                    return Err(Error::Lab(format!(
                        "cargo install evcxr_jupyter failed ({status}; its messages are above). It needs crates.io to be reachable and a C compiler and linker (Linux: gcc; macOS: xcode-select --install; Windows: the Visual Studio Build Tools that rustup names)"
                    )));
                }
            }
        }
        Ok(self.check())
    }

    /// What is installed and what is missing.
    pub fn check(&self) -> Tools {
        let jupyter = |args: &[&str]| runs(Command::new(&self.jupyter).args(args));
        Tools {
            jupyter_lab: jupyter(&["lab", "--version"]),
            nbclient: jupyter(&["execute", "--help"]),
            evcxr: find_evcxr(),
            evcxr_version: installed_evcxr_version(),
        }
    }

    /// Writes the kit's kernel spec into `specs_dir/tinyml/kernel.json`: `launcher kernel
    /// {connection_file}`, with `env` added to the kernel's environment. Returns the spec's
    /// folder.
    pub fn install_kernel(
        &self,
        specs_dir: &Path,
        launcher: &Path,
        env: &[(&str, &Path)],
    ) -> Result<PathBuf> {
        let dir = specs_dir.join(KERNEL_NAME);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let env: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.display().to_string())))
            .collect();
        let spec = json!({
            "argv": [launcher.display().to_string(), "kernel", "{connection_file}"],
            "display_name": KERNEL_DISPLAY_NAME,
            "language": "rust",
            "interrupt_mode": "message",
            "env": env,
        });
        let path = dir.join("kernel.json");
        let text = serde_json::to_string_pretty(&spec).map_err(|e| Error::Lab(e.to_string()))?;
        fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
        Ok(dir)
    }

    /// The environment the kit's kernel spec gives the kernel: the template [`Lab::warm`]
    /// builds (so that a user with no build of their own, a student on a server, copies it) and
    /// where Rust is when it is not in the user's home (`RUSTUP_HOME`, `CARGO_HOME`, as set now:
    /// a server keeps one toolchain for everyone).
    pub fn kernel_env(&self) -> Vec<(&'static str, PathBuf)> {
        let mut env = vec![("TINYML_KERNEL_TEMPLATE", self.kernels.template())];
        for name in ["RUSTUP_HOME", "CARGO_HOME"] {
            if let Some(value) = env_path(name) {
                env.push((name, value));
            }
        }
        env
    }

    /// Compiles the kit into the template build folder, as a notebook's setup cell would (a
    /// headless kernel of spec [`KERNEL_NAME`] runs the notebooks' `:dep` line), unless it is
    /// already built for the kit as it is now. The compiler's progress goes to this process's
    /// terminal. `jupyter_path` is given to Jupyter as `JUPYTER_PATH` (where the kernel spec
    /// is, when it is not in the venv).
    pub fn warm(&self, jupyter_path: Option<&Path>) -> Result<WarmReport> {
        let template = self.kernels.template();
        fs::create_dir_all(&template).map_err(|e| Error::io(&template, e))?;
        // Under the kit's folder only in `target/`, which its workspace excludes.
        if let (Ok(inside), Ok(repo)) = (template.canonicalize(), self.repo.canonicalize()) {
            if inside.starts_with(&repo) && !inside.starts_with(repo.join("target")) {
                return Err(Error::Lab(format!(
                    "the kernels folder {} is inside the kit's folder, where cargo takes a build for part of the kit's workspace: set TINYML_KERNELS to a folder outside {}",
                    self.kernels.home.display(),
                    repo.display()
                )));
            }
        }
        let _lock = lock_exclusive(&self.kernels.template_lock())?;
        let fingerprint = self.fingerprint()?;
        if read_stamp(&template).is_some_and(|s| s == fingerprint) {
            return Ok(WarmReport {
                built: false,
                seconds: 0.0,
                template,
            });
        }
        // The kit's tested dependency versions: cargo keeps the lock file's versions.
        let lock_file = template.join("Cargo.lock");
        if !lock_file.exists() {
            let ours = self.repo.join("Cargo.lock");
            fs::copy(&ours, &lock_file).map_err(|e| Error::io(&ours, e))?;
        }
        let scratch = tempfile_dir(&self.kernels.home, "warm")?;
        let notebook = scratch.join("warm.ipynb");
        let setup = format!(
            "{}\nuse tinyml_kit::prelude::*;",
            dep_line(&self.notebook_crate_dir()?)
        );
        let cells = [json!({
            "cell_type": "code", "id": "setup", "metadata": {}, "outputs": [],
            "execution_count": null, "source": setup,
        })];
        let nb = json!({
            "cells": cells,
            "metadata": {"kernelspec": {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME,
                                        "language": "rust"}},
            "nbformat": 4, "nbformat_minor": 5,
        });
        fs::write(&notebook, nb.to_string()).map_err(|e| Error::io(&notebook, e))?;
        let started = Instant::now();
        let mut command = Command::new(&self.jupyter);
        command
            .arg("execute")
            .arg(format!("--kernel_name={KERNEL_NAME}"))
            .arg(format!("--timeout={WARM_TIMEOUT_SECS}"))
            .arg(format!(
                "--output={}",
                scratch.join("warm.out.ipynb").display()
            ))
            .arg(&notebook)
            .env(KERNEL_DIR_ENV, &template);
        if let Some(path) = jupyter_path {
            command.env("JUPYTER_PATH", path);
        }
        let status = command.status().map_err(|e| Error::io(&self.jupyter, e));
        let _ = fs::remove_dir_all(&scratch);
        let status = status?;
        if !status.success() {
            return Err(Error::Lab(format!(
                "building the kit for the notebooks failed ({status}); the compiler's messages are above. Run `tinyml lab --install` if the Rust kernel is missing"
            )));
        }
        write_stamp(&template, &fingerprint)?;
        Ok(WarmReport {
            built: true,
            seconds: started.elapsed().as_secs_f64(),
            template,
        })
    }

    /// Copies the notebooks into `to` (a student's own folder, on a server or a laptop), their
    /// setup line pointing at this kit's crate wherever `to` is. A notebook already in `to` is
    /// kept as it is (it holds the student's work); so is everything else there.
    pub fn copy_notebooks(&self, to: &Path) -> Result<NotebookCopy> {
        let from = self.repo.join("notebooks");
        fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
        let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
        if same(&from, to) {
            return Err(Error::Lab(format!(
                "{} is the kit's own notebooks folder: give each student a folder of their own",
                to.display()
            )));
        }
        let line = dep_line(&self.notebook_crate_dir()?);
        let mut names: Vec<PathBuf> = fs::read_dir(&from)
            .map_err(|e| Error::io(&from, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| is_lesson_notebook(path))
            .collect();
        names.sort();
        let mut report = NotebookCopy {
            folder: to.to_path_buf(),
            copied: Vec::new(),
            kept: Vec::new(),
        };
        for source in names {
            let Some(name) = source.file_name().map(PathBuf::from) else {
                continue;
            };
            let target = to.join(&name);
            let text = fs::read_to_string(&source).map_err(|e| Error::io(&source, e))?;
            let notebook = with_dep_line(&text, &line)
                .map_err(|e| Error::Lab(format!("{}: {e}", source.display())))?;
            // create_new: never overwrite a student's notebook, even one made a moment ago.
            match File::options().write(true).create_new(true).open(&target) {
                Ok(mut file) => {
                    use std::io::Write;
                    file.write_all(notebook.as_bytes())
                        .map_err(|e| Error::io(&target, e))?;
                    report.copied.push(name);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => report.kept.push(name),
                Err(e) => return Err(Error::io(&target, e)),
            }
        }
        Ok(report)
    }

    /// What a build of the kit depends on, as a short text: the kit's sources and data (each
    /// file's path, size and time), the lock file, the toolchain file and evcxr's version.
    pub fn fingerprint(&self) -> Result<String> {
        let mut hash = Fnv::new();
        hash.add(EVCXR_VERSION.as_bytes());
        hash.add(installed_evcxr_version().unwrap_or_default().as_bytes());
        hash.add(self.kit_dir()?.display().to_string().as_bytes());
        for part in [
            "crate",
            "firmware/core",
            "data",
            "Cargo.toml",
            "Cargo.lock",
            "rust-toolchain.toml",
        ] {
            hash_tree(&mut hash, &self.repo, &self.repo.join(part))?;
        }
        Ok(format!("kit {:016x}", hash.finish()))
    }
}

/// What [`Lab::check`] found.
#[derive(Debug, Clone)]
pub struct Tools {
    /// JupyterLab runs from the venv.
    pub jupyter_lab: bool,
    /// `jupyter execute` runs from the venv (nbclient).
    pub nbclient: bool,
    /// The evcxr_jupyter program, when found.
    pub evcxr: Option<PathBuf>,
    /// The evcxr_jupyter version `cargo install` recorded, when known.
    pub evcxr_version: Option<String>,
}

impl Tools {
    /// What is missing, in words.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if !self.jupyter_lab {
            missing.push("JupyterLab".to_string());
        }
        if !self.nbclient {
            missing.push("nbclient (jupyter execute)".to_string());
        }
        if self.evcxr.is_none() {
            missing.push(format!("evcxr_jupyter {EVCXR_VERSION} (the Rust kernel)"));
        }
        missing
    }

    /// A warning when the installed evcxr is not the tested one.
    pub fn version_warning(&self) -> Option<String> {
        match &self.evcxr_version {
            Some(v) if v != EVCXR_VERSION => Some(format!(
                "evcxr_jupyter {v} is installed; the notebooks are tested with {EVCXR_VERSION}. If a notebook misbehaves, install the tested one: cargo install evcxr_jupyter --version {EVCXR_VERSION} --locked"
            )),
            _ => None,
        }
    }
}

/// What [`Lab::warm`] did.
#[derive(Debug, Clone)]
pub struct WarmReport {
    /// Whether it compiled (false: the template was already warm).
    pub built: bool,
    /// How long the build took.
    pub seconds: f64,
    /// The template build folder.
    pub template: PathBuf,
}

/// What [`Lab::copy_notebooks`] did.
#[derive(Debug, Clone)]
pub struct NotebookCopy {
    /// The folder the notebooks went to.
    pub folder: PathBuf,
    /// The notebooks written.
    pub copied: Vec<PathBuf>,
    /// The notebooks already there, left as they were.
    pub kept: Vec<PathBuf>,
}

impl std::fmt::Display for NotebookCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |list: &[PathBuf]| {
            list.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "{}: ", self.folder.display())?;
        match (self.copied.is_empty(), self.kept.is_empty()) {
            (false, true) => write!(f, "copied {}", names(&self.copied)),
            (false, false) => write!(
                f,
                "copied {}; kept the student's own {}",
                names(&self.copied),
                names(&self.kept)
            ),
            (true, false) => write!(f, "all notebooks already there, kept as they are"),
            (true, true) => write!(f, "no notebooks to copy"),
        }
    }
}

/// A lesson notebook: an `.ipynb` file whose name does not start with a dot (a hidden one is a
/// tool's scratch copy, such as the notebook_start bench's).
pub fn is_lesson_notebook(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "ipynb")
        && !path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

/// The notebooks' `:dep` line for the notebooks' crate at `kit` ([`Lab::notebook_crate_dir`]),
/// as a TOML string that any path survives (Windows' `\\?\` prefix dropped, backslashes and
/// quotes escaped).
fn dep_line(kit: &Path) -> String {
    let path = kit.display().to_string();
    let path = path.strip_prefix(r"\\?\").unwrap_or(&path);
    let escaped = path.replace('\\', r"\\").replace('"', r#"\""#);
    DEP_LINE.replace("{kit}", &escaped)
}

/// A notebook (its JSON text) with its setup cell's `:dep tinyml-kit` line replaced by `line`.
fn with_dep_line(notebook: &str, line: &str) -> std::result::Result<String, String> {
    let mut nb: serde_json::Value =
        serde_json::from_str(notebook).map_err(|e| format!("not a notebook ({e})"))?;
    let cells = nb
        .get_mut("cells")
        .and_then(|c| c.as_array_mut())
        .ok_or("not a notebook (no cells)")?;
    for cell in cells {
        let Some(source) = cell.get_mut("source") else {
            continue;
        };
        let text = source_text(source);
        if !text.lines().any(|l| l.starts_with(":dep tinyml-kit")) {
            continue;
        }
        let replaced: Vec<String> = text
            .split_inclusive('\n')
            .map(|part| match part.strip_prefix(":dep tinyml-kit") {
                Some(_) if part.ends_with('\n') => format!("{line}\n"),
                Some(_) => line.to_string(),
                None => part.to_string(),
            })
            .collect();
        *source = json!(replaced);
        // As Jupyter writes notebooks: one space of indent.
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        serde::Serialize::serialize(&nb, &mut ser).map_err(|e| e.to_string())?;
        return String::from_utf8(out)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    Err("no `:dep tinyml-kit` setup line".into())
}

/// What a notebook's setup cell shows: the kit is loaded, which version, and which build folder
/// this kernel uses (to tell a warm kernel from one that had to compile).
#[derive(Debug, Clone)]
pub struct KitStatus {
    /// The kit's version.
    pub version: String,
    /// The kernel's build folder (`EVCXR_TMPDIR`), when the kernel says.
    pub build_folder: Option<PathBuf>,
}

impl KitStatus {
    /// The status of the kit in this process.
    pub fn now() -> Self {
        KitStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            build_folder: env_path("EVCXR_TMPDIR"),
        }
    }

    /// Shown by the notebook: one line.
    pub fn evcxr_display(&self) {
        println!("{self}");
    }
}

impl std::fmt::Display for KitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tinyml-kit {} is ready", self.version)?;
        if let Some(dir) = &self.build_folder {
            write!(f, " (kernel build folder {})", dir.display())?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Build slots

/// The kernel's build folders: one template and up to [`MAX_SLOTS`] slots.
#[derive(Debug, Clone)]
pub struct KernelDirs {
    /// The folder that holds them (`$TINYML_KERNELS`, or `<cache>/tinyml-kit/kernels`).
    pub home: PathBuf,
    /// A template elsewhere (`$TINYML_KERNEL_TEMPLATE`), used when `home` has none.
    pub shared_template: Option<PathBuf>,
}

impl KernelDirs {
    /// The folders `$TINYML_KERNELS` and `$TINYML_KERNEL_TEMPLATE` name, or the defaults.
    pub fn from_env() -> Result<Self> {
        let home = match env_path("TINYML_KERNELS") {
            Some(home) => home,
            None => kit_cache_dir()?.join("kernels"),
        };
        Ok(KernelDirs {
            home,
            shared_template: env_path("TINYML_KERNEL_TEMPLATE"),
        })
    }

    /// The folders under `home`, with no shared template.
    pub fn at(home: impl Into<PathBuf>) -> Self {
        KernelDirs {
            home: home.into(),
            shared_template: None,
        }
    }

    /// The template build folder that [`Lab::warm`] fills.
    pub fn template(&self) -> PathBuf {
        self.home.join("template")
    }

    fn template_lock(&self) -> PathBuf {
        self.home.join("template.lock")
    }

    /// The template a new slot is copied from: this folder's when it holds a build, else the
    /// shared one.
    fn source_template(&self) -> Option<(PathBuf, String)> {
        let own = self.template();
        if let Some(stamp) = read_stamp(&own) {
            return Some((own, stamp));
        }
        let shared = self.shared_template.clone()?;
        let stamp = read_stamp(&shared)?;
        Some((shared, stamp))
    }

    /// Takes the first free slot (locked until the returned [`KernelSlot`] is dropped, or the
    /// process ends), copying the template into it when the template holds a newer build.
    pub fn acquire(&self) -> Result<KernelSlot> {
        fs::create_dir_all(&self.home).map_err(|e| Error::io(&self.home, e))?;
        for index in 0..MAX_SLOTS {
            let lock_path = self.home.join(format!("slot-{index}.lock"));
            let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
            match lock.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
            }
            let dir = self.home.join(format!("slot-{index}"));
            let seeded = self.seed(&dir)?;
            return Ok(KernelSlot {
                index,
                dir,
                seeded,
                _lock: lock,
            });
        }
        Err(Error::Lab(format!(
            "all {MAX_SLOTS} kernel build folders in {} are in use: shut down a notebook's kernel you no longer need (JupyterLab: Kernel > Shut Down Kernel)",
            self.home.display()
        )))
    }

    /// Copies the template into `slot` when their stamps differ. Returns what it did.
    fn seed(&self, slot: &Path) -> Result<Seeded> {
        let Some((template, stamp)) = self.source_template() else {
            return Ok(Seeded::NoTemplate);
        };
        if read_stamp(slot).is_some_and(|s| s == stamp) {
            return Ok(Seeded::AlreadyWarm);
        }
        // A warm-up in progress holds the template exclusively: then the slot builds for itself.
        let lock_path = self.template_lock();
        let lock = match File::open(&lock_path) {
            Ok(lock) => Some(lock),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&lock_path, e)),
        };
        if let Some(lock) = &lock {
            match lock.try_lock_shared() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(Seeded::TemplateBusy),
                Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
            }
        }
        if slot.exists() {
            fs::remove_dir_all(slot).map_err(|e| Error::io(slot, e))?;
        }
        copy_tree(&template, slot)?;
        Ok(Seeded::Copied)
    }
}

/// A build folder that one kernel holds.
#[derive(Debug)]
pub struct KernelSlot {
    /// Its number.
    pub index: usize,
    /// The folder (the kernel's `EVCXR_TMPDIR`).
    pub dir: PathBuf,
    /// What happened to it before the kernel starts.
    pub seeded: Seeded,
    _lock: File,
}

/// How a slot was prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    /// It already held the template's build.
    AlreadyWarm,
    /// The template was copied into it.
    Copied,
    /// There is no template yet (`tinyml lab` makes it): the kernel compiles the kit itself.
    NoTemplate,
    /// The template is being rebuilt right now: the kernel compiles what it needs itself.
    TemplateBusy,
}

/// Runs evcxr_jupyter for the connection file Jupyter gives, in a build slot (or in
/// `$TINYML_KERNEL_DIR`, set by [`Lab::warm`]). Returns evcxr's exit status. This is the kernel
/// spec's command, `tinyml kernel {connection_file}`.
pub fn run_kernel(connection_file: &Path) -> Result<ExitStatus> {
    let evcxr = find_evcxr().ok_or_else(|| {
        Error::Lab(format!(
            "evcxr_jupyter, the Rust kernel, is not installed: run `tinyml lab --install` (or cargo install evcxr_jupyter --version {EVCXR_VERSION} --locked)"
        ))
    })?;
    let mut command = Command::new(&evcxr);
    let (dir, _slot) = match env_path(KERNEL_DIR_ENV) {
        Some(dir) => {
            // The warm-up: it may download what the kit needs.
            eprintln!("tinyml kernel: building in {}", dir.display());
            (dir, None)
        }
        None => {
            let slot = KernelDirs::from_env()?.acquire()?;
            let how = match slot.seeded {
                Seeded::AlreadyWarm => "warm",
                Seeded::Copied => "warm: copied from the template",
                Seeded::NoTemplate => "no warm build yet: the first cell compiles the kit (1-3 minutes); `tinyml lab` makes one",
                Seeded::TemplateBusy => "the warm build is being refreshed: the first cell may compile",
            };
            eprintln!("tinyml kernel: build folder {} ({how})", slot.dir.display());
            // A notebook's kernel builds only what the warm-up downloaded: it never waits on
            // the class's network (evcxr otherwise updates the crates.io index at every start,
            // and a server without internet fails there). `CARGO_NET_OFFLINE=false` in the
            // environment lets a notebook `:dep` other crates.
            if std::env::var_os("CARGO_NET_OFFLINE").is_none() {
                command.env("CARGO_NET_OFFLINE", "true");
            }
            (slot.dir.clone(), Some(slot))
        }
    };
    command
        .arg("--control_file")
        .arg(connection_file)
        .env("EVCXR_TMPDIR", &dir);
    // evcxr runs `cargo` and `rustc` by name: cargo's bin folder on PATH, wherever it is (a
    // server keeps it outside the user's home, where no login script adds it).
    let mut path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(bin) = cargo_home().map(|home| home.join("bin")) {
        if bin.is_dir() && !path.contains(&bin) {
            path.push(bin);
        }
    }
    if let Some(libdir) = std_library_dir(&path) {
        match LIBRARY_PATH_VAR {
            "PATH" => path.insert(0, libdir),
            name => {
                let old = std::env::var_os(name).unwrap_or_default();
                // An empty entry would mean the current folder: none is added.
                let old = std::env::split_paths(&old).filter(|p| !p.as_os_str().is_empty());
                match std::env::join_paths(std::iter::once(libdir).chain(old)) {
                    Ok(joined) => {
                        command.env(name, joined);
                    }
                    Err(e) => eprintln!("tinyml kernel: {name} left as it is ({e})"),
                }
            }
        }
    }
    if let Ok(joined) = std::env::join_paths(&path) {
        command.env("PATH", joined);
    }
    command.status().map_err(|e| Error::io(&evcxr, e))
}

/// The variable the platform's loader searches for shared libraries.
const LIBRARY_PATH_VAR: &str = if cfg!(windows) {
    "PATH"
} else if cfg!(target_os = "macos") {
    "DYLD_FALLBACK_LIBRARY_PATH"
} else {
    "LD_LIBRARY_PATH"
};

/// The Rust standard library's folder, which the kernel puts first in the loader's search path
/// ([`LIBRARY_PATH_VAR`]) for the cells evcxr compiles. Each cell links `libstd` dynamically and
/// finds it through a path relative to where rustc wrote it (`$ORIGIN/../..`); evcxr then moves
/// the file one folder up, which breaks that path whenever the build folder shares a parent with
/// the toolchain — a build folder in the home folder, where rustup keeps the toolchains ("dlopen
/// failed" at kernel start). The kit's own library ([`NOTEBOOK_CRATE`]) needs nothing: cargo
/// puts a copy of it in the folder the cells are moved to (`$ORIGIN`), and on Windows evcxr puts
/// its folder on `PATH`. `None` when rustc does not say where its libraries are (the kernel then
/// starts as before). `path` is the kernel's `PATH` (where `rustc` is found).
fn std_library_dir(path: &[PathBuf]) -> Option<PathBuf> {
    // In the notebook's folder (the kernel's), as evcxr asks: the kit's pinned toolchain.
    let output = Command::new("rustc")
        .args(["--print", "target-libdir"])
        .env("PATH", std::env::join_paths(path).ok()?)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(PathBuf::from(String::from_utf8(output.stdout).ok()?.trim()))
}

// ---------------------------------------------------------------------------------------------
// Timing an executed notebook

/// A notebook cell's text (its `source` or a stream's `text`), stored either as one string or as
/// a list of lines; empty for anything else.
pub fn source_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts.iter().filter_map(|p| p.as_str()).collect(),
        _ => String::new(),
    }
}

/// `(cell, seconds)` for every cell of an executed notebook that has nbclient's
/// `metadata.execution` timestamps (from the kernel's `execute_input` to its `execute_reply`);
/// cells are numbered from 1 among all cells, markdown included.
pub fn cell_seconds(notebook: &serde_json::Value) -> Vec<(usize, f64)> {
    let cells = notebook["cells"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    cells
        .iter()
        .enumerate()
        .filter_map(|(index, cell)| {
            let execution = &cell["metadata"]["execution"];
            let start = parse_timestamp(execution["iopub.execute_input"].as_str()?)?;
            let end = parse_timestamp(execution["shell.execute_reply"].as_str()?)?;
            Some((index + 1, end - start))
        })
        .collect()
}

/// [`cell_seconds`] of the executed notebook at `path`, refusing a file that is not a notebook
/// or has no timed cell (it was not run with `jupyter execute`).
pub fn notebook_cell_seconds(path: &Path) -> Result<Vec<(usize, f64)>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let notebook: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Lab(format!("{}: not a notebook ({e})", path.display())))?;
    let times = cell_seconds(&notebook);
    if times.is_empty() {
        return Err(Error::Lab(format!(
            "{}: no cell has execution times (run it with jupyter execute)",
            path.display()
        )));
    }
    Ok(times)
}

/// Seconds since the Unix epoch of an ISO 8601 timestamp such as `2024-05-01T10:00:00.123456Z`
/// or `2024-05-01T12:00:00.5+02:00` (a missing offset is taken as UTC).
pub fn parse_timestamp(text: &str) -> Option<f64> {
    let (date, time) = text.trim().split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (clock, offset_seconds) = split_offset(time)?;
    let mut hms = clock.splitn(3, ':');
    let hours: i64 = hms.next()?.parse().ok()?;
    let minutes: i64 = hms.next()?.parse().ok()?;
    let seconds: f64 = hms.next()?.parse().ok()?;
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hours * 3_600 + minutes * 60 - offset_seconds) as f64 + seconds)
}

/// Splits `10:00:00.5+02:00` into the clock time and the UTC offset in seconds.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, 0));
    }
    match time.rfind(['+', '-']) {
        Some(at) => {
            let (clock, offset) = time.split_at(at);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (h, m) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
            Some((
                clock,
                sign * (h.parse::<i64>().ok()? * 3_600 + m.parse::<i64>().ok()? * 60),
            ))
        }
        None => Some((time, 0)),
    }
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

// ---------------------------------------------------------------------------------------------
// Finding things

/// The environment variable `name` as a path, when set and not empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `<the platform's cache folder>/tinyml-kit`.
fn kit_cache_dir() -> Result<PathBuf> {
    dirs::cache_dir()
        .map(|dir| dir.join("tinyml-kit"))
        .ok_or_else(|| {
            Error::Lab(
                "this system has no cache folder (no HOME?): set TINYML_VENV and TINYML_KERNELS"
                    .into(),
            )
        })
}

/// A program in a venv: `bin/NAME` on Unix, `Scripts\NAME.exe` on Windows.
pub fn venv_program(venv: &Path, name: &str) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join(format!("{name}.exe"))
    } else {
        venv.join("bin").join(name)
    }
}

/// Whether a command runs and succeeds (its output dropped).
fn runs(command: &mut Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The commands that may start Python 3 here, in the order they are tried: the launcher `py
/// -3` first on Windows (python.org's installer puts it on PATH; `python` there may be the
/// Microsoft Store's stub).
fn python_candidates() -> Vec<Vec<&'static str>> {
    if cfg!(windows) {
        vec![vec!["py", "-3"], vec!["python"], vec!["python3"]]
    } else {
        vec![vec!["python3"], vec!["python"]]
    }
}

/// The first command that runs Python 3.10 or newer (the oldest that the pinned JupyterLab runs on).
fn find_python() -> Option<Vec<&'static str>> {
    python_candidates().into_iter().find(|candidate| {
        runs(python_command(candidate).args([
            "-c",
            "import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)",
        ]))
    })
}

/// A command that starts Python as `candidate` says (`["py", "-3"]`: program, then arguments).
fn python_command(candidate: &[&str]) -> Command {
    let mut command = Command::new(candidate[0]);
    command.args(&candidate[1..]);
    command
}

fn no_python_message() -> String {
    let how = if cfg!(windows) {
        "install Python 3 from https://www.python.org/downloads/ (tick \"Add python.exe to PATH\") or `winget install Python.Python.3.12`"
    } else if cfg!(target_os = "macos") {
        "install it with `xcode-select --install` or `brew install python`"
    } else {
        "install it with your package manager (Debian/Ubuntu: sudo apt-get install python3 python3-venv)"
    };
    format!(
        "no Python 3.10 or newer found (tried {}): {how}, then run `tinyml lab --install` again",
        python_candidates()
            .iter()
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn no_venv_message(python: &str) -> String {
    let how = if cfg!(windows) || cfg!(target_os = "macos") {
        "reinstall Python from https://www.python.org/downloads/"
    } else {
        "on Debian or Ubuntu install its venv module: sudo apt-get install python3-venv"
    };
    format!("`{python} -m venv` cannot make a venv: {how}, then run `tinyml lab --install` again")
}

/// cargo: on `PATH`, else in cargo's bin folder.
fn find_cargo() -> Option<PathBuf> {
    find_program("cargo")
}

/// Cargo's folder of installed programs (`$CARGO_HOME/bin`, or `~/.cargo/bin`).
fn cargo_home() -> Option<PathBuf> {
    env_path("CARGO_HOME").or_else(|| dirs::home_dir().map(|home| home.join(".cargo")))
}

/// evcxr_jupyter: on `PATH`, else in cargo's bin folder.
pub fn find_evcxr() -> Option<PathBuf> {
    find_program("evcxr_jupyter")
}

/// A program on `PATH`, else in cargo's bin folder.
fn find_program(program: &str) -> Option<PathBuf> {
    let name = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    find_on_path(program).or_else(|| {
        cargo_home()
            .map(|home| home.join("bin").join(&name))
            .filter(|p| p.is_file())
    })
}

/// A program on `PATH` (with the platform's `.exe` where it has one).
pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    let name = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(&name))
        .find(|p| p.is_file())
}

/// The evcxr_jupyter version in cargo's record of installed crates (`.crates.toml`).
fn installed_evcxr_version() -> Option<String> {
    let record = fs::read_to_string(cargo_home()?.join(".crates.toml")).ok()?;
    evcxr_version_in(&record)
}

/// The version in a `.crates.toml` line such as `"evcxr_jupyter 0.22.0 (registry+…)" = […]`.
fn evcxr_version_in(record: &str) -> Option<String> {
    record.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("\"evcxr_jupyter ")?;
        Some(rest.split_whitespace().next()?.to_string())
    })
}

/// Whether this process runs as root (Unix), where Jupyter needs `--allow-root`.
pub fn running_as_root() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = fs::metadata("/proc/self") {
            return meta.uid() == 0;
        }
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }
    #[cfg(not(unix))]
    {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Files

fn read_stamp(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join(STAMP_FILE)).ok()
}

fn write_stamp(dir: &Path, stamp: &str) -> Result<()> {
    let path = dir.join(STAMP_FILE);
    fs::write(&path, stamp).map_err(|e| Error::io(&path, e))
}

/// Opens (creating) and locks `path` exclusively, waiting for others (saying so).
fn lock_exclusive(path: &Path) -> Result<File> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(TryLockError::WouldBlock) => eprintln!(
            "waiting: another `tinyml lab` is building the notebooks' kit ({})",
            path.display()
        ),
        Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
    }
    file.lock().map_err(|e| Error::io(path, e))?;
    Ok(file)
}

/// A new empty folder `parent/NAME-<n>`.
fn tempfile_dir(parent: &Path, name: &str) -> Result<PathBuf> {
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    for n in std::process::id().. {
        let dir = parent.join(format!("{name}-{n}"));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(dir, e)),
        }
    }
    unreachable!("process ids are finite")
}

/// Copies the folder `from` to `to` (which must not exist), keeping each file's modification
/// time: cargo compares the times of a build's outputs, which a copy must not reorder.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir(to).map_err(|e| Error::io(to, e))?;
    let entries = fs::read_dir(from).map_err(|e| Error::io(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| Error::io(&source, e))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_file() {
            fs::copy(&source, &target).map_err(|e| Error::io(&source, e))?;
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| Error::io(&source, e))?;
            set_modified(&target, modified)?;
        } else if kind.is_symlink() {
            copy_symlink(&source, &target)?;
        }
    }
    Ok(())
}

fn set_modified(path: &Path, time: SystemTime) -> Result<()> {
    let file = File::options()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_modified(time).map_err(|e| Error::io(path, e))
}

#[cfg(unix)]
fn copy_symlink(source: &Path, target: &Path) -> Result<()> {
    let link = fs::read_link(source).map_err(|e| Error::io(source, e))?;
    std::os::unix::fs::symlink(link, target).map_err(|e| Error::io(target, e))
}

#[cfg(not(unix))]
fn copy_symlink(source: &Path, target: &Path) -> Result<()> {
    fs::copy(source, target)
        .map(drop)
        .map_err(|e| Error::io(source, e))
}

/// Adds every file under `path` (or `path` itself) to `hash`: its path relative to `root`,
/// its size and its modification time. Skips `target` folders.
fn hash_tree(hash: &mut Fnv, root: &Path, path: &Path) -> Result<()> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n != "target"))
            .collect();
        entries.sort();
        for entry in entries {
            hash_tree(hash, root, &entry)?;
        }
    } else {
        let relative = path.strip_prefix(root).unwrap_or(path);
        hash.add(relative.to_string_lossy().as_bytes());
        hash.add(&meta.len().to_le_bytes());
        let nanos = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        hash.add(&nanos.to_le_bytes());
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable hash for the fingerprint (std's hasher may change between
/// releases).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tinyml-lab-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn evcxr_version_is_read_from_cargos_record() {
        let record = "[v1]\n\"cargo-edit 0.12.0 (registry+https://github.com/rust-lang/crates.io-index)\" = [\"cargo-add\"]\n\"evcxr_jupyter 0.22.0 (registry+https://github.com/rust-lang/crates.io-index)\" = [\"evcxr_jupyter\"]\n";
        assert_eq!(evcxr_version_in(record).as_deref(), Some("0.22.0"));
        assert_eq!(evcxr_version_in("[v1]\n"), None);
    }

    #[test]
    fn two_kernels_get_two_slots_and_a_freed_slot_is_reused() {
        let home = scratch("slots");
        let dirs = KernelDirs::at(&home);
        let first = dirs.acquire().unwrap();
        let second = dirs.acquire().unwrap();
        assert_eq!((first.index, second.index), (0, 1));
        assert_eq!(first.seeded, Seeded::NoTemplate);
        drop(first);
        let again = dirs.acquire().unwrap();
        assert_eq!(again.index, 0, "a slot is free again when its kernel ends");
        drop((second, again));
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn a_slot_is_copied_from_a_newer_template_and_kept_otherwise() {
        let home = scratch("seed");
        let dirs = KernelDirs::at(&home);
        let template = dirs.template();
        fs::create_dir_all(template.join("target/deps")).unwrap();
        fs::write(template.join("target/deps/libkit.rlib"), b"kit v1").unwrap();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        set_modified(&template.join("target/deps/libkit.rlib"), old).unwrap();
        write_stamp(&template, "kit 1").unwrap();

        let slot = dirs.acquire().unwrap();
        assert_eq!(slot.seeded, Seeded::Copied);
        let copied = slot.dir.join("target/deps/libkit.rlib");
        assert_eq!(fs::read(&copied).unwrap(), b"kit v1");
        assert_eq!(
            fs::metadata(&copied).unwrap().modified().unwrap(),
            old,
            "the copy keeps the file's time"
        );
        // What the kernel builds in its slot stays for the next start.
        fs::write(slot.dir.join("target/deps/libctx.so"), b"cell").unwrap();
        drop(slot);
        let slot = dirs.acquire().unwrap();
        assert_eq!(slot.seeded, Seeded::AlreadyWarm);
        assert!(slot.dir.join("target/deps/libctx.so").exists());
        drop(slot);

        // A new warm build replaces the slot's.
        fs::write(template.join("target/deps/libkit.rlib"), b"kit v2").unwrap();
        write_stamp(&template, "kit 2").unwrap();
        let slot = dirs.acquire().unwrap();
        assert_eq!(slot.seeded, Seeded::Copied);
        assert_eq!(
            fs::read(slot.dir.join("target/deps/libkit.rlib")).unwrap(),
            b"kit v2"
        );
        assert!(!slot.dir.join("target/deps/libctx.so").exists());
        drop(slot);
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn a_template_being_rebuilt_is_not_copied() {
        let home = scratch("busy");
        let dirs = KernelDirs::at(&home);
        fs::create_dir_all(dirs.template()).unwrap();
        write_stamp(&dirs.template(), "kit 1").unwrap();
        let warming = lock_exclusive(&dirs.template_lock()).unwrap();
        let slot = dirs.acquire().unwrap();
        assert_eq!(slot.seeded, Seeded::TemplateBusy);
        drop((slot, warming));
        let slot = dirs.acquire().unwrap();
        assert_eq!(slot.seeded, Seeded::Copied);
        drop(slot);
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn a_shared_template_serves_when_the_user_has_none() {
        let home = scratch("shared");
        let shared = home.join("shared");
        fs::create_dir_all(&shared).unwrap();
        fs::write(shared.join("Cargo.toml"), b"[package]").unwrap();
        write_stamp(&shared, "kit 1").unwrap();
        let dirs = KernelDirs {
            home: home.join("user"),
            shared_template: Some(shared),
        };
        let slot = dirs.acquire().unwrap();
        assert_eq!(slot.seeded, Seeded::Copied);
        assert!(slot.dir.join("Cargo.toml").exists());
        drop(slot);
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn the_fingerprint_changes_with_the_kit() {
        let repo = scratch("fingerprint");
        fs::create_dir_all(repo.join("crate/src")).unwrap();
        fs::create_dir_all(repo.join("crate/target")).unwrap();
        fs::write(repo.join("crate/src/lib.rs"), "pub fn a() {}").unwrap();
        let lab = test_lab(&repo);
        let before = lab.fingerprint().unwrap();
        assert_eq!(lab.fingerprint().unwrap(), before, "stable");
        fs::write(repo.join("crate/target/junk"), "x").unwrap();
        assert_eq!(
            lab.fingerprint().unwrap(),
            before,
            "build output is ignored"
        );
        fs::write(repo.join("crate/src/lib.rs"), "pub fn a() { }").unwrap();
        assert_ne!(lab.fingerprint().unwrap(), before, "a changed source");
        fs::remove_dir_all(repo).unwrap();
    }

    fn test_lab(repo: &Path) -> Lab {
        Lab {
            repo: repo.to_path_buf(),
            venv: repo.join("venv"),
            jupyter: repo.join("venv/bin/jupyter"),
            kernels: KernelDirs::at(repo.join("kernels")),
        }
    }

    #[test]
    fn copied_notebooks_find_the_kit_and_a_students_own_notebook_is_kept() {
        let repo = scratch("copy");
        fs::create_dir_all(repo.join("crate")).unwrap();
        fs::create_dir_all(repo.join("notebooks")).unwrap();
        let notebook = |setup: &str, rest: &str| {
            json!({"cells": [
                {"cell_type": "markdown", "metadata": {}, "source": ["# Day 2\n"]},
                {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null,
                 "source": [format!("{setup}\n"), "use tinyml_kit::prelude::*;"]},
                {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null,
                 "source": [rest]},
            ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
            .to_string()
        };
        let ours =
            ":dep tinyml-kit = { package = \"tinyml-kit-dylib\", path = \"../crate/dylib\" }";
        fs::write(
            repo.join("notebooks/day1.ipynb"),
            notebook(ours, "let a = 1;"),
        )
        .unwrap();
        fs::write(
            repo.join("notebooks/day2.ipynb"),
            notebook(ours, "let b = 2;"),
        )
        .unwrap();
        fs::write(repo.join("notebooks/notes.md"), "not a notebook").unwrap();
        // A tool's hidden scratch copy (the notebook_start bench's) is never a lesson.
        fs::write(
            repo.join("notebooks/.day1.static-link.ipynb"),
            notebook(ours, "let c = 3;"),
        )
        .unwrap();
        let student = repo.join("home/shandiin/tinyml");
        fs::create_dir_all(&student).unwrap();
        fs::write(student.join("day2.ipynb"), "my work").unwrap();

        let lab = test_lab(&repo);
        let report = lab.copy_notebooks(&student).unwrap();
        assert_eq!(report.copied, [PathBuf::from("day1.ipynb")]);
        assert_eq!(report.kept, [PathBuf::from("day2.ipynb")]);
        assert_eq!(
            fs::read_to_string(student.join("day2.ipynb")).unwrap(),
            "my work"
        );
        assert!(!student.join("notes.md").exists());

        let copied: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(student.join("day1.ipynb")).unwrap()).unwrap();
        let setup: String = copied["cells"][1]["source"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        let kit = lab.notebook_crate_dir().unwrap();
        assert_eq!(
            setup,
            format!("{}\nuse tinyml_kit::prelude::*;", dep_line(&kit))
        );
        assert!(setup.contains(&kit.display().to_string()), "{setup}");
        assert_eq!(copied["cells"][2]["source"][0], "let a = 1;");

        let again = lab.copy_notebooks(&student).unwrap();
        assert!(again.copied.is_empty(), "a second copy keeps the first");
        assert!(lab.copy_notebooks(&repo.join("notebooks")).is_err());
        fs::remove_dir_all(repo).unwrap();
    }

    #[test]
    fn a_kernels_folder_inside_the_kit_is_refused() {
        let repo = scratch("inside");
        fs::create_dir_all(repo.join("crate")).unwrap();
        let lab = test_lab(&repo);
        let message = lab.warm(None).unwrap_err().to_string();
        assert!(message.contains("TINYML_KERNELS"), "{message}");
        fs::remove_dir_all(repo).unwrap();
    }

    #[test]
    fn the_dep_line_survives_windows_paths() {
        assert_eq!(
            dep_line(Path::new(r"\\?\C:\Users\Ana\tinyml-kit\crate\dylib")),
            r#":dep tinyml-kit = { package = "tinyml-kit-dylib", path = "C:\\Users\\Ana\\tinyml-kit\\crate\\dylib" }"#
        );
        assert_eq!(
            dep_line(Path::new("/opt/tinyml-kit/crate/dylib")),
            r#":dep tinyml-kit = { package = "tinyml-kit-dylib", path = "/opt/tinyml-kit/crate/dylib" }"#
        );
    }

    #[test]
    fn timestamps_parse_to_unix_seconds() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_timestamp("2000-03-01T00:00:01.25Z"),
            Some(951_868_801.25)
        );
        assert_eq!(
            parse_timestamp("2000-03-01T01:00:01.25+01:00"),
            Some(951_868_801.25)
        );
        assert_eq!(parse_timestamp("not a time"), None);
    }
}
