//! Whole-kit tests live in `tests/`; this is what several of them share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repo")
        .to_path_buf()
}

/// The host workspace's target dir: `$CARGO_TARGET_DIR` (relative to the repo root), else
/// `<repo>/target`.
pub fn target_dir() -> PathBuf {
    match non_empty_env("CARGO_TARGET_DIR") {
        Some(dir) => repo().join(dir),
        None => repo().join("target"),
    }
}

/// The value of an environment variable, unless it is unset or empty.
pub fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// True under CI (`CI` set and not empty): missing tools fail tests instead of skipping them.
pub fn in_ci() -> bool {
    non_empty_env("CI").is_some()
}

/// Builds the firmware crate `firmware/<name>` (its own workspace, for thumbv7em-none-eabihf)
/// in release, as the board runs it, and gives the path of its binary `bin`.
pub fn build_firmware(name: &str, bin: &str) -> PathBuf {
    let dir = repo().join("firmware").join(name);
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet"])
        // Cargo reads the crate's .cargo/config.toml (its target) from the current folder.
        .current_dir(&dir)
        // The outer `cargo test`'s target dir is for the host workspace.
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building firmware/{name} failed (is the thumbv7em-none-eabihf target installed? \
         tools/setup adds it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("target/thumbv7em-none-eabihf/release").join(bin)
}
