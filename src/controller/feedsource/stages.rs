//! The stages of a FeedSource reconcile, each a function that returns what the next needs or
//! the [`Step`] the reconcile ends with: observe the worker → settle the feed → build the
//! desired schedule → write the schedule (and read its runs). [`status_of`] is the status the
//! step leaves (pure).

use std::{sync::Arc, time::Duration};

use kube::ResourceExt;

use super::{
    context::{FOLLOW_UP, FeedContext},
    listing::{Listed, listed},
    place::move_away_from_old_place,
    register::register,
    runs,
};
use crate::{
    controller::{error::Error, secrets},
    crd::{CuratorWorker, FeedSource, FeedSourceStatus},
    feed::{
        Registration,
        route::{NoRoute, Route, route},
    },
    schedule::{
        DesiredSchedule, desired,
        status::{Outcome, compute},
        sync::{self, Recorded, Seen, Synced},
    },
};

/// How a new schedule waits for the listing that shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Waiting {
    /// Looks again after this long (at least `FOLLOW_UP`).
    Polling(Duration),
    /// A listing is being fetched (the last one took this long); its arrival brings the
    /// FeedSource back if it shows its schedule, else it looks again after about that long.
    Notified(Duration),
}

/// What the stages found and did; the status and the next action follow from it.
pub(super) enum Step {
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
    /// The reconcile failed before it could say anything about the resource (the API server
    /// did not answer): retried with backoff, the status left as it is.
    Error(Error),
}

/// A stage's end: what the next stage needs, or the step the reconcile ends with (boxed: a
/// step is large, and most stages go on).
type Stage<T> = Result<T, Box<Step>>;

impl From<Error> for Box<Step> {
    fn from(e: Error) -> Self {
        Box::new(Step::Error(e))
    }
}

/// The stages, in order.
pub(super) async fn reconcile_children(fs: &FeedSource, ctx: &FeedContext) -> Step {
    let stages = async {
        let worker = observe_worker(fs, ctx).await?;
        let (registration, feed_id, missing) = settle_feed(fs, ctx, &worker).await?;
        let desired = build_desired(fs, ctx, &worker, &feed_id, missing.then_some(&registration))?;
        Ok::<_, Box<Step>>(write_schedule(fs, ctx, &worker, desired, registration).await)
    };
    match stages.await {
        Ok(step) => step,
        Err(step) => *step,
    }
}

/// The worker the FeedSource names, from the cache (or the API server, before the cache has
/// it); none: `WorkerNotFound`. A copy older than this process's own status write waits.
async fn observe_worker(fs: &FeedSource, ctx: &FeedContext) -> Stage<Arc<CuratorWorker>> {
    let ns = fs.namespace().unwrap_or_default();
    if ctx.status_lags_create(&fs.uid().unwrap_or_default(), fs) {
        // Back once the cache has caught up with the status this process wrote.
        return Err(Box::new(Step::Pending(Waiting::Polling(FOLLOW_UP))));
    }
    let name = &fs.spec.worker_ref.name;
    let worker = match ctx.workers.get(&ns, name) {
        Some(w) => Some(w),
        None => ctx
            .shared
            .api::<CuratorWorker>(&ns)
            .get_opt(name)
            .await
            .map_err(Error::from)?
            .map(Arc::new),
    };
    worker.ok_or_else(|| Box::new(Step::WorkerNotFound(name.clone())))
}

/// The feed, settled in buun-curator when the worker has its API (`feed::route`): its ID, and
/// whether it is missing there (an existing schedule is then paused, none is created).
async fn settle_feed(
    fs: &FeedSource,
    ctx: &FeedContext,
    worker: &CuratorWorker,
) -> Stage<(Registration, String, bool)> {
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
                return Err(Box::new(Step::Held {
                    registration,
                    retry,
                }));
            }
            Err(e) => return Err(e.into()),
        },
        (Ok(Route::Unchecked(id)), _) => Registration::NotChecked { id: id.to_owned() },
        (Err(e), _) => return Err(Box::new(Step::InvalidSpec(e.to_string()))),
        (Ok(Route::Register), None) => {
            return Err(Box::new(Step::InvalidSpec(NoRoute::NoApi.to_string())));
        }
    };
    let had_schedule = fs.status.as_ref().is_some_and(|s| s.schedule_id.is_some());
    match &registration {
        Registration::NotChecked { id } | Registration::Registered { id, .. } => {
            let id = id.clone();
            Ok((registration, id, false))
        }
        // A schedule that exists is paused; none is created.
        Registration::NotFound { id }
        | Registration::HeldByOther { id, .. }
        | Registration::OfAnotherNamespace { id, .. }
            if had_schedule =>
        {
            let id = id.clone();
            Ok((registration, id, true))
        }
        _ => Err(Box::new(Step::Held {
            registration,
            retry: None,
        })),
    }
}

