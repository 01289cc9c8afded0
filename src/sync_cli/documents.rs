//! Reading FeedSources and CuratorWorkers from YAML files, checked as the API server would.

use std::path::{Path, PathBuf};

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

fn yaml_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for e in entries {
            yaml_files(&e.path(), out)?;
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

/// Parses every FeedSource and CuratorWorker in `text`; other kinds are skipped. The CRDs'
/// CEL rules are checked as the API server would.
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
        let api_version = value
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if api_version != "curator.buun.dev/v1alpha1" {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
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

fn cel_message(errors: impl std::fmt::Debug) -> String {
    format!("rejected by the CRD's validation rules: {errors:?}")
}

/// Reads all documents under `paths`.
pub fn read_documents(paths: &[PathBuf], default_ns: &str) -> Documents {
    let mut docs = Documents::default();
    for p in paths {
        let mut files = Vec::new();
        if let Err(e) = yaml_files(p, &mut files) {
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
