//! PURE: the conditions a FeedSource reconcile leaves, from how it ended: `Ready` (the schedule
//! in line with the spec, the feed settled), `TemporalReachable`, and `Ingesting` (whether the
//! runs end well); `schedule::status` records the rest and merges them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{
    desired::{DesiredSchedule, SUSPEND_NOTE},
    health::{self, INGESTING},
    runs::Recorded,
    sync::Synced,
};
use crate::{
    crd::{
        FeedSourceStatus,
        conditions::{
            self, Desired, Failure, READY, RECONCILING, Status, TEMPORAL_REACHABLE, truncate,
        },
    },
    feed::{Origin, Registration},
};

/// How long a transient failure to check a schedule that was in line with an unchanged spec
/// leaves `Ready` as it was: a listing or a describe that the loaded server cancels is retried
/// with backoff, and says nothing about the schedule. The failure shows at once in
/// `Reconciling` (and in `TemporalReachable` when Temporal did not answer); a failure that
/// lasts longer turns `Ready` False, as during an outage.
pub const CHECK_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// Condition saying whether the FeedSource's feed exists in buun-curator.
pub const FEED_REGISTERED: &str = "FeedRegistered";

fn connected() -> Desired {
    Desired::new(
        TEMPORAL_REACHABLE,
        Status::True,
        "Connected",
        "Temporal answered",
    )
}

/// The conditions of a schedule in line with the spec: `Ready` (or why a pause made outside
/// the operator keeps it from being), Temporal reachable, and `Ingesting` from the runs
/// (`status` holds the next runs just recorded).
#[allow(
    clippy::too_many_arguments,
    reason = "the parts of one outcome, each named"
)]
pub fn synced(
    prev: &FeedSourceStatus,
    status: &FeedSourceStatus,
    synced: &Synced,
    d: &DesiredSchedule,
    notes: &str,
    runs: Option<&Recorded>,
    created: Option<jiff::Timestamp>,
    now: &Time,
) -> Vec<Desired> {
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
                "schedule {} was paused outside the operator ({notes}); it stays paused until the FeedSource spec changes",
                d.id
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
    let mut conds = vec![ready, connected()];
    if let Some(r) = runs {
        let suspended = d.suspended() && d.pause_note() == SUSPEND_NOTE;
        let paused = if synced.held_foreign_pause {
            Some(notes)
        } else {
            (d.suspended() && !suspended).then(|| d.pause_note())
        };
        let schedule = health::Schedule {
            next_runs: &status.next_runs,
            suspended,
            paused,
            timeout: d.execution_timeout(),
            created,
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

/// The conditions of a failed reconcile: `Ready` False with the reason, unless a transient
/// failure to check a schedule that was in line leaves it as it was for [`CHECK_GRACE`]
/// (`Reconciling` says so meanwhile); `TemporalReachable` False when Temporal did not answer.
pub fn failed(
    prev: &FeedSourceStatus,
    generation: Option<i64>,
    desired: Option<&DesiredSchedule>,
    failure: &Failure,
    temporal_answered: bool,
    permanent: bool,
    now: &Time,
) -> Vec<Desired> {
    let Failure { reason, message } = failure;
    let reach = if temporal_answered {
        connected()
    } else {
        Desired::new(TEMPORAL_REACHABLE, Status::False, *reason, message.clone())
    };
    let first_failure = still_in_line(prev, generation, desired).then(|| {
        prev.conditions
            .find_true(RECONCILING)
            .map_or(now.0, |c| c.last_transition_time.0)
    });
    match first_failure {
        Some(since) if !permanent && now.0.duration_since(since) < CHECK_GRACE => {
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

/// Adds `FeedRegistered` to `conds`; a feed that is not settled keeps the FeedSource from
/// being Ready when the schedule is fine (`schedule_fine`: a Temporal failure, reported
/// already, comes first). Returns whether the FeedSource is stalled.
pub fn with_feed(
    conds: &mut Vec<Desired>,
    r: &Registration,
    schedule_fine: bool,
    stalled: bool,
) -> bool {
    conds.push(feed_registered(r));
    match r.failure() {
        Some((failure, permanent)) if schedule_fine => {
            conds.retain(|c| c.type_ != READY);
            conds.push(Desired::new(
                READY,
                Status::False,
                failure.reason,
                failure.message,
            ));
            permanent
        }
        _ => stalled,
    }
}

/// The `FeedRegistered` condition of a registration.
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
