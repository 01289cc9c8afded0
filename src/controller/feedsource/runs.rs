//! The runs of the FeedSources' schedules: what one reconcile records of them
//! ([`observe`]), and the watch that brings a FeedSource back when one of its runs starts, ends
//! or runs too long ([`watch`]), with no read per FeedSource: per Temporal namespace, one
//! visibility query of the runs that ended while any run is in progress, and one schedule
//! listing when a run's time has come.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt, stream};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::{ObjectRef, Store};

use super::{context::FeedContext, listing::fetch_listing, run_news::Place};
use crate::{
    controller::cache::News,
    crd::FeedSource,
    schedule::{
        DesiredSchedule, desired,
        expect::{self, Expect},
        runs::{self, ClosedRun, Recorded, Runs},
        status::latest_action,
        sync::Seen,
    },
    temporal::{
        TemporalError,
        runs::{RunClose, RunsApi, list_all_runs},
    },
};

/// How often the watch looks at the FeedSources.
pub const TICK: Duration = Duration::from_secs(10);
/// While runs are in progress in a Temporal namespace, the runs that ended there are listed
/// this often; a schedule listing for runs whose time came, at most as often.
pub const EVERY: Duration = Duration::from_secs(30);
/// Visibility lags a little behind a run's end: each query asks again for this much before the
/// last one started.
pub const OVERLAP: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);
/// Runs per page of a visibility query.
const RUN_PAGE: i32 = 1000;

/// What a reconcile saw of a schedule's runs.
pub(super) struct Observed {
    /// What the status records.
    pub recorded: Recorded,
}

/// The runs of `desired`'s schedule, as `fs`'s status should record them: the latest run from
/// what the reconcile saw of the schedule (`seen`), the ends the watch learned, and, once per
/// ended run, its close event (its result, or why it failed).
pub(super) async fn observe<A: RunsApi>(
    ctx: &FeedContext,
    api: &A,
    fs: &FeedSource,
    desired: &DesiredSchedule,
    seen: &Seen,
) -> Observed {
    let empty = Default::default();
    let prev = fs.status.as_ref().unwrap_or(&empty);
    let place = (desired.address.clone(), desired.namespace.clone());
    // What the cached status shows is no news any more.
    let (news, shown): (Vec<ClosedRun>, Vec<ClosedRun>) = ctx
        .run_news
        .ended(&place, &desired.id)
        .into_iter()
        .partition(|c| runs::is_news(prev, c));
    if !shown.is_empty() {
        ctx.run_news.recorded(&place, &desired.id, &shown);
    }
    let latest = latest_action(seen);
    let now = Time(Timestamp::now());
    let mut seen_runs = Runs {
        latest,
        closed: &news,
        close: None,
    };
    let first = runs::record(prev, &seen_runs, &now);
    let Some((workflow_id, run_id)) = &first.read else {
        return Observed { recorded: first };
    };
    let close = match ctx.run_news.close_of(&place, run_id) {
        Some(c) => c,
        None => {
            let c = match api.run_close(workflow_id, run_id).await {
                Ok(Some(c)) => runs::trimmed(c),
                Ok(None) => RunClose::default(),
                Err(e) => {
                    tracing::warn!(schedule = %desired.id, workflow = %workflow_id, error = %e, "cannot read how the run ended; recorded without its result");
                    RunClose::default()
                }
            };
            ctx.run_news.read_close(&place, run_id, c.clone());
            c
        }
    };
    seen_runs.close = Some((run_id, &close));
    Observed {
        recorded: runs::record(prev, &seen_runs, &now),
    }
}

/// The FeedSources of one Temporal namespace that wait for news of their runs.
#[derive(Default)]
struct Waiting {
    /// A FeedSource there, whose worker's credentials the reads use: (namespace, worker).
    worker: Option<(String, String)>,
    /// The oldest start of a run in progress.
    running_since: Option<Timestamp>,
    /// The earliest next run whose time came.
    due: Option<Timestamp>,
    /// The FeedSources there, by schedule ID.
    members: HashMap<String, Arc<FeedSource>>,
}

/// PURE: the FeedSources that wait for news of their runs, by Temporal namespace, and those
/// to bring back at once (a run in progress that now runs too long).
fn waiting(
    feeds: &[Arc<FeedSource>],
    now: Timestamp,
) -> (BTreeMap<Place, Waiting>, Vec<ObjectRef<FeedSource>>) {
    let mut places: BTreeMap<Place, Waiting> = BTreeMap::new();
    let mut stuck = Vec::new();
    for fs in feeds {
        let Some(s) = &fs.status else { continue };
        let (Some(id), Some(address), Some(namespace), Some(worker)) = (
            &s.schedule_id,
            &s.temporal_address,
            &s.temporal_namespace,
            &s.worker,
        ) else {
            continue;
        };
        if fs.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let e: Expect = expect::expect(s, now);
        let w = places
            .entry((address.clone(), namespace.clone()))
            .or_default();
        w.members.insert(id.clone(), fs.clone());
        if e.running_since.is_none() && e.due.is_none() {
            continue;
        }
        w.worker.get_or_insert_with(|| {
            (
                fs.metadata.namespace.clone().unwrap_or_default(),
                worker.clone(),
            )
        });
        w.running_since = earliest(w.running_since, e.running_since);
        w.due = earliest(w.due, e.due);
        if e.stuck {
            stuck.push(ObjectRef::from_obj(&**fs));
        }
    }
    places.retain(|_, w| w.worker.is_some());
    (places, stuck)
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The FeedSources of `store` to reconcile because one of their runs started, ended or runs
/// too long (for `Controller::reconcile_on`); every [`TICK`].
pub fn watch(
    store: Store<FeedSource>,
    ctx: Arc<FeedContext>,
) -> impl Stream<Item = ObjectRef<FeedSource>> + Send + 'static {
    let ticks = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    let listed_for_due: HashMap<Place, Instant> = HashMap::new();
    stream::unfold(
        (ticks, listed_for_due),
        move |(mut ticks, mut listed_for_due)| {
            let (store, ctx) = (store.clone(), ctx.clone());
            async move {
                ticks.tick().await;
                let back = tick(&store.state(), &ctx, &mut listed_for_due).await;
                Some((stream::iter(back), (ticks, listed_for_due)))
            }
        },
    )
    .flatten()
}

