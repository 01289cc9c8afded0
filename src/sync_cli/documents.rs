//! Reading FeedSources and CuratorWorkers from YAML files, checked as the API server would.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::crd::{CuratorWorker, FeedSource};

/// Resources read from the files.
#[derive(Debug, Default)]
pub struct Documents {
    /// FeedSources, with their namespace filled in.
    pub feeds: Vec<FeedSource>,
    /// CuratorWorkers, with their namespace filled in.
    pub workers: Vec<CuratorWorker>,
    /// Documents that could not be read, as `path: problem`.
    pub errors: Vec<String>,
}

/// The files under `path`, in order. A directory reached twice (a symlink loop, or two links
/// to one place) is read once, and the second time is an error: a loop would never end.
fn yaml_files(
    path: &Path,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<String>,
) -> std::io::Result<()> {
    if path.is_dir() {
        if !seen.insert(path.canonicalize()?) {
            errors.push(format!(
                "{}: a directory already read (a symlink loop?): skipped",
                path.display()
            ));
            return Ok(());
        }
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for e in entries {
            yaml_files(&e.path(), seen, out, errors)?;
        }
    } else if path.is_file() {
        out.push(path.to_owned());
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} not found", path.display()),
        ));
    }
    Ok(())
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Parses every FeedSource and CuratorWorker in `text`; kinds of other API groups are skipped,
/// and an unknown version or kind of ours is an error. The CRDs' CEL rules are checked as the
/// API server would.
pub fn parse_documents(text: &str, origin: &str, default_ns: &str, docs: &mut Documents) {
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = match serde_yaml::Value::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                docs.errors
                    .push(format!("{origin} document {}: {e}", i + 1));
                continue;
            }
        };
        let field = |f: &str| {
            value
                .get(f)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        if let Some(problem) = unknown(&api_version, &kind) {
            // A FeedSource misspelled would be pruned as if its file had gone.
            docs.errors
                .push(format!("{origin} document {}: {problem}", i + 1));
            continue;
        }
        if api_version != API_VERSION {
            continue;
        }
        let fill_ns = |meta: &mut kube::core::ObjectMeta| {
            if meta.namespace.is_none() {
                meta.namespace = Some(default_ns.to_owned());
            }
        };
        let result = match kind.as_str() {
            "FeedSource" => serde_yaml::from_value::<FeedSource>(value)
                .map_err(|e| e.to_string())
                .and_then(|mut f| {
                    f.validate_cel().map_err(cel_message)?;
                    fill_ns(&mut f.metadata);
                    docs.feeds.push(f);
                    Ok(())
                }),
            "CuratorWorker" => serde_yaml::from_value::<CuratorWorker>(value)
                .map_err(|e| e.to_string())
                .and_then(|mut w| {
                    w.validate_cel().map_err(cel_message)?;
                    fill_ns(&mut w.metadata);
                    docs.workers.push(w);
                    Ok(())
                }),
            _ => Ok(()),
        };
        if let Err(e) = result {
            docs.errors
                .push(format!("{origin} document {} ({kind}): {e}", i + 1));
        }
    }
}

/// The API version of both kinds `sync` reads.
const API_VERSION: &str = "curator.buun.dev/v1alpha1";

/// PURE: why a document that looks like one of ours is not one `sync` knows (`None`: it is,
/// or it is of another API group, which `sync` skips).
fn unknown(api_version: &str, kind: &str) -> Option<String> {
    let ours = matches!(kind, "FeedSource" | "CuratorWorker");
    let our_group = api_version.starts_with("curator.buun.dev/");
    match (our_group, ours) {
        (true, true) if api_version == API_VERSION => None,
        (false, false) => None,
        _ => Some(format!(
            "apiVersion {api_version:?}, kind {kind:?} is not one sync knows ({API_VERSION} FeedSource or CuratorWorker)"
        )),
    }
}

fn cel_message(errors: impl std::fmt::Debug) -> String {
    format!("rejected by the CRD's validation rules: {errors:?}")
}

/// Reads all documents under `paths`.
pub fn read_documents(paths: &[PathBuf], default_ns: &str) -> Documents {
    let mut docs = Documents::default();
    let mut seen = HashSet::new();
    for p in paths {
        let mut files = Vec::new();
        if let Err(e) = yaml_files(p, &mut seen, &mut files, &mut docs.errors) {
            docs.errors.push(format!("{}: {e}", p.display()));
            continue;
        }
        for f in files.into_iter().filter(|f| is_yaml(f)) {
            match std::fs::read_to_string(&f) {
                Ok(text) => parse_documents(&text, &f.display().to_string(), default_ns, &mut docs),
                Err(e) => docs.errors.push(format!("{}: {e}", f.display())),
            }
        }
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelled_feedsource_is_an_error_and_other_groups_are_skipped() {
        let text = "apiVersion: curator.buun.dev/v1\nkind: FeedSource\nmetadata: {name: a}\n---\napiVersion: curator.buun.dev/v1alpha1\nkind: Feedsource\nmetadata: {name: b}\n---\napiVersion: curator.bun.dev/v1alpha1\nkind: FeedSource\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n";
        let mut docs = Documents::default();
        parse_documents(text, "f.yaml", "news", &mut docs);
        assert_eq!(docs.errors.len(), 3, "{:?}", docs.errors);
        assert!(
            docs.errors[0].starts_with("f.yaml document 1: apiVersion"),
            "{:?}",
            docs.errors
        );
        assert!(docs.feeds.is_empty());
    }

    #[test]
    fn a_symlink_loop_is_read_once_and_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("feeds");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::write(sub.join("w.yaml"), "apiVersion: v1\nkind: ConfigMap\n").expect("write");
        std::os::unix::fs::symlink(dir.path(), sub.join("loop")).expect("symlink");
        let docs = read_documents(&[dir.path().to_owned()], "news");
        assert_eq!(docs.errors.len(), 1, "{:?}", docs.errors);
        assert!(docs.errors[0].contains("symlink loop"), "{:?}", docs.errors);
    }
}
