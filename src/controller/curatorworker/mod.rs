//! The CuratorWorker controller: the worker Deployment, its PDB, and the autoscaler.
//!
//! A reconcile: observe (the Deployment, the FeedSources that use the worker, the task queue
//! load) → decide the replicas (pure, `worker::scaler`) → apply the Deployment and PDB when they
//! lack a wanted value → the status (pure, `worker::status`) written once → events.

use std::{sync::Arc, time::Instant};

use jiff::Timestamp;
use k8s_openapi::{
    api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Resource, ResourceExt,
    api::DeleteParams,
    runtime::{
        controller::Action,
        events::EventType,
        finalizer::{self, Event as Finalizer},
        reflector::Store,
    },
};
use tracing::Instrument;

use super::{
    apply::{apply_if_changed, may_take},
    cache::{LoadCache, NamespaceKey, QueueKey, TtlCache},
    error::Error,
    secrets,
    shared::Shared,
    status::{self, publish},
};
use crate::{
    crd::{
        CuratorWorker, CuratorWorkerStatus, FeedSource,
        conditions::{self, Failure},
    },
    metrics,
    temporal::queue::{QueueApi, QueueLoad},
    worker::{
        deployment::{self, Replicas},
        global::{GLOBAL_SCHEDULE_ACTIVE, GLOBAL_SCHEDULE_ID, Global},
        scaler::{self, Observed, Params, Scale},
        status::{Observation, compute, waiting_for_feedsources},
    },
};

mod global;
mod settings;

pub use crate::crd::curatorworker::FINALIZER;

/// What the worker controller needs.
pub struct WorkerContext {
    /// What both controllers share.
    pub shared: Arc<Shared>,
    /// The FeedSources (for the feed count and next run).
    pub feeds: Store<FeedSource>,
    /// Task queue loads, shared by the workers on a queue.
    pub load_cache: LoadCache,
    /// buun-curator's global schedule, per Temporal frontend and namespace.
    pub global_cache: TtlCache<NamespaceKey, Global, crate::temporal::TemporalError>,
    /// The last check of each worker's required settings.
    settings: settings::Checks,
}

impl WorkerContext {
    /// The worker controller's context, reading FeedSources from `feeds`.
    pub fn new(shared: Arc<Shared>, feeds: Store<FeedSource>) -> Self {
        Self {
            shared,
            feeds,
            load_cache: LoadCache::default(),
            global_cache: TtlCache::default(),
            settings: Default::default(),
        }
    }

    /// How long a read of the global schedule is reused.
    fn global_ttl(&self) -> std::time::Duration {
        (self.shared.resync / 4).clamp(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(60),
        )
    }
}