/// One look at the FeedSources: the queries that are due, and who comes back.
async fn tick(
    feeds: &[Arc<FeedSource>],
    ctx: &FeedContext,
    listed_for_due: &mut HashMap<Place, Instant>,
) -> Vec<ObjectRef<FeedSource>> {
    let now = Timestamp::now();
    let (places, mut back) = waiting(feeds, now);
    listed_for_due.retain(|p, _| places.contains_key(p));
    for (place, w) in places {
        let Some((namespace, worker)) = &w.worker else {
            continue;
        };
        let Some(creds) = ctx
            .shared
            .remembered_credentials(namespace, worker, &place.0)
        else {
            continue;
        };
        let api = match ctx.shared.pool.schedules(&place.0, &place.1, &creds).await {
            Ok(api) => api,
            Err(e) => {
                tracing::debug!(address = %place.0, namespace = %place.1, error = %e, "runs watch: no connection");
                continue;
            }
        };
        if let Some(since) = w.running_since {
            back.extend(ended(ctx, &api, &place, since, &w).await);
        }
        if let Some(due) = w.due {
            let key = (place.0.clone(), place.1.clone(), creds.tag());
            back.extend(started(ctx, &api, &key, &place, due, &w, listed_for_due).await);
        }
    }
    back.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    back.dedup();
    back
}

/// The runs of `place` that ended since the last query (or since the oldest run in progress
/// began), as news for their FeedSources, which come back.
async fn ended<A: RunsApi>(
    ctx: &FeedContext,
    api: &A,
    place: &Place,
    running_since: Timestamp,
    w: &Waiting,
) -> Vec<ObjectRef<FeedSource>> {
    let Some(from) = ctx.run_news.query_from(
        place,
        Instant::now(),
        EVERY,
        running_since - OVERLAP,
        OVERLAP,
    ) else {
        return Vec::new();
    };
    let (started, wall) = (Instant::now(), Timestamp::now());
    let prefix = desired::listing_prefix(&ctx.build.id_prefix);
    let mut rows = list_all_runs(api, &runs::closed_since(&prefix, from), RUN_PAGE).await;
    if let Err(TemporalError::Rpc {
        code: tonic::Code::InvalidArgument,
        ..
    }) = &rows
    {
        // A server whose visibility cannot filter on the prefix: every scheduled run, and the
        // operator keeps its own.
        rows = list_all_runs(api, &runs::closed_since("", from), RUN_PAGE).await;
    }
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(address = %place.0, namespace = %place.1, error = %e, "cannot list the runs that ended; their FeedSources show them later");
            return Vec::new();
        }
    };
    // News for the FeedSources there whose cached status does not show the end already.
    let ends = rows.iter().filter_map(|r| {
        let run = ClosedRun::of(r)?;
        let status = w.members.get(&r.schedule_id)?.status.as_ref()?;
        runs::is_news(status, &run).then(|| (r.schedule_id.clone(), run))
    });
    let ids = ctx.run_news.learned(place, started, wall, ends);
    ids.iter()
        .filter_map(|id| w.members.get(id))
        .map(|fs| ObjectRef::from_obj(&**fs))
        .collect()
}

/// A listing that started after the time of the earliest due run (or after the last one made
/// for due runs); the FeedSources it shows more of than their status come back.
async fn started(
    ctx: &FeedContext,
    api: &crate::temporal::grpc::GrpcSchedules,
    key: &crate::controller::cache::NamespaceKey,
    place: &Place,
    due: Timestamp,
    w: &Waiting,
    listed_for_due: &mut HashMap<Place, Instant>,
) -> Vec<ObjectRef<FeedSource>> {
    let now = Instant::now();
    if listed_for_due
        .get(place)
        .is_some_and(|t| now.duration_since(*t) < EVERY)
    {
        return Vec::new();
    }
    let wall = Timestamp::now();
    let ago = Duration::try_from(wall.duration_since(due + expect::START_LAG)).unwrap_or_default();
    let mut since = now.checked_sub(ago).unwrap_or(now);
    if let Some(last) = listed_for_due.get(place) {
        since = since.max(*last);
    }
    let prefix = desired::listing_prefix(&ctx.build.id_prefix);
    let news = ctx
        .list_cache
        .get_since(key, (since, since), EVERY, || fetch_listing(api, &prefix))
        .await;
    let News::Fresh(Ok(listing)) = news else {
        return Vec::new();
    };
    listed_for_due.insert(place.clone(), now);
    w.members
        .iter()
        .filter(|(id, fs)| {
            let status = fs.status.as_ref();
            listing
                .get(id)
                .zip(status)
                .is_some_and(|(entry, s)| expect::behind(s, entry, wall))
        })
        .map(|(_, fs)| ObjectRef::from_obj(&**fs))
        .collect()
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
