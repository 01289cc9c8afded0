//! The CuratorWorker controller: the worker Deployment, its PDB, and the autoscaler.
//!
//! A reconcile: observe (the Deployment, the FeedSources that use the worker, the task queue
//! load) → decide the replicas (pure, `worker::scaler`) → apply the Deployment and PDB when they
//! lack a wanted value → the status (pure, `worker::status`) written once → events.

use std::{sync::Arc, time::Instant};

use jiff::Timestamp;
use k8s_openapi::{api::apps::v1::Deployment, apimachinery::pkg::apis::meta::v1::Time};
use kube::{
    ResourceExt,
    runtime::{
        controller::Action,
        events::EventType,
        finalizer::{self, Event as Finalizer},
        reflector::Store,
    },
};
use tracing::Instrument;

use super::{
    cache::{LoadCache, NamespaceKey, QueueKey, TtlCache},
    error::Error,
    secrets,
    shared::Shared,
    status::{self, publish},
};
use crate::{
    crd::{CuratorWorker, FeedSource, conditions::Failure, curatorworker::GlobalIngestSchedule},
    metrics,
    temporal::queue::{QueueApi, QueueLoad},
    worker::{
        global::{GLOBAL_SCHEDULE_ID, Global, Outcome},
        scaler::{self, Observed, Params},
        status::{Observation, compute, waiting_for_feedsources},
    },
};

mod children;
mod global;
mod report;
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
    /// Whether a worker may pause buun-curator's global schedule
    /// (`--allow-global-schedule-pause`).
    pub global_pause_allowed: bool,
    /// The operator's `--identity`, which signs its pause notes.
    pub identity: String,
}

impl WorkerContext {
    /// The worker controller's context, reading FeedSources from `feeds`.
    pub fn new(shared: Arc<Shared>, feeds: Store<FeedSource>) -> Self {
        Self {
            global_pause_allowed: shared.global_pause_allowed,
            identity: shared.identity.clone(),
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
        .unwrap_or_else(|_| Outcome {
            seen: Global::Unknown,
            refused: w.spec.global_ingest_schedule == GlobalIngestSchedule::Pause
                && !ctx.global_pause_allowed,
            paused_at: prev.global_schedule_paused_at.clone(),
        });
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
    let children = children::write(w, ctx, &scale, live).await?;
    let invalid = children.problem.or_else(|| {
        params.as_ref().err().map(|e| Failure {
            reason: "InvalidSpec",
            message: e.to_string(),
        })
    });
    // The status, and what to tell.
    let status = compute(
        &prev,
        w.metadata.generation,
        &Observation {
            deployment: children.deployment.as_ref(),
            scale: &scale,
            load: load.map_err(|e| e.failure()),
            feeds,
            next_run,
            scaled: children.scaled_from.is_some(),
            invalid,
            global: Some(&global),
            settings: settings.clone(),
        },
        &Time(now),
    );
    report::tell(shared, w, &status, &scale, children.scaled_from).await;
    publish(shared, w, &status).await?;
    // Missing settings are looked at again soon: a Secret created later shows.
    let recheck = settings
        .as_ref()
        .map_or(poll, |c| settings::reused_for(c, poll));
    Ok(Action::requeue(poll.min(recheck)))
}
