//! The documentation stays true to the tree: every path `docs/architecture.md` names exists,
//! and every relative link of the README and of `docs/` leads to a file that exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The repository paths a text names: words that start with one of the top-level directories
/// (`src/…`, `tests/…`, …), as written in code spans and lists.
fn named_paths(text: &str) -> Vec<String> {
    let tops = [
        "src/",
        "tests/",
        "benches/",
        "scripts/",
        "charts/",
        "crds/",
        "docs/",
        "examples/",
    ];
    let mut out = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "`()[],;:\"'".contains(c)) {
        let word = word.trim_end_matches(['.', '*']);
        if tops.iter().any(|t| word.starts_with(t)) {
            out.push(word.to_owned());
        }
    }
    out
}

#[test]
fn every_path_the_architecture_page_names_exists() {
    let page = read("docs/architecture.md");
    let named = named_paths(&page);
    assert!(named.len() > 40, "found only {} paths", named.len());
    // A directory's files are listed under it, indented, by their names alone.
    let mut dir: Option<PathBuf> = None;
    let mut missing = Vec::new();
    for line in page.lines() {
        let trimmed = line.trim_start();
        let first = trimmed.split_whitespace().next().unwrap_or_default();
        if first.starts_with("src/") && first.ends_with('/') {
            dir = Some(root().join(first));
        } else if !line.starts_with(' ') {
            dir = None;
        }
        if let Some(d) = &dir
            && line.starts_with("  ")
            && first.ends_with(".rs")
            && !root().join(first).exists()
            && !d.join(first).exists()
        {
            missing.push(format!("{} (under {})", first, d.display()));
        }
    }
    for p in named {
        if !root().join(&p).exists() {
            missing.push(p);
        }
    }
    assert!(missing.is_empty(), "named but not there: {missing:?}");
}

/// The targets of the relative Markdown links in `text`.
fn links(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").expect("regex");
    re.captures_iter(text)
        .map(|c| c[1].to_owned())
        .filter(|l| !l.contains("://") && !l.starts_with("mailto:"))
        .collect()
}

#[test]
fn every_relative_link_of_the_readme_and_the_docs_leads_somewhere() {
    let mut pages = vec![PathBuf::from("README.md"), PathBuf::from("BENCHMARKS.md")];
    for e in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p.strip_prefix(root()).expect("under root").to_owned());
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = read(&page.to_string_lossy());
        let base = root().join(page.parent().unwrap_or(Path::new("")));
        for l in links(&text) {
            if !base.join(&l).exists() {
                broken.push(format!("{}: {l}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:?}");
}
