//! `tinyml lab`: JupyterLab with the kit's kernel.

use std::path::Path;
use std::process::Command;

use tinyml_kit::error::{Error, Result};
use tinyml_kit::lab::Lab;

use crate::repo_root;

pub(crate) fn lab(install: bool, prepare: bool, tools_only: bool) -> Result<()> {
    let lab = Lab::new(repo_root())?;
    let mut tools = lab.check();
    let ready = |t: &tinyml_kit::lab::Tools| t.jupyter_lab && t.nbclient && t.evcxr.is_some();
    if install && (tools_only || !ready(&tools)) {
        tools = lab.install_tools()?;
    }
    if !ready(&tools) {
        let missing = tools.missing().join(", ");
        return Err(Error::Lab(if install {
            format!("still missing after installing: {missing}")
        } else {
            format!(
                "{missing} missing (venv {}).\n  Install once with `tinyml lab --install` (a Python venv with JupyterLab, and evcxr_jupyter {} with cargo install: about 15 minutes, 1 GB)",
                lab.venv.display(),
                tinyml_kit::lab::EVCXR_VERSION,
            )
        }));
    }
    if tools_only {
        println!(
            "ok: the notebooks' tools are installed (venv {})",
            lab.venv.display()
        );
        return Ok(());
    }
    if let Some(warning) = tools.version_warning() {
        eprintln!("warning: {warning}");
    }
    let launcher = std::env::current_exe().map_err(|e| Error::io("tinyml", e))?;
    let env = lab.kernel_env();
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let spec = lab.install_kernel(&lab.kernel_specs_dir(), &launcher, &env)?;
    println!(
        "kernel: \"{}\" ({})",
        tinyml_kit::lab::KERNEL_DISPLAY_NAME,
        spec.display()
    );
    println!(
        "the kit for the notebooks: compiled once per version of the kit (2 to 4 minutes the first time, progress below)"
    );
    let report = lab.warm(None)?;
    if report.built {
        println!(
            "built in {:.0} s into {}",
            report.seconds,
            report.template.display()
        );
    } else {
        println!("already built ({})", report.template.display());
    }
    if prepare {
        return Ok(());
    }
    let notebooks = lab.repo.join("notebooks");
    let mut command = Command::new(&lab.jupyter);
    command
        .arg("lab")
        .arg(format!("--notebook-dir={}", notebooks.display()));
    if tinyml_kit::lab::running_as_root() {
        println!("running as root (as in a container): JupyterLab is started with --allow-root");
        command.arg("--allow-root");
    }
    println!(
        "starting JupyterLab in {} (Ctrl-C to stop)",
        notebooks.display()
    );
    let status = command.status().map_err(|e| Error::io(&lab.jupyter, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Lab(format!(
            "jupyter lab exited with {status}; its messages are above"
        )))
    }
}
