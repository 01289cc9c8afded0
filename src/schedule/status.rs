//! PURE: the FeedSource status a reconcile should leave, from what it observed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use super::ready::CHECK_GRACE;
use super::{
    desired::DesiredSchedule,
    ready,
    runs::Recorded,
    sync::{Seen, Synced},
};
use crate::feed::{Origin, Registration};
use crate::{
    crd::{
        conditions::{self, Desired, Failure, READY, Status, truncate},
        feedsource::FeedSourceStatus,
        fingerprint::Fingerprint,
    },
    temporal::proto::ScheduleActionResult,
};

/// How the reconcile ended.
#[derive(Clone, Debug)]
pub enum Outcome<'a> {
    /// The schedule is in line with the spec.
    Synced {
        /// What the reconcile did and saw.
        synced: &'a Synced,
        /// The schedule it reconciled.
        desired: &'a DesiredSchedule,
        /// The run-now annotation value that fired a run, if one did.
        run_now: Option<&'a str>,
        /// The schedule's runs as the status should record them (`schedule::runs::record`);
        /// `None` leaves them as they are.
        runs: Option<&'a Recorded>,
        /// When the FeedSource was created (a schedule that never ran is reported only once a
        /// run was due since).
        created: Option<jiff::Timestamp>,
    },
    /// The referenced CuratorWorker does not exist.
    WorkerNotFound(&'a str),
    /// The spec cannot be turned into a schedule.
    InvalidSpec(String),
    /// The schedule was not touched: its feed is not settled (see the registration).
    Untouched,
    /// The reconcile failed.
    Failed {
        /// Why.
        failure: Failure,
        /// Whether Temporal answered at all.
        temporal_answered: bool,
        /// Whether only a change can fix it (the resource is stalled, not reconciling).
        permanent: bool,
    },
}

/// The status of a FeedSource whose deletion cannot finish: `Ready=False`, reason
/// `CleanupBlocked`, stalled until someone acts (`message` says how).
pub fn blocked_deletion(
    prev: &FeedSourceStatus,
    generation: Option<i64>,
    message: String,
    now: &Time,
) -> FeedSourceStatus {
    let mut s = prev.clone();
    let ready = Desired::new(READY, Status::False, "CleanupBlocked", message);
    let mut conds = vec![ready.clone()];
    conds.extend(conditions::kstatus(&ready, true));
    s.conditions = prev.conditions.merged(&conds, generation, &truncate(now));
    s
}

pub use super::ready::FEED_REGISTERED;

fn record_feed(s: &mut FeedSourceStatus, r: &Registration) {
    match r {
        Registration::NotChecked { id } | Registration::NotFound { id } => {
            s.feed_id = Some(id.clone());
            s.feed_created = false;
        }
        Registration::Registered { id, origin } => {
            s.feed_id = Some(id.clone());
            s.feed_created = *origin == Origin::Created;
        }
        Registration::Ambiguous { .. }
        | Registration::HeldByOther { .. }
        | Registration::OfAnotherNamespace { .. }
        | Registration::Failed { .. } => {}
    }
}

/// Converts a protobuf timestamp to a Kubernetes time, truncated to whole seconds as the API
/// server stores it (so that an unchanged value compares equal after a round trip).
pub fn to_k8s_time(t: &prost_wkt_types::Timestamp) -> Option<Time> {
    jiff::Timestamp::from_second(t.seconds).ok().map(Time)
}

/// What the status records of the schedule, from whatever the reconcile saw of it. `None`
/// fields keep their previous values (a listing has no run count; a schedule created with one
/// call has not been read at all).
struct View<'a> {
    paused: bool,
    notes: &'a str,
    next_runs: Option<&'a [prost_wkt_types::Timestamp]>,
    action_count: Option<i64>,
}

/// PURE: the latest run the schedule started, as the reconcile saw it (`None` when it saw no
/// run, or none yet).
pub fn latest_action(seen: &Seen) -> Option<&ScheduleActionResult> {
    let recent: &[ScheduleActionResult] = match seen {
        Seen::Described(d) => &d.info.recent_actions,
        Seen::Listed(l) => l.last_run.as_slice(),
        Seen::Created => &[],
    };
    recent
        .iter()
        .max_by_key(|a| a.schedule_time.as_ref().map(|t| (t.seconds, t.nanos)))
}

