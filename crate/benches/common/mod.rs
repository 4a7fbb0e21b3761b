//! What the benchmarks share: medians and the Python that runs the baselines.

/// The median (the upper one for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The Python of the baselines: `$TINYML_BENCH_PYTHON`, or the benchmark venv
/// `~/.cache/tinyml-kit/bench-venv/bin/python`.
pub fn python() -> String {
    std::env::var("TINYML_BENCH_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/tinyml-kit/bench-venv/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}
