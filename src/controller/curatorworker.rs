//! The CuratorWorker controller: the worker Deployment, its PDB, and the autoscaler.

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use jiff::Timestamp;
use k8s_openapi::{
    api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
    runtime::{controller::Action, events::EventType, reflector::Store},
};
use serde_json::json;
use tracing::Instrument;

use super::{
    Context, MANAGER, apply::apply_if_changed, error::Error, load_cache::QueueKey, secrets,
};
use crate::{
    crd::{CuratorWorker, CuratorWorkerStatus, FeedSource},
    resources::{
        worker::{self, Replicas},
        worker_status::{self, Observation},
    },
    scaling::{self, Inputs, Params, QueueLoad},
    temporal::queue::QueueApi,
};

/// What the worker controller needs beyond the shared context.
pub struct WorkerContext {
    /// Shared state.
    pub base: Arc<Context>,
    /// The FeedSources (for the feed count and next run).
    pub feeds: Store<FeedSource>,
    /// Since when a lower replica count has been wanted, per worker UID.
    pub lower_since: Mutex<HashMap<String, Timestamp>>,
}

/// PURE: the FeedSources that reference `worker`, and the earliest next run among the ones that
/// are not suspended.
pub fn feeds_of(feeds: &[Arc<FeedSource>], namespace: &str, worker: &str) -> (i32, Option<Time>) {
    let mine: Vec<_> = feeds
        .iter()
        .filter(|f| {
            f.metadata.namespace.as_deref() == Some(namespace) && f.spec.worker_ref.name == worker
        })
        .collect();
    let next = mine
        .iter()
        .filter(|f| !f.spec.suspend)
        .filter_map(|f| f.status.as_ref().and_then(|s| s.next_runs.first().cloned()))
        .min_by_key(|t| t.0);
    (i32::try_from(mine.len()).unwrap_or(i32::MAX), next)
}

/// Reconciles one CuratorWorker.
pub async fn reconcile(w: Arc<CuratorWorker>, ctx: Arc<WorkerContext>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", kind = "CuratorWorker", namespace = %w.namespace().unwrap_or_default(), name = %w.name_any());
    let uid = w.uid().unwrap_or_default();
    let started = std::time::Instant::now();
    let result = apply(&w, &ctx).instrument(span).await;
    if result.is_ok() {
        ctx.base.backoff.reset(&uid);
    }
    ctx.base.metrics.reconciled(
        "CuratorWorker",
        started.elapsed(),
        result.as_ref().err().map(Error::reason),
    );
    result
}

/// Retry delay after a failure: exponential per object, with jitter.
pub fn error_policy(w: Arc<CuratorWorker>, err: &Error, ctx: Arc<WorkerContext>) -> Action {
    let delay = ctx.base.backoff.next(&w.uid().unwrap_or_default());
    tracing::warn!(name = %w.name_any(), reason = err.reason(), error = %err, retry_in = ?delay, "CuratorWorker reconcile failed");
    Action::requeue(delay)
}

async fn queue_load(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    max_age: std::time::Duration,
) -> Result<QueueLoad, (&'static str, String)> {
    let ns = w.namespace().unwrap_or_default();
    let t = &w.spec.temporal;
    let creds = secrets::credentials(&ctx.base.client, &ns, t)
        .await
        .map_err(|e| (e.reason(), e.to_string()))?;
    let key = QueueKey {
        address: t.address.clone(),
        namespace: t.namespace.clone(),
        task_queue: t.task_queue.clone(),
    };
    let pool = &ctx.base.pool;
    ctx.base
        .load_cache
        .get(&key, max_age, || async {
            let api = pool.schedules(&t.address, &t.namespace, &creds).await?;
            api.load(&t.task_queue).await
        })
        .await
        .map_err(|e| (e.reason(), e.to_string()))
}

