//! The layout as a test: arrows between the crate's concerns point down only, and no two files
//! import each other (directly or in a longer circle), in the shipped build and in test builds.
//! Read from the sources: every `use` path and inline `crate::` path, resolved to the file that
//! defines it. The layers, and why, are in `docs/architecture.md`; [`layer`] is their table.
//! `testing` (test support) may use anything; only test code may use it.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Layer of each top-level module: a module may use only modules of a higher number.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "main" | "lib" | "app" => 0,
        "sync_cli" | "leader" | "telemetry" => 1,
        "config" | "controller" => 2,
        "schedule" | "worker" => 3,
        "feed" => 4,
        "temporal" | "curator_api" | "http" | "kube_client" => 5,
        "crd" | "metrics" => 6,
        "uid" | "runtime" => 7,
        _ => return None,
    })
}

/// The sources: `src/`, or another tree (`CURATOR_LAYERING_SRC`, e.g. an older checkout's, to
/// compare).
fn src() -> PathBuf {
    std::env::var_os("CURATOR_LAYERING_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

/// Every source file, by its module path (`schedule::sync`); test-only files (`tests.rs`,
/// `*_tests.rs`, the `mod tests` of their neighbour) only in `test builds`.
fn files(test_builds: bool) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("src") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    walk(&src(), &mut all);
    let test_file = |p: &PathBuf| {
        let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        name == "tests" || name.ends_with("_tests")
    };
    all.into_iter()
        .filter(|p| test_builds || !test_file(p))
        .map(|p| {
            let rel = p.strip_prefix(src()).expect("under src").with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            // `x_tests.rs` is `x`'s `mod tests`; `tests.rs` its directory module's.
            if let Some(last) = parts.pop() {
                match last.strip_suffix("_tests") {
                    Some(of) => parts.extend([of.to_owned(), "tests".to_owned()]),
                    None => parts.push(last),
                }
            }
            (parts.join("::"), p)
        })
        .collect()
}

/// The source without comments, and without `#[cfg(test)]` items unless `test_builds`.
fn code(path: &Path, test_builds: bool) -> String {
    let text = std::fs::read_to_string(path).expect("read");
    let mut out = String::new();
    let mut skip_depth: Option<i32> = None;
    let mut depth = 0i32;
    let mut pending_test = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if !test_builds
            && (trimmed.starts_with("#[cfg(test)]") || trimmed.starts_with("#[cfg(any(test"))
        {
            pending_test = true;
            continue;
        }
        let opens = line.matches('{').count() as i32;
        let closes = line.matches('}').count() as i32;
        if pending_test && skip_depth.is_none() {
            pending_test = false;
            if opens == 0 {
                // `mod tests;` or a one-line item: nothing to keep.
                continue;
            }
            skip_depth = Some(depth);
        }
        depth += opens - closes;
        match skip_depth {
            Some(d) if depth <= d => skip_depth = None,
            Some(_) => {}
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Expands a use tree (`a::{b, c::{d}}`) into full paths.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    match tree.find('{') {
        Some(open) if tree.ends_with('}') => {
            let head = tree[..open].trim_end_matches("::");
            let inner = &tree[open + 1..tree.len() - 1];
            let p = join(prefix, head);
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[start..i], &p, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&inner[start..], &p, out);
        }
        _ => {
            let leaf = tree.split(" as ").next().unwrap_or(tree).trim();
            out.push(join(prefix, leaf));
        }
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}::{b}"),
    }
}

/// The crate paths a file refers to, made absolute (`crate::` dropped).
fn references(module: &str, code: &str) -> Vec<String> {
    let parent: Vec<&str> = module.split("::").collect();
    let absolute = |p: &str| -> Option<String> {
        if let Some(rest) = p.strip_prefix("crate::") {
            return Some(rest.to_owned());
        }
        let mut base: Vec<&str> = parent.clone();
        let mut rest = p;
        let mut climbed = false;
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
            climbed = true;
        }
        climbed.then(|| join(&base.join("::"), rest))
    };
    let mut paths = Vec::new();
    let flat = code.replace('\n', " ");
    for stmt in flat.split(';') {
        let s = stmt.trim();
        let Some(u) = s
            .strip_prefix("pub use ")
            .or_else(|| s.strip_prefix("pub(crate) use "))
            .or_else(|| s.strip_prefix("use "))
        else {
            continue;
        };
        let mut expanded = Vec::new();
        expand(u, "", &mut expanded);
        paths.extend(expanded.iter().filter_map(|p| absolute(p)));
    }
    let inline = regex::Regex::new(r"(?:crate|super)(?:::super)*(?:::[A-Za-z_][A-Za-z0-9_]*)+")
        .expect("regex");
    paths.extend(inline.find_iter(&flat).filter_map(|m| absolute(m.as_str())));
    paths
}

/// The file (module path) that defines `path`: its longest prefix that is a file.
fn resolve<'a>(path: &str, files: &'a BTreeMap<String, PathBuf>) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|p| files.get_key_value(&p).map(|(k, _)| k.as_str()))
}

fn edges(test_builds: bool) -> BTreeMap<String, BTreeSet<String>> {
    let files = files(test_builds);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &files {
        let code = code(path, test_builds);
        let targets = out.entry(module.clone()).or_default();
        for r in references(module, &code) {
            if let Some(t) = resolve(&r, &files)
                && t != module
                && !module.starts_with(&format!("{t}::"))
            {
                targets.insert(t.to_owned());
            }
        }
    }
    out
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// The imports against the layering; in test builds, test code may use `testing` too.
fn against_layering(test_builds: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, targets) in edges(test_builds) {
        for to in targets {
            let (a, b) = (top(&from), top(&to));
            if a == b || a == "testing" {
                continue;
            }
            if b == "testing" {
                if !test_builds {
                    wrong.push(format!("{from} -> {to}: only tests may use test support"));
                }
                continue;
            }
            match (layer(a), layer(b)) {
                (Some(la), Some(lb)) if la < lb => {}
                (la, lb) => wrong.push(format!("{from} ({la:?}) -> {to} ({lb:?})")),
            }
        }
    }
    wrong
}

#[test]
fn arrows_between_concerns_point_down() {
    let wrong = against_layering(false);
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn arrows_point_down_in_test_builds_too() {
    let wrong = against_layering(true);
    assert!(
        wrong.is_empty(),
        "imports against the layering in test builds:\n{}",
        wrong.join("\n")
    );
}

/// Every import circle (one line each, from its smallest file).
fn circles(test_builds: bool) -> (usize, usize, BTreeSet<String>) {
    let graph = edges(test_builds);
    let mut circles = BTreeSet::new();
    // A circle exists when a file reaches itself.
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    let mut c = path.clone();
                    let min = c.iter().min().cloned().unwrap_or_default();
                    let at = c.iter().position(|x| *x == min).unwrap_or(0);
                    c.rotate_left(at);
                    circles.insert(c.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    (graph.len(), edges, circles)
}

#[test]
fn no_two_files_import_each_other() {
    for test_builds in [false, true] {
        let (files, edges, circles) = circles(test_builds);
        println!(
            "test builds {test_builds}: {files} files, {edges} import edges, {} circles",
            circles.len()
        );
        assert!(
            circles.is_empty(),
            "import circles (test builds: {test_builds}):\n{}",
            circles.into_iter().collect::<Vec<_>>().join("\n")
        );
    }
}