/// Reconciles one CuratorWorker.
pub async fn reconcile(w: Arc<CuratorWorker>, ctx: Arc<WorkerContext>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", kind = "CuratorWorker", namespace = %w.namespace().unwrap_or_default(), name = %w.name_any());
    let started = Instant::now();
    let api: kube::Api<CuratorWorker> = ctx.shared.api(&w.namespace().unwrap_or_default());
    let obj = w.clone();
    if let Some(users) = still_used(&w, &ctx) {
        // Kept while its FeedSources need its connection to remove their schedules.
        let prev = w.status.clone().unwrap_or_default();
        let now = Time(Timestamp::now());
        let status = waiting_for_feedsources(&prev, w.metadata.generation, users, &now);
        let result = publish(&ctx.shared, &*w, &status)
            .await
            .map(|_| Action::requeue(std::time::Duration::from_secs(2)));
        status::finished(&ctx.shared, &*obj, started, &result);
        return result;
    }
    let result = finalizer::finalizer(&api, FINALIZER, w, |event| async {
        match event {
            Finalizer::Apply(w) => apply(&w, &ctx).await,
            Finalizer::Cleanup(w) => cleanup(&w, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(Error::from);
    status::finished(&ctx.shared, &*obj, started, &result);
    result
}

/// How many FeedSources still reference `w`, when it is being deleted (and still holds the
/// finalizer); `None` otherwise.
fn still_used(w: &CuratorWorker, ctx: &WorkerContext) -> Option<usize> {
    let ours = w.finalizers().iter().any(|f| f == FINALIZER);
    if w.metadata.deletion_timestamp.is_none() || !ours {
        return None;
    }
    let ns = w.namespace();
    let name = w.name_any();
    let users = ctx
        .feeds
        .state()
        .iter()
        .filter(|f| f.metadata.namespace == ns && f.spec.worker_ref.name == name)
        .count();
    (users > 0).then_some(users)
}

/// Before the worker goes away (no FeedSource uses it any more): lift a pause of the global
/// schedule made for it, and forget what was kept about it.
async fn cleanup(w: &CuratorWorker, ctx: &WorkerContext) -> Result<Action, Error> {
    let ns = w.namespace().unwrap_or_default();
    let name = w.name_any();
    let forget = || {
        ctx.shared.forget_worker(&ns, &name);
        let labels = metrics::Worker {
            namespace: ns.clone(),
            name: name.clone(),
        };
        ctx.shared.metrics.worker_backlog.remove(&labels);
        ctx.shared.metrics.worker_desired.remove(&labels);
        ctx.shared.backoff.reset(&w.uid().unwrap_or_default());
        ctx.settings.forget(&w.uid().unwrap_or_default());
    };
    match global::reconcile_global(w, ctx, 0, true).await {
        Ok(_) => {
            forget();
            Ok(Action::await_change())
        }
        Err(e) if e.is_permanent() => {
            let note =
                format!("could not check schedule {GLOBAL_SCHEDULE_ID} ({e}); left as it is");
            ctx.shared
                .event(
                    w,
                    EventType::Warning,
                    "GlobalScheduleNotChecked",
                    "Cleanup",
                    note,
                )
                .await;
            forget();
            Ok(Action::await_change())
        }
        Err(e) => Err(e),
    }
}

/// Retry delay after a failure: exponential per object, with jitter.
pub fn error_policy(w: Arc<CuratorWorker>, err: &Error, ctx: Arc<WorkerContext>) -> Action {
    status::error_policy(w, err, &ctx.shared)
}

/// The queue's load, read at most once per `max_age` per distinct queue.
async fn queue_load(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    max_age: std::time::Duration,
) -> Result<QueueLoad, Error> {
    let ns = w.namespace().unwrap_or_default();
    let t = &w.spec.temporal;
    let creds = secrets::credentials(&ctx.shared.client, &ns, t).await?;
    let key = QueueKey {
        address: t.address.clone(),
        namespace: t.namespace.clone(),
        task_queue: t.task_queue.clone(),
        creds: creds.tag(),
    };
    let pool = &ctx.shared.pool;
    let load = ctx
        .load_cache
        .get(&key, max_age, || async {
            let api = pool.schedules(&t.address, &t.namespace, &creds).await?;
            api.load(&t.task_queue).await
        })
        .await?;
    Ok(load)
}

async fn apply(w: &CuratorWorker, ctx: &WorkerContext) -> Result<Action, Error> {
    let shared = &ctx.shared;
    let ns = w.namespace().unwrap_or_default();
    let name = w.name_any();
    let prev = w.status.clone().unwrap_or_default();
    let now = Timestamp::now();
    // Observe.
    let live = shared.api::<Deployment>(&ns).get_opt(&name).await?;
    let live_replicas = live
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas);
    let (feeds, next_run) = scaler::feeds_of(&ctx.feeds.state(), &ns, &name);
    let params = w
        .spec
        .autoscaling
        .as_ref()
        .map(Params::from_spec)
        .transpose();
    let poll = match &params {
        Ok(Some(p)) => p.poll_interval,
        _ => shared.resync,
    };
    let load = queue_load(w, ctx, poll).await;
    let global = global::reconcile_global(w, ctx, feeds, false)
        .await
        .unwrap_or(Global::Unknown);
    let settings = settings::check(shared, &ctx.settings, w).await;
    // Decide.
    let scale = scaler::scale(
        w.spec.replicas,
        &params,
        &Observed {
            load: load.as_ref().ok().copied(),
            feeds,
            next_run: next_run.as_ref().map(|t| t.0),
            current: live_replicas.or(prev.desired_replicas),
            lower_since: prev.scale_down_since.as_ref().map(|t| t.0),
            now,
        },
    );
    // Write the children.
    let invalid_spec = |message: String| Failure {
        reason: "InvalidSpec",
        message,
    };
    let mut invalid = params.as_ref().err().map(|e| invalid_spec(e.to_string()));
    let (applied, scaled_from) = match write_children(w, ctx, &scale, live.clone()).await {
        Ok(Ok(written)) => written,
        Ok(Err(problem)) => {
            invalid = Some(invalid_spec(problem));
            (live, None)
        }
        // Reported in status and looked at again at the poll interval (a person may hand the
        // object over, or remove it).
        Err(e) if e.is_permanent() => {
            let live = (!matches!(e, Error::NameConflict { .. }))
                .then_some(live)
                .flatten();
            invalid = Some(e.failure());
            (live, None)
        }
        Err(e) => return Err(e),
    };
    // The status, and what to tell.
    let status = compute(
        &prev,
        w.metadata.generation,
        &Observation {
            deployment: applied.as_ref(),
            scale: &scale,
            load: load.map_err(|e| e.failure()),
            feeds,
            next_run,
            scaled: scaled_from.is_some(),
            invalid,
            global: Some(&global),
            settings: settings.clone(),
        },
        &Time(now),
    );
    warn_on_double_ingestion(shared, w, &status).await;
    if let (Some(old), Replicas::Set(n)) = (scaled_from, scale.replicas) {
        let (reason, verb) = if n > old {
            ("ScaledUp", "up")
        } else {
            ("ScaledDown", "down")
        };
        let note = format!(
            "scaled {verb} from {old} to {n}: {} ({})",
            scale.message, scale.reason
        );
        shared
            .event(w, EventType::Normal, reason, "Scale", note)
            .await;
    }
    let labels = metrics::Worker {
        namespace: ns.clone(),
        name: name.clone(),
    };
    if let Some(b) = status.backlog {
        shared.metrics.worker_backlog.get_or_create(&labels).set(b);
    }
    if let Some(d) = status.desired_replicas {
        let gauge = shared.metrics.worker_desired.get_or_create(&labels);
        gauge.set(i64::from(d));
    }
    publish(shared, w, &status).await?;
    // Missing settings are looked at again soon: a Secret created later shows.
    let recheck = settings
        .as_ref()
        .map_or(poll, |c| settings::reused_for(c, poll));
    Ok(Action::requeue(poll.min(recheck)))
}

/// One Warning event when buun-curator's global schedule starts ingesting the worker's feeds a
/// second time.
async fn warn_on_double_ingestion(shared: &Shared, w: &CuratorWorker, new: &CuratorWorkerStatus) {
    let active = |s: Option<&CuratorWorkerStatus>| {
        s.and_then(|s| conditions::find_true(&s.conditions, GLOBAL_SCHEDULE_ACTIVE))
            .map(|c| c.message.clone())
    };
    if let (None, Some(message)) = (active(w.status.as_ref()), active(Some(new))) {
        shared
            .event(
                w,
                EventType::Warning,
                "GlobalScheduleActive",
                "Reconcile",
                message,
            )
            .await;
    }
}

/// The Deployment as applied (or as it was, when nothing needed writing) and the replica count
/// it was scaled from; `Err` holds a spec problem found while building it.
type Written = Result<(Option<Deployment>, Option<i32>), String>;

/// Applies the Deployment and PDB when the live objects lack a wanted value, and removes a PDB
/// that is no longer wanted.
async fn write_children(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    scale: &Scale,
    live: Option<Deployment>,
) -> Result<Written, Error> {
    let ns = w.namespace().unwrap_or_default();
    let name = w.name_any();
    let uid = w.uid().unwrap_or_default();
    let owner = w.controller_owner_ref(&()).ok_or(Error::MissingUid)?;
    let live_replicas = live
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas);
    if let Some(l) = &live
        && !may_take(l.meta(), &uid)
    {
        return Err(Error::NameConflict {
            kind: "Deployment",
            name,
        });
    }
    let written = match deployment::deployment(w, owner.clone(), scale.replicas) {
        Ok(desired) => {
            let api = ctx.shared.api::<Deployment>(&ns);
            let (dep, wrote) = apply_if_changed(&api, &name, &desired, live).await?;
            if wrote {
                tracing::info!(deployment = %name, "applied worker Deployment");
            }
            let scaled_from = match scale.replicas {
                Replicas::Set(n) => live_replicas.filter(|old| *old != n),
                Replicas::External => None,
            };
            Ok((Some(dep), scaled_from))
        }
        Err(e) => Err(e.to_string()),
    };
    let pdbs = ctx.shared.api::<PodDisruptionBudget>(&ns);
    match deployment::pdb(w, owner) {
        Some(desired) => {
            let live = pdbs.get_opt(&name).await?;
            if let Some(l) = &live
                && !may_take(l.meta(), &uid)
            {
                return Err(Error::NameConflict {
                    kind: "PodDisruptionBudget",
                    name,
                });
            }
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
    Ok(written)
}