/// The schedule the spec asks for, for `feed_id`; paused while the feed is missing or another
/// FeedSource holds it (`paused_for`).
fn build_desired(
    fs: &FeedSource,
    ctx: &FeedContext,
    worker: &CuratorWorker,
    feed_id: &str,
    paused_for: Option<&Registration>,
) -> Stage<DesiredSchedule> {
    let built = desired::build_for_feed(
        &fs.namespace().unwrap_or_default(),
        &fs.name_any(),
        &fs.uid().unwrap_or_default(),
        &fs.spec,
        feed_id,
        &worker.spec.temporal,
        &ctx.build,
    );
    match built {
        Ok(d) => Ok(match paused_for {
            None => d,
            Some(Registration::NotFound { .. }) => d.paused_for_missing_feed(),
            Some(_) => d.paused_for_held_feed(),
        }),
        Err(e) => Err(Box::new(Step::InvalidSpec(e.to_string()))),
    }
}

/// The schedule in line with `desired`: from the listing when it shows it as the operator left
/// it, else the one sync (describe → plan → write → verify); then its runs.
async fn write_schedule(
    fs: &FeedSource,
    ctx: &FeedContext,
    worker: &CuratorWorker,
    desired: DesiredSchedule,
    registration: Registration,
) -> Step {
    let recorded = Recorded::of(fs, &desired);
    let written = synced_with_runs(fs, ctx, worker, &desired, &recorded).await;
    let desired = Box::new(desired);
    match written {
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
    }
}

/// What the schedule is after the write (or the wait for a listing), and its runs.
type Written = Result<(Synced, Option<Box<runs::Observed>>), Waiting>;

async fn synced_with_runs(
    fs: &FeedSource,
    ctx: &FeedContext,
    worker: &CuratorWorker,
    desired: &DesiredSchedule,
    recorded: &Recorded,
) -> Result<Written, Error> {
    let ns = fs.namespace().unwrap_or_default();
    let uid = fs.uid().unwrap_or_default();
    let t = &worker.spec.temporal;
    let creds = secrets::credentials(&ctx.shared.client, &ns, t).await?;
    let shared = &ctx.shared;
    shared.remember_credentials(&ns, &worker.name_any(), &t.address, &creds);
    move_away_from_old_place(fs, ctx, desired).await?;
    let api = shared
        .pool
        .schedules(&desired.address, &desired.namespace, &creds)
        .await?;
    let synced = match listed(fs, ctx, desired, recorded, &api, &creds).await {
        Listed::InSync(synced) => *synced,
        Listed::NotYet(wait) => return Ok(Err(Waiting::Polling(wait))),
        Listed::Awaiting(took) => return Ok(Err(Waiting::Notified(took))),
        Listed::Describe => {
            // Listings for news wait while schedules are being created (`hold`): a resource
            // that never had a schedule is created first (`Recorded::expect_missing`).
            let creating = recorded.expect_missing.then(|| ctx.creates.start());
            let synced = sync::sync(&api, desired, recorded).await;
            if let Some(create) = creating {
                ctx.create_ended(create);
            }
            let synced = synced?;
            ctx.verified.mark(&uid);
            synced
        }
    };
    let observed = match synced.seen {
        Seen::Created => None,
        ref seen => Some(Box::new(runs::observe(ctx, &api, fs, desired, seen).await)),
    };
    Ok(Ok((synced, observed)))
}

/// PURE: the status the step leaves (`None`: unchanged).
pub(super) fn status_of(fs: &FeedSource, step: &Step) -> Option<FeedSourceStatus> {
    let (desired, outcome, registration) = match step {
        Step::Pending(_) | Step::Error(_) => return None,
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
