//! The FeedSource controller: one Temporal Schedule per FeedSource.
//!
//! A reconcile: observe (the worker) → settle the feed in buun-curator (`register`, with the
//! pure plan of `feed`) → decide and write the schedule (the one sync of `schedule::sync`, or
//! the cheap listing of `schedule::listing`) → the status (pure, `schedule::status`) written
//! once → events about what changed.

use std::{sync::Arc, time::Instant};

use kube::{
    Api, ResourceExt,
    runtime::{
        controller::Action,
        events::EventType,
        finalizer::{self, Event as Finalizer},
        reflector::ObjectRef,
    },
};
use tracing::Instrument;

mod cleanup;
mod context;
mod hold;
mod listing;
mod register;
mod run_news;
mod runs;

pub use context::FeedContext;
pub use runs::watch as runs_watch;

use super::cache::NEWS_PACE_MAX;
use super::{
    error::Error,
    secrets,
    status::{self, publish},
};
use crate::{
    crd::{
        CuratorWorker, FeedSource, FeedSourceStatus, conditions::Status,
        feedsource::RUN_NOW_ANNOTATION,
    },
    feed::{
        Registration,
        route::{NoRoute, Route, route},
    },
    schedule::{
        DesiredSchedule, desired,
        health::INGESTING,
        status::{Outcome, compute},
        sync::{self, Recorded, Seen, Synced},
    },
};
use cleanup::{cleanup, move_away_from_old_place};
use context::{AWAIT_FALLBACK, FOLLOW_UP};
use listing::{Listed, listed};
use register::register;

/// Finalizer that guarantees the schedule is cleaned up before the resource goes away.
pub const FINALIZER: &str = "curator.buun.dev/schedule";

