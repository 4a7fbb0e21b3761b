//! The instructor's guide's table of slide topics names notebook cells that exist.

use std::fs;
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the repository")
}

/// The text between the first two backticks of `cell`, if any.
fn quoted(cell: &str) -> Option<&str> {
    let rest = cell.split_once('`')?.1;
    Some(rest.split_once('`')?.0)
}

#[test]
fn every_slide_topic_names_a_cell_that_exists() {
    let guide = fs::read_to_string(repo().join("docs/instructor-guide.md")).expect("the guide");
    let (_, section) = guide
        .split_once("## Slide topics and notebook cells")
        .expect("the guide's slide-topic section");
    let mut rows = 0;
    for line in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| slides"))
    {
        let columns: Vec<&str> = line.split(" | ").collect();
        assert!(columns.len() >= 4, "a row of five columns: {line}");
        let notebook = quoted(columns[2]).unwrap_or_else(|| panic!("a notebook in: {line}"));
        let cell = quoted(columns[3]).unwrap_or_else(|| panic!("a cell in: {line}"));
        let path = repo().join("notebooks").join(format!("{notebook}.ipynb"));
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json: serde_json::Value = serde_json::from_str(&text).expect("a notebook");
        let found = json["cells"].as_array().expect("cells").iter().any(|c| {
            let source = tinyml_kit::lab::source_text(&c["source"]);
            source.contains(cell)
        });
        assert!(found, "{notebook} has no cell with `{cell}` (row: {line})");
        rows += 1;
    }
    assert!(rows >= 30, "{rows} rows");
}
