//! `curator-operator sync`: the FeedSource reconcile without Kubernetes, from YAML files.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::ExitCode,
};

use kube::ResourceExt;
use serde::Deserialize;

use crate::{
    config::SyncArgs,
    crd::{CuratorWorker, FeedSource},
    schedule::{
        BuildOptions, delete, desired,
        sync::{self, Recorded, SyncError},
    },
    temporal::{
        ScheduleApi, TemporalError,
        memo::Owner,
        pool::{Credentials, Pool},
    },
};

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

/// The result for one feed, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `created`, `updated`, `unchanged`, `conflict`, `error`, `pruned`…
    pub status: String,
    /// `namespace/name`.
    pub resource: String,
    /// Detail: the schedule ID or the error.
    pub detail: String,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<15} {:<40} {}",
            self.status, self.resource, self.detail
        )
    }
}

/// Reconciles every declared feed with `connect` giving the schedules of a (address, namespace).
pub async fn sync_all<A, F, Fut>(
    docs: &Documents,
    opts: &BuildOptions,
    address_override: Option<&str>,
    prune: bool,
    connect: F,
) -> Vec<Line>
where
    A: ScheduleApi,
    F: Fn(String, String) -> Fut,
    Fut: std::future::Future<Output = Result<A, TemporalError>>,
{
    let mut lines = Vec::new();
    let workers: BTreeMap<(String, String), &CuratorWorker> = docs
        .workers
        .iter()
        .map(|w| ((w.namespace().unwrap_or_default(), w.name_any()), w))
        .collect();
    // Declared feeds per Temporal location, for pruning.
    let mut declared: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    for f in &docs.feeds {
        let ns = f.namespace().unwrap_or_default();
        namespaces.insert(ns.clone());
        let resource = format!("{ns}/{}", f.name_any());
        let line = |status: &str, detail: String| Line {
            status: status.to_owned(),
            resource: resource.clone(),
            detail,
        };
        let Some(worker) = workers.get(&(ns.clone(), f.spec.worker_ref.name.clone())) else {
            lines.push(line(
                "error",
                format!(
                    "CuratorWorker {:?} not declared in namespace {ns}",
                    f.spec.worker_ref.name
                ),
            ));
            continue;
        };
        let mut temporal = worker.spec.temporal.clone();
        if let Some(a) = address_override {
            temporal.address = a.to_owned();
        }
        let desired = match desired::build(&ns, &f.name_any(), "", &f.spec, &temporal, opts) {
            Ok(d) => d,
            Err(e) => {
                lines.push(line("error", format!("invalid spec: {e}")));
                continue;
            }
        };
        declared
            .entry((desired.address.clone(), desired.namespace.clone()))
            .or_default()
            .insert(desired.id.clone());
        let api = match connect(desired.address.clone(), desired.namespace.clone()).await {
            Ok(a) => a,
            Err(e) => {
                lines.push(line("error", e.to_string()));
                continue;
            }
        };
        let recorded = Recorded {
            fingerprint: None,
            generation_changed: false,
            run_now: None,
            expect_missing: false,
        };
        lines.push(match sync::sync(&api, &desired, &recorded).await {
            Ok(s) => line(s.change.as_str(), desired.id.clone()),
            Err(e @ SyncError::Conflict { .. }) => line("conflict", e.to_string()),
            Err(e) => line("error", e.to_string()),
        });
    }
    if prune {
        for ((address, tns), ids) in &declared {
            let api = match connect(address.clone(), tns.clone()).await {
                Ok(a) => a,
                Err(e) => {
                    lines.push(Line {
                        status: "error".into(),
                        resource: format!("{address}/{tns}"),
                        detail: e.to_string(),
                    });
                    continue;
                }
            };
            prune_location(&api, opts, &namespaces, ids, &mut lines).await;
        }
    }
    lines
}

/// Deletes schedules that `sync` created (owner without UID, this identity) for one of
/// `namespaces` and that are no longer declared.
async fn prune_location<A: ScheduleApi>(
    api: &A,
    opts: &BuildOptions,
    namespaces: &BTreeSet<String>,
    declared: &BTreeSet<String>,
    lines: &mut Vec<Line>,
) {
    let listing = match sync::list_all(api, 500).await {
        Ok(l) => l,
        Err(e) => {
            lines.push(Line {
                status: "error".into(),
                resource: "prune".into(),
                detail: e.to_string(),
            });
            return;
        }
    };
    let mut stale: Vec<(String, Owner)> = listing
        .into_values()
        .filter_map(|s| {
            let owner = s.memo_info.owner?;
            (owner.uid.is_empty()
                && owner.operator == opts.identity
                && namespaces.contains(&owner.namespace)
                && s.id == desired::schedule_id(&opts.id_prefix, &owner.namespace, &owner.name)
                && !declared.contains(&s.id))
            .then_some((s.id, owner))
        })
        .collect();
    stale.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, owner) in stale {
        let resource = format!("{}/{}", owner.namespace, owner.name);
        let policy = crate::crd::feedsource::DeletionPolicy::Delete;
        lines.push(match delete::delete(api, &id, &owner, policy).await {
            Ok(_) => Line {
                status: "pruned".into(),
                resource,
                detail: id,
            },
            Err(e) => Line {
                status: "error".into(),
                resource,
                detail: e.to_string(),
            },
        });
    }
}

/// Runs `sync` and prints one line per feed; fails when any feed failed.
pub async fn run(args: SyncArgs) -> ExitCode {
    let docs = read_documents(&args.files, &args.namespace);
    let mut failed = !docs.errors.is_empty();
    for e in &docs.errors {
        println!("{:<15} {e}", "error");
    }
    let opts = args.temporal.build_options();
    let pool = Pool::new(&args.temporal.identity, args.temporal.temporal_timeout)
        .with_rps(args.temporal.temporal_rps);
    let lines = sync_all(
        &docs,
        &opts,
        args.temporal_address.as_deref(),
        args.prune,
        |address, ns| {
            let pool = pool.clone();
            async move { pool.schedules(&address, &ns, &Credentials::default()).await }
        },
    )
    .await;
    for l in &lines {
        println!("{l}");
        failed |= matches!(l.status.as_str(), "error" | "conflict");
    }
    println!(
        "{} feeds: {} ok, {} failed",
        lines.iter().filter(|l| l.status != "pruned").count(),
        lines
            .iter()
            .filter(|l| !matches!(l.status.as_str(), "error" | "conflict" | "pruned"))
            .count(),
        lines
            .iter()
            .filter(|l| matches!(l.status.as_str(), "error" | "conflict"))
            .count()
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