/// Reconciles one FeedSource (entry point for the kube-runtime controller).
pub async fn reconcile(fs: Arc<FeedSource>, ctx: Arc<FeedContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = fs.namespace().unwrap_or_default();
    let api: Api<FeedSource> = ctx.shared.api(&ns);
    let span = tracing::info_span!("reconcile", kind = "FeedSource", namespace = %ns, name = %fs.name_any());
    let obj = fs.clone();
    let result = finalizer::finalizer(&api, FINALIZER, fs, |event| async {
        match event {
            Finalizer::Apply(fs) => apply(&fs, &ctx).await,
            Finalizer::Cleanup(fs) => cleanup(&fs, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(Error::from);
    status::finished(&ctx.shared, &*obj, started, &result);
    result
}

/// Decides the retry delay after a failed reconcile: exponential per object, with jitter.
pub fn error_policy(fs: Arc<FeedSource>, err: &Error, ctx: Arc<FeedContext>) -> Action {
    status::error_policy(fs, err, &ctx.shared)
}

/// How a new schedule waits for the listing that shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    /// Looks again after this long (at least `FOLLOW_UP`).
    Polling(std::time::Duration),
    /// A listing is being fetched (the last one took this long); its arrival brings the
    /// FeedSource back if it shows its schedule, else it looks again after about that long.
    Notified(std::time::Duration),
}

/// What the stages found and did; the status and the next action follow from it.
enum Step {
    /// The referenced CuratorWorker does not exist: no call was made.
    WorkerNotFound(String),
    /// The spec cannot become a schedule.
    InvalidSpec(String),
    /// The feed is not settled, so the schedule was not touched; `retry` holds a transient
    /// failure to retry with backoff.
    Held {
        registration: Registration,
        retry: Option<Error>,
    },
    /// The schedule is in line with the spec.
    Synced {
        desired: Box<DesiredSchedule>,
        synced: Box<Synced>,
        run_now: Option<String>,
        registration: Registration,
        /// Its runs, when the reconcile read the schedule (none right after a create).
        runs: Option<Box<runs::Observed>>,
    },
    /// Waiting for a listing: a schedule created moments ago, its status written, whose next
    /// runs and server form are still to record; or a resync that found a listing in flight.
    Pending(Waiting),
    /// Temporal or a Secret failed.
    Failed {
        desired: Box<DesiredSchedule>,
        error: Error,
        registration: Registration,
    },
}

async fn apply(fs: &FeedSource, ctx: &FeedContext) -> Result<Action, Error> {
    let step = reconcile_children(fs, ctx).await?;
    // A new schedule is Ready as soon as it is created (one status write, on the path of
    // convergence); its next runs and the server's form come with a later listing, paced so
    // that listings never crowd out the creates of a mass creation.
    let status = status_of(fs, &step);
    if let Some(status) = &status {
        publish(&ctx.shared, fs, status).await?;
    }
    report(ctx, fs, &step, status.as_ref()).await;
    next(ctx, fs, step)
}

/// Observe, then settle the feed in buun-curator, then the schedule.
async fn reconcile_children(fs: &FeedSource, ctx: &FeedContext) -> Result<Step, Error> {
    let ns = fs.namespace().unwrap_or_default();
    let uid = fs.uid().unwrap_or_default();
    if ctx.status_lags_create(&uid, fs) {
        // Back once the cache has caught up with the status this process wrote.
        return Ok(Step::Pending(Waiting::Polling(FOLLOW_UP)));
    }
    let worker_name = &fs.spec.worker_ref.name;
    let cached = ctx.cached_worker(&ns, worker_name);
    let worker = match cached {
        Some(w) => Some(w),
        None => ctx
            .shared
            .api::<CuratorWorker>(&ns)
            .get_opt(worker_name)
            .await?
            .map(Arc::new),
    };
    let Some(worker) = worker else {
        return Ok(Step::WorkerNotFound(worker_name.clone()));
    };
    let api = worker.spec.curator_api.as_ref();
    // With an API the token is read from its Secret while registering.
    let routed = route(
        fs.spec.feed.id.as_deref(),
        api.map(|a| (a.url.as_str(), true)),
    );
    let registration = match (routed, api) {
        (Ok(Route::Register), Some(api)) => match register(fs, ctx, api).await {
            Ok(r) => r,
            Err(e @ (Error::CuratorApi { .. } | Error::Secret { .. })) => {
                let registration = Registration::Failed {
                    failure: e.failure(),
                    permanent: e.is_permanent(),
                };
                let retry = (!e.is_permanent()).then_some(e);
                return Ok(Step::Held {
                    registration,
                    retry,
                });
            }
            Err(e) => return Err(e),
        },
        (Ok(Route::Unchecked(id)), _) => Registration::NotChecked { id: id.to_owned() },
        (Err(e), _) => return Ok(Step::InvalidSpec(e.to_string())),
        (Ok(Route::Register), None) => return Ok(Step::InvalidSpec(NoRoute::NoApi.to_string())),
    };
    let (feed_id, missing) = match &registration {
        Registration::NotChecked { id } | Registration::Registered { id, .. } => (id, false),
        // A schedule that exists is paused; none is created.
        Registration::NotFound { id }
            if fs.status.as_ref().is_some_and(|s| s.schedule_id.is_some()) =>
        {
            (id, true)
        }
        _ => {
            return Ok(Step::Held {
                registration,
                retry: None,
            });
        }
    };
    let desired = match desired::build_for_feed(
        &ns,
        &fs.name_any(),
        &uid,
        &fs.spec,
        feed_id,
        &worker.spec.temporal,
        &ctx.build,
    ) {
        Ok(d) if missing => d.paused_for_missing_feed(),
        Ok(d) => d,
        Err(e) => return Ok(Step::InvalidSpec(e.to_string())),
    };
    let recorded = Recorded::of(fs, &desired);
    let written = async {
        let creds = secrets::credentials(&ctx.shared.client, &ns, &worker.spec.temporal).await?;
        ctx.shared.remember_credentials(
            &ns,
            &worker.name_any(),
            &worker.spec.temporal.address,
            &creds,
        );
        move_away_from_old_place(fs, ctx, &desired).await?;
        let api = ctx
            .shared
            .pool
            .schedules(&desired.address, &desired.namespace, &creds)
            .await?;
        let synced = match listed(fs, ctx, &desired, &recorded, &api, &creds).await {
            Listed::InSync(synced) => *synced,
            Listed::NotYet(wait) => return Ok(Err(Waiting::Polling(wait))),
            Listed::Awaiting(took) => return Ok(Err(Waiting::Notified(took))),
            Listed::Describe => {
                // Listings for news wait while schedules are being created (`hold`): a
                // resource that never had a schedule is created first
                // (`Recorded::expect_missing`).
                let creating = recorded.expect_missing.then(|| ctx.creates.start());
                let synced = sync::sync(&api, &desired, &recorded).await;
                if let Some(create) = creating {
                    ctx.create_ended(create);
                }
                let synced = synced?;
                ctx.mark_verified(&uid);
                synced
            }
        };
        let observed = match synced.seen {
            Seen::Created => None,
            ref seen => Some(Box::new(runs::observe(ctx, &api, fs, &desired, seen).await)),
        };
        Ok::<_, Error>(Ok((synced, observed)))
    }
    .await;
    let desired = Box::new(desired);
    Ok(match written {
        Ok(Ok((synced, runs))) => Step::Synced {
            desired,
            synced: Box::new(synced),
            run_now: recorded.run_now,
            registration,
            runs,
        },
        Ok(Err(waiting)) => Step::Pending(waiting),
        Err(error) => Step::Failed {
            desired,
            error,
            registration,
        },
    })
}

/// PURE: the status the step leaves (`None`: unchanged).
fn status_of(fs: &FeedSource, step: &Step) -> Option<FeedSourceStatus> {
    let (desired, outcome, registration) = match step {
        Step::Pending(_) => return None,
        Step::WorkerNotFound(name) => (None, Outcome::WorkerNotFound(name), None),
        Step::InvalidSpec(m) => (None, Outcome::InvalidSpec(m.clone()), None),
        Step::Held { registration, .. } => (None, Outcome::Untouched, Some(registration)),
        Step::Synced {
            desired,
            synced,
            run_now,
            registration,
            runs,
        } => (
            Some(&**desired),
            Outcome::Synced {
                synced,
                desired,
                run_now: run_now.as_deref(),
                runs: runs.as_ref().map(|r| &r.recorded),
                created: fs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            },
            Some(registration),
        ),
        Step::Failed {
            desired,
            error,
            registration,
        } => (
            Some(&**desired),
            Outcome::Failed {
                failure: error.failure(),
                temporal_answered: error.temporal_answered(),
                permanent: error.is_permanent(),
            },
            Some(registration),
        ),
    };
    let prev = fs.status.clone().unwrap_or_default();
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    Some(compute(
        &prev,
        fs.metadata.generation,
        desired,
        &outcome,
        registration,
        &now,
    ))
}

/// Events about what the reconcile changed in Temporal, and about the feed's ingestion; what
/// the written status records of the runs is no news any more.
async fn report(
    ctx: &FeedContext,
    fs: &FeedSource,
    step: &Step,
    status: Option<&FeedSourceStatus>,
) {
    let Step::Synced {
        desired,
        synced,
        runs,
        ..
    } = step
    else {
        return;
    };
    if let (Some(observed), Some(status)) = (runs, status) {
        ingestion_recorded(ctx, fs, desired, observed, status).await;
    }
    let id = &desired.id;
    if let Some((reason, note)) = synced.change.event(id, desired.suspended()) {
        tracing::info!(schedule = %id, change = synced.change.as_str(), "schedule reconciled");
        ctx.shared
            .event(fs, EventType::Normal, reason, "Reconcile", note)
            .await;
    }
    if synced.triggered {
        let note = format!("started a run of schedule {id} for {RUN_NOW_ANNOTATION}");
        ctx.shared
            .event(fs, EventType::Normal, "RunTriggered", "RunNow", note)
            .await;
    }
}

/// When to come back, and what this reconcile leaves in memory. A FeedSource in line (or
/// failed for good) comes back with the resync sweep (`controller::resync`), one that only a
/// change can help is parked: the sweep leaves it out.
fn next(ctx: &FeedContext, fs: &FeedSource, step: Step) -> Result<Action, Error> {
    let uid = fs.uid().unwrap_or_default();
    let parked = matches!(step, Step::WorkerNotFound(_) | Step::InvalidSpec(_));
    ctx.park(&uid, parked);
    match step {
        // The worker watch brings the resource back when the worker appears; a spec problem
        // needs a spec change.
        Step::WorkerNotFound(_) | Step::InvalidSpec(_) => Ok(Action::await_change()),
        Step::Pending(Waiting::Polling(wait)) => Ok(Action::requeue(wait.max(FOLLOW_UP))),
        Step::Pending(Waiting::Notified(took)) => {
            Ok(Action::requeue(took.clamp(AWAIT_FALLBACK, NEWS_PACE_MAX)))
        }
        Step::Synced {
            ref synced,
            ref desired,
            ..
        } => {
            ctx.shared.metrics.set_managed(&uid, true);
            // Created with one call: come back in a moment, when a listing shows it, to record
            // the server's form and the next runs. After a run-now trigger the same: the
            // listing shows the run it started (then the runs watch waits for its end).
            let follow = matches!(synced.seen, Seen::Created) || synced.triggered;
            let waiting = follow.then(|| (ObjectRef::from_obj(fs), desired.id.clone()));
            ctx.awaiting_listing(&uid, waiting);
            Ok(if follow {
                Action::requeue(FOLLOW_UP)
            } else {
                Action::await_change()
            })
        }
        // Retried by the sweep too: a Secret, a foreign schedule or a feed can change without
        // this resource changing.
        Step::Failed { error, .. } if error.is_permanent() => Ok(Action::await_change()),
        Step::Failed { error, .. } => Err(error),
        Step::Held {
            retry: Some(error), ..
        } => Err(error),
        Step::Held { retry: None, .. } => Ok(Action::await_change()),
    }
}

/// The status recorded the runs `observed`: the runs that ended count in the metrics (once
/// each), and a change of `Ingesting` to True or False (or of its reason) is an event, a Warning
/// when it turns False.
async fn ingestion_recorded(
    ctx: &FeedContext,
    fs: &FeedSource,
    desired: &DesiredSchedule,
    observed: &runs::Observed,
    status: &FeedSourceStatus,
) {
    let place = (desired.address.clone(), desired.namespace.clone());
    let ns = fs.namespace().unwrap_or_default();
    let name = fs.name_any();
    let metrics = &ctx.shared.metrics;
    for (run, outcome) in &observed.recorded.ended {
        if ctx.run_news.first_count(&place, run) {
            metrics.feed_run_ended(&ns, outcome.as_str());
        }
    }
    if let Some(t) = &status.last_success_time {
        metrics.feed_succeeded(&ns, &name, t.0);
    }
    let before = fs
        .status
        .as_ref()
        .and_then(|s| s.conditions.find(INGESTING));
    // A transition to True or False; not the first "no run yet" of a new FeedSource.
    let Some(now) = status
        .conditions
        .find(INGESTING)
        .filter(|c| c.status != Status::Unknown.as_str())
    else {
        return;
    };
    if before
        .as_ref()
        .is_some_and(|b| b.status == now.status && b.reason == now.reason)
    {
        return;
    }
    let kind = if now.status == Status::False.as_str() {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.shared
        .event(fs, kind, &now.reason, "Ingestion", now.message.clone())
        .await;
}