async fn apply(w: &CuratorWorker, ctx: &WorkerContext) -> Result<Action, Error> {
    let base = &ctx.base;
    let ns = w.namespace().unwrap_or_default();
    let name = w.name_any();
    let uid = w.uid().unwrap_or_default();
    let deployments: Api<Deployment> = Api::namespaced(base.client.clone(), &ns);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(base.client.clone(), &ns);
    let workers: Api<CuratorWorker> = Api::namespaced(base.client.clone(), &ns);
    let prev = w.status.clone().unwrap_or_default();
    let now = Time(Timestamp::now());
    let (feeds, next_run) = feeds_of(&ctx.feeds.state(), &ns, &name);
    let live = deployments.get_opt(&name).await?;
    let live_replicas = live
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas);
    let params = w
        .spec
        .autoscaling
        .as_ref()
        .map(Params::from_spec)
        .transpose();
    let requeue = match &params {
        Ok(Some(p)) => p.poll_interval,
        _ => base.resync,
    };
    let load = queue_load(w, ctx, requeue).await;
    let (replicas, scaling, lower_since) = match (&params, w.spec.replicas) {
        (Err(e), _) => (Replicas::External, ("InvalidSpec", e.to_string()), None),
        (Ok(None), Some(n)) => (
            Replicas::Set(n),
            ("Fixed", format!("spec.replicas is {n}")),
            None,
        ),
        (Ok(None), None) => (
            Replicas::External,
            (
                "ExternalAutoscaler",
                "replicas are left to an external autoscaler (HPA, KEDA)".to_owned(),
            ),
            None,
        ),
        (Ok(Some(p)), _) => {
            let current = live_replicas.or(prev.desired_replicas).unwrap_or(p.min);
            let lower = ctx
                .lower_since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&uid)
                .copied();
            let d = scaling::decide(&Inputs {
                params: *p,
                load: load.as_ref().ok().copied(),
                feeds,
                next_run: next_run.as_ref().map(|t| t.0),
                current,
                lower_since: lower,
                now: now.0,
            });
            (
                Replicas::Set(d.replicas),
                (d.reason.as_str(), d.message),
                d.lower_since,
            )
        }
    };
    {
        let mut m = ctx.lower_since.lock().unwrap_or_else(|e| e.into_inner());
        match lower_since {
            Some(t) => m.insert(uid.clone(), t),
            None => m.remove(&uid),
        };
    }
    let owner = w
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Finalizer("no owner reference".into()))?;
    let mut invalid = params.as_ref().err().map(|e| e.to_string());
    let mut applied = live.clone();
    let mut scaled = false;
    match worker::deployment(w, owner.clone(), replicas) {
        Ok(desired) => {
            let (dep, wrote) = apply_if_changed(&deployments, &name, &desired, live).await?;
            if let Replicas::Set(n) = replicas
                && live_replicas.is_some_and(|old| old != n)
            {
                scaled = true;
                let old = live_replicas.unwrap_or_default();
                let (reason, verb) = if n > old {
                    ("ScaledUp", "up")
                } else {
                    ("ScaledDown", "down")
                };
                base.event(
                    w,
                    EventType::Normal,
                    reason,
                    "Scale",
                    format!(
                        "scaled {verb} from {old} to {n}: {} ({})",
                        scaling.1, scaling.0
                    ),
                )
                .await;
            }
            if wrote {
                tracing::info!(deployment = %name, "applied worker Deployment");
            }
            applied = Some(dep);
        }
        Err(e) => invalid = Some(e.to_string()),
    }
    match worker::pdb(w, owner) {
        Some(desired) => {
            let live = pdbs.get_opt(&name).await?;
            apply_if_changed(&pdbs, &name, &desired, live).await?;
        }
        None => {
            if let Some(existing) = pdbs.get_opt(&name).await?
                && existing.owner_references().iter().any(|o| o.uid == uid)
            {
                pdbs.delete(&name, &DeleteParams::default()).await?;
            }
        }
    }
    let status = worker_status::compute(
        &prev,
        w.metadata.generation,
        &Observation {
            deployment: applied.as_ref(),
            desired_replicas: match replicas {
                Replicas::Set(n) => Some(n),
                Replicas::External => None,
            },
            load,
            feeds,
            next_run,
            scaling,
            scaled,
            invalid: invalid.clone(),
        },
        &now,
    );
    if let Some(msg) = &invalid
        && prev.conditions.iter().all(|c| c.reason != "InvalidSpec")
    {
        base.event(
            w,
            EventType::Warning,
            "InvalidSpec",
            "Reconcile",
            msg.clone(),
        )
        .await;
    }
    let labels = crate::metrics::Worker {
        namespace: ns.clone(),
        name: name.clone(),
    };
    if let Some(b) = status.backlog {
        base.metrics.worker_backlog.get_or_create(&labels).set(b);
    }
    if let Some(d) = status.desired_replicas {
        base.metrics
            .worker_desired
            .get_or_create(&labels)
            .set(i64::from(d));
    }
    write_status(&workers, w, &status).await?;
    Ok(Action::requeue(requeue))
}

async fn write_status(
    api: &Api<CuratorWorker>,
    w: &CuratorWorker,
    status: &CuratorWorkerStatus,
) -> Result<(), Error> {
    if w.status.as_ref() == Some(status) {
        return Ok(());
    }
    let body = json!({"apiVersion": "curator.buun.dev/v1alpha1", "kind": "CuratorWorker", "status": status});
    api.patch_status(
        &w.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crd::FeedSourceStatus, fixtures};

    fn feed(
        ns: &str,
        name: &str,
        worker: &str,
        next: Option<i64>,
        suspend: bool,
    ) -> Arc<FeedSource> {
        let mut f = fixtures::feed(ns, name);
        f.spec.worker_ref.name = worker.into();
        f.spec.suspend = suspend;
        f.status = next.map(|s| FeedSourceStatus {
            next_runs: vec![Time(Timestamp::from_second(s).expect("ts"))],
            ..Default::default()
        });
        Arc::new(f)
    }

    #[test]
    fn counts_the_workers_feeds_and_finds_the_earliest_active_run() {
        let feeds = [
            feed("news", "a", "curator", Some(300), false),
            feed("news", "b", "curator", Some(100), true),
            feed("news", "c", "curator", Some(200), false),
            feed("news", "d", "curator", None, false),
            feed("news", "e", "other", Some(50), false),
            feed("blogs", "f", "curator", Some(10), false),
        ];
        let (n, next) = feeds_of(&feeds, "news", "curator");
        assert_eq!(n, 4);
        assert_eq!(
            next.map(|t| t.0.as_second()),
            Some(200),
            "suspended feeds do not prewarm"
        );
        assert_eq!(feeds_of(&feeds, "news", "nobody"), (0, None));
    }
}