fn view<'a>(seen: &'a Seen, desired: &'a DesiredSchedule) -> View<'a> {
    match seen {
        Seen::Described(d) => {
            let state = d.schedule.state.as_ref();
            View {
                paused: state.is_some_and(|s| s.paused),
                notes: state.map(|s| s.notes.as_str()).unwrap_or_default(),
                next_runs: Some(&d.info.future_action_times),
                action_count: Some(d.info.action_count),
            }
        }
        Seen::Listed(l) => View {
            paused: l.paused,
            notes: &l.notes,
            next_runs: Some(&l.next_runs[..]),
            action_count: None,
        },
        Seen::Created => {
            let state = desired.schedule.state.as_ref();
            View {
                paused: state.is_some_and(|s| s.paused),
                notes: state.map(|s| s.notes.as_str()).unwrap_or_default(),
                // A new schedule: no run yet; the next ones come with the first listing.
                next_runs: Some(&[]),
                action_count: Some(0),
            }
        }
    }
}

/// Computes the new status. Fields the outcome says nothing about keep their previous values.
pub fn compute(
    prev: &FeedSourceStatus,
    generation: Option<i64>,
    desired: Option<&DesiredSchedule>,
    outcome: &Outcome<'_>,
    registration: Option<&Registration>,
    now: &Time,
) -> FeedSourceStatus {
    let mut s = prev.clone();
    s.observed_generation = generation;
    if let Some(d) = desired {
        s.summary = Some(d.summary.clone());
    }
    let mut conds: Vec<Desired> = match outcome {
        Outcome::Synced {
            synced,
            desired: d,
            run_now,
            runs,
            created,
        } => {
            let notes = record_synced(&mut s, synced, d, *run_now, *runs, now);
            ready::synced(prev, &s, synced, d, &notes, *runs, *created, now)
        }
        Outcome::WorkerNotFound(name) => vec![Desired::new(
            READY,
            Status::False,
            "WorkerNotFound",
            format!("CuratorWorker {name:?} not found in this namespace"),
        )],
        Outcome::InvalidSpec(message) => {
            vec![Desired::new(
                READY,
                Status::False,
                "InvalidSpec",
                message.clone(),
            )]
        }
        Outcome::Failed {
            failure,
            temporal_answered,
            permanent,
        } => ready::failed(
            prev,
            generation,
            desired,
            failure,
            *temporal_answered,
            *permanent,
            now,
        ),
        Outcome::Untouched => Vec::new(),
    };
    let mut stalled = match outcome {
        Outcome::Synced { synced, .. } => synced.held_foreign_pause,
        Outcome::WorkerNotFound(_) | Outcome::InvalidSpec(_) => true,
        Outcome::Failed { permanent, .. } => *permanent,
        Outcome::Untouched => false,
    };
    if let Some(r) = registration {
        record_feed(&mut s, r);
        let schedule_fine = matches!(outcome, Outcome::Synced { .. } | Outcome::Untouched);
        stalled = ready::with_feed(&mut conds, r, schedule_fine, stalled);
    }
    if let Some(ready) = conds.iter().find(|c| c.type_ == READY).cloned() {
        conds.extend(conditions::kstatus(&ready, stalled));
    }
    s.conditions = prev.conditions.merged(&conds, generation, &truncate(now));
    s
}

/// Records what a synced schedule shows (its place, pause, next runs, runs, counts and
/// fingerprints); returns its pause note.
fn record_synced(
    s: &mut FeedSourceStatus,
    synced: &Synced,
    d: &DesiredSchedule,
    run_now: Option<&str>,
    runs: Option<&Recorded>,
    now: &Time,
) -> String {
    s.schedule_id = Some(d.id.clone());
    s.worker = Some(d.worker.clone());
    s.temporal_address = Some(d.address.clone());
    s.temporal_namespace = Some(d.namespace.clone());
    s.task_queue = Some(d.task_queue.clone());
    let v = view(&synced.seen, d);
    s.paused = Some(v.paused);
    s.pause_note = (!v.notes.is_empty()).then(|| v.notes.to_owned());
    if let Some(next) = v.next_runs {
        // Never a time that has passed: a listing can be older than the reconcile.
        s.next_runs = next
            .iter()
            .filter_map(to_k8s_time)
            .filter(|t| t.0 > now.0)
            .take(3)
            .collect();
    }
    if let Some(r) = runs {
        s.last_run.clone_from(&r.last_run);
        s.last_success_time.clone_from(&r.last_success_time);
        s.consecutive_failures = r.consecutive_failures;
    }
    s.action_count = Some(v.action_count.or(s.action_count).unwrap_or(0));
    if let Some(value) = run_now.filter(|_| synced.triggered) {
        s.run_now_handled = Some(value.to_owned());
    }
    s.observed_fingerprint = synced.server_fingerprint.as_deref().map(Fingerprint::from);
    s.observed_spec_fingerprint = synced.spec_fingerprint.as_deref().map(Fingerprint::from);
    s.desired_fingerprint = Some(Fingerprint::from(d.fingerprint.as_str()));
    v.notes.to_owned()
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
