//! The school server's recipe agrees with itself: the image that `tools/server-image` builds
//! here (where no registry is reachable and `podman run` cannot start containers) has the
//! `server/Containerfile`'s environment and command, and the JupyterHub configurations use the
//! per-student limits measured for them (`server/limits.env`). The image itself is built, and a
//! student's notebook run in it, by `tools/server-image` (about 40 minutes: not in every CI run;
//! README, "A school server", gives its last report).

use std::collections::BTreeMap;
use std::path::Path;

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `KEY=VALUE` words of an `ENV` instruction, as a map.
fn env_pairs(words: &str) -> BTreeMap<String, String> {
    words
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The Containerfile's instruction `name` (continuation lines joined), `None` when absent.
fn instruction(containerfile: &str, name: &str) -> Option<String> {
    let mut lines = containerfile.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix(&format!("{name} ")) {
            let mut text = rest.trim_end_matches('\\').to_string();
            let mut continued = rest.ends_with('\\');
            while continued {
                let next = lines.next()?;
                continued = next.ends_with('\\');
                text.push(' ');
                text.push_str(next.trim_end_matches('\\').trim());
            }
            return Some(text);
        }
    }
    None
}

/// The `--change "NAME …"` argument of tools/server-image's `podman import`.
fn import_change(script: &str, name: &str) -> Option<String> {
    script.split("--change ").skip(1).find_map(|rest| {
        let quote = rest.chars().next()?;
        let inner = rest[1..].split(quote).next()?;
        inner.strip_prefix(&format!("{name} ")).map(str::to_string)
    })
}

#[test]
fn the_image_built_here_has_the_containerfiles_environment_and_command() {
    let containerfile = read("server/Containerfile");
    let script = read("tools/server-image");
    let env = env_pairs(&instruction(&containerfile, "ENV").expect("ENV"));
    let kit = "/opt/tinyml-kit";
    let imported = env_pairs(
        &import_change(&script, "ENV")
            .expect("--change ENV")
            .replace("$kit", kit),
    );
    assert_eq!(env, imported);
    assert_eq!(env["TINYML_VENV"], format!("{kit}/venv"));
    for name in ["CMD", "USER", "WORKDIR", "EXPOSE"] {
        assert_eq!(
            instruction(&containerfile, name),
            import_change(&script, name),
            "{name}"
        );
    }
    // The student of the check runs with the image's environment too.
    for (key, value) in &env {
        if key != "PATH" {
            assert!(
                script.contains(&format!("{key}={}", value.replace(kit, "$kit"))),
                "tools/server-image's student_env lacks {key}={value}"
            );
        }
    }
    assert!(instruction(&containerfile, "CMD")
        .unwrap()
        .contains("tinyml lab --copy-to"));
}

#[test]
fn the_hub_configurations_use_the_measured_limits() {
    let limits = env_pairs(
        &read("server/limits.env")
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let values = read("server/z2jh/values.yaml");
    let block = |name: &str, limit: &str, guarantee: &str| {
        format!(
            "  {name}:\n    limit: {}\n    guarantee: {}\n",
            limits[limit], limits[guarantee]
        )
    };
    for expected in [
        block("memory", "TINYML_MEMORY_LIMIT", "TINYML_MEMORY_GUARANTEE"),
        block("cpu", "TINYML_CPU_LIMIT", "TINYML_CPU_GUARANTEE"),
    ] {
        assert!(values.contains(&expected), "values.yaml lacks\n{expected}");
    }
    assert!(values.contains(r#"command: ["tinyml", "lab", "--copy-to", "/home/jovyan/tinyml"]"#));
    let tljh = read("server/tljh/install");
    assert!(tljh.contains(r#". "$kit/server/limits.env""#));
    assert!(tljh.contains(r#"limits.memory "$TINYML_MEMORY_LIMIT""#));
    assert!(tljh.contains(r#"limits.cpu "$TINYML_CPU_LIMIT""#));
}
