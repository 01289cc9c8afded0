//! PURE: the FeedSource status a reconcile should leave, from what it observed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{
    desired::{DesiredSchedule, SUSPEND_NOTE},
    health::{self, INGESTING},
    runs::Recorded,
    sync::{Seen, Synced},
};
use crate::feed::{Origin, Registration};
use crate::{
    crd::{
        conditions::{
            self, Desired, Failure, READY, RECONCILING, Status, TEMPORAL_REACHABLE, truncate,
        },
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

/// Condition saying whether the FeedSource's feed exists in buun-curator.
pub const FEED_REGISTERED: &str = "FeedRegistered";

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
        Registration::Ambiguous { .. } | Registration::Failed { .. } => {}
    }
}

fn feed_registered(r: &Registration) -> Desired {
    let d = |status, reason: &str, message: String| {
        Desired::new(FEED_REGISTERED, status, reason.to_owned(), message)
    };
    match r {
        Registration::NotChecked { .. } => d(
            Status::Unknown,
            "NoCuratorApi",
            conditions::NO_CURATOR_API.into(),
        ),
        Registration::Registered { id, origin } => {
            let message = match origin {
                Origin::Exists => format!("feed {id} exists in buun-curator"),
                Origin::Adopted => format!("adopted feed {id}, the one with this URL"),
                Origin::Created => format!("created feed {id} in buun-curator"),
            };
            d(Status::True, origin.as_str(), message)
        }
        other => {
            let (failure, _) = other.failure().unwrap_or((
                Failure {
                    reason: "Unknown",
                    message: String::new(),
                },
                false,
            ));
            d(Status::False, failure.reason, failure.message)
        }
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

/// How long a transient failure to check a schedule that was in line with an unchanged spec
/// leaves `Ready` as it was: a listing or a describe that the loaded server cancels is retried
/// with backoff, and says nothing about the schedule. The failure shows at once in
/// `Reconciling` (and in `TemporalReachable` when Temporal did not answer); a failure that
/// lasts longer turns `Ready` False, as during an outage.
pub const CHECK_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// PURE: whether the schedule was in line with the spec last time and the spec has not changed
/// since (same generation, same desired schedule).
fn still_in_line(
    prev: &FeedSourceStatus,
    generation: Option<i64>,
    desired: Option<&DesiredSchedule>,
) -> bool {
    prev.conditions.find_true(READY).is_some()
        && prev.observed_generation == generation
        && desired.is_some_and(|d| {
            prev.desired_fingerprint
                .as_ref()
                .is_some_and(|f| f.is(&d.fingerprint))
        })
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
    let conds: Vec<Desired> = match outcome {
        Outcome::Synced {
            synced,
            desired: d,
            run_now,
            runs,
            created,
        } => {
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
            let ready = if synced.held_foreign_pause {
                let pause_on_failure = d
                    .schedule
                    .policies
                    .as_ref()
                    .is_some_and(|p| p.pause_on_failure);
                let reason = if pause_on_failure {
                    "PausedOnFailure"
                } else {
                    "PausedExternally"
                };
                Desired::new(
                    READY,
                    Status::False,
                    reason,
                    format!(
                        "schedule {} was paused outside the operator ({}); it stays paused until the FeedSource spec changes",
                        d.id, v.notes
                    ),
                )
            } else if d.suspended() {
                Desired::new(
                    READY,
                    Status::True,
                    "Suspended",
                    format!("schedule {} is paused by spec.suspend", d.id),
                )
            } else {
                Desired::new(
                    READY,
                    Status::True,
                    "Synced",
                    format!("schedule {} matches the spec", d.id),
                )
            };
            let mut conds = vec![
                ready,
                Desired::new(
                    TEMPORAL_REACHABLE,
                    Status::True,
                    "Connected",
                    "Temporal answered",
                ),
            ];
            if let Some(r) = runs {
                let suspended = d.suspended() && d.pause_note() == SUSPEND_NOTE;
                let paused = if synced.held_foreign_pause {
                    Some(v.notes)
                } else {
                    (d.suspended() && !suspended).then(|| d.pause_note())
                };
                let schedule = health::Schedule {
                    next_runs: &s.next_runs,
                    suspended,
                    paused,
                    timeout: d.execution_timeout(),
                    created: *created,
                    start_at: d.start_at(),
                    content_fetch: d.content_fetch,
                };
                let ended_before = prev
                    .conditions
                    .find(INGESTING)
                    .is_some_and(|c| health::ENDED_REASONS.contains(&c.reason.as_str()));
                conds.extend(health::ingesting(r, &schedule, ended_before, now));
            }
            conds
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
            failure: Failure { reason, message },
            temporal_answered,
            permanent,
        } => {
            let reach = if *temporal_answered {
                Desired::new(
                    TEMPORAL_REACHABLE,
                    Status::True,
                    "Connected",
                    "Temporal answered",
                )
            } else {
                Desired::new(TEMPORAL_REACHABLE, Status::False, *reason, message.clone())
            };
            let first_failure = still_in_line(prev, generation, desired).then(|| {
                prev.conditions
                    .find_true(RECONCILING)
                    .map_or(now.0, |c| c.last_transition_time.0)
            });
            match first_failure {
                Some(since) if !*permanent && now.0.duration_since(since) < CHECK_GRACE => {
                    let message = format!(
                        "checking the schedule failed, retrying; Ready stays as it is until {}: {message}",
                        truncate(&Time(since + CHECK_GRACE)).0
                    );
                    vec![
                        reach,
                        Desired::new(RECONCILING, Status::True, *reason, message),
                    ]
                }
                _ => vec![
                    Desired::new(READY, Status::False, *reason, message.clone()),
                    reach,
                ],
            }
        }
        Outcome::Untouched => Vec::new(),
    };
    let mut stalled = match outcome {
        Outcome::Synced { synced, .. } => synced.held_foreign_pause,
        Outcome::WorkerNotFound(_) | Outcome::InvalidSpec(_) => true,
        Outcome::Failed { permanent, .. } => *permanent,
        Outcome::Untouched => false,
    };
    let mut conds = conds;
    if let Some(r) = registration {
        record_feed(&mut s, r);
        conds.push(feed_registered(r));
        // A feed that is not settled keeps the FeedSource from being Ready, whatever the
        // schedule did (a Temporal failure, reported above, comes first).
        if let Some((failure, permanent)) = r.failure()
            && matches!(outcome, Outcome::Synced { .. } | Outcome::Untouched)
        {
            conds.retain(|c| c.type_ != READY);
            conds.push(Desired::new(
                READY,
                Status::False,
                failure.reason,
                failure.message,
            ));
            stalled = permanent;
        }
    }
    if let Some(ready) = conds.iter().find(|c| c.type_ == READY).cloned() {
        conds.extend(conditions::kstatus(&ready, stalled));
    }
    s.conditions = prev.conditions.merged(&conds, generation, &truncate(now));
    s
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
