//! PURE: whether a FeedSource's feed is really being ingested: the `Ingesting` condition.
//!
//! `Ready` says the schedule is in place and matches the spec (the operator's part);
//! `Ingesting` says whether the runs it starts end well (the worker's part, and the feed's).
//! They stay apart: a feed site that is down or a worker without its API key is not something a
//! change of the FeedSource fixes, so it must not hold up `kubectl wait --for=condition=Ready`
//! or a GitOps sync; health checks read `Ingesting` (docs/feedsource.md, docs/gitops.md).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::runs::{Recorded, is_error_result, is_failure};
use crate::crd::{
    conditions::{Desired, Status},
    duration::format_go_duration,
    feedsource::{LastRun, RunOutcome, RunResult},
};

/// The condition: True when the feed's last run completed, False when it failed, timed out,
/// runs for too long, or no run ever started.
pub const INGESTING: &str = "Ingesting";

/// How much longer than its feed's interval (or its timeout) a run may run before it is
/// reported stuck: the end of a run shows within about a minute.
pub const STUCK_GRACE: SignedDuration = SignedDuration::from_mins(1);

/// What the condition needs to know of the schedule.
#[derive(Clone, Debug, Default)]
pub struct Schedule<'a> {
    /// Its next runs (from the status).
    pub next_runs: &'a [Time],
    /// Paused by `spec.suspend`.
    pub suspended: bool,
    /// The note of a pause the operator did not ask for (Temporal's pause on failure, a person,
    /// a feed missing in buun-curator); `None` when it is not so paused.
    pub paused: Option<&'a str>,
    /// The execution timeout of its runs (`None`: no limit).
    pub timeout: Option<SignedDuration>,
    /// When the FeedSource was created.
    pub created: Option<Timestamp>,
    /// `schedule.startAt`.
    pub start_at: Option<Timestamp>,
    /// Whether its runs fetch page content (`feed.enableContentFetch`, default true).
    pub content_fetch: bool,
}

/// PURE: the feed's interval, from its next runs (or the last run's slot and the next one).
pub fn period(next_runs: &[Time], last: Option<&LastRun>) -> Option<SignedDuration> {
    let gap = |a: &Time, b: &Time| Some(b.0.duration_since(a.0)).filter(|d| d.is_positive());
    match next_runs {
        [a, b, ..] => gap(a, b),
        [next] => last
            .and_then(|l| l.scheduled_time.as_ref())
            .and_then(|s| gap(s, next)),
        [] => None,
    }
}

fn human(d: SignedDuration) -> String {
    let secs = u64::try_from(d.as_secs().max(0)).unwrap_or_default();
    format_go_duration(std::time::Duration::from_secs(secs))
}

fn run_name(r: &LastRun) -> &str {
    r.workflow_id.as_deref().unwrap_or("the last run")
}

fn in_a_row(n: i32) -> String {
    if n > 1 {
        format!(" ({n} failures in a row)")
    } else {
        String::new()
    }
}

fn summary(r: Option<&RunResult>, content_fetch: bool) -> String {
    let Some(r) = r else {
        return String::new();
    };
    let mut parts = Vec::new();
    if r.status.as_deref() == Some("skipped") {
        parts.push("the feed was not modified".to_owned());
    }
    if let Some(n) = r.entries_created {
        parts.push(format!("{n} entries created"));
    }
    if let Some(n) = r.contents_fetched {
        parts.push(format!("{n} contents fetched"));
    }
    let mut out = if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    };
    if content_fetch && r.entries_created.unwrap_or(0) > 0 && r.contents_fetched == Some(0) {
        out.push_str("; no page content could be fetched: with enableContentFetch the worker image needs Playwright's Chromium");
    }
    out
}

/// The reasons that tell of a run that ended: while the next one runs, they stand.
pub const ENDED_REASONS: &[&str] = &[
    "RunCompleted",
    "RunFailed",
    "RunTimedOut",
    "RunCanceled",
    "RunTerminated",
];

/// PURE: the `Ingesting` condition from the runs the status records; `None` keeps the one it
/// has. `ended_before` says that one tells of a run that ended ([`ENDED_REASONS`]): a run in
/// progress then says nothing new about the feed until it ends or runs too long.
pub fn ingesting(
    runs: &Recorded,
    s: &Schedule<'_>,
    ended_before: bool,
    now: &Time,
) -> Option<Desired> {
    let d = |status, reason: &str, message: String| {
        Some(Desired::new(INGESTING, status, reason.to_owned(), message))
    };
    if s.suspended {
        return d(
            Status::Unknown,
            "Suspended",
            "the schedule is suspended (spec.suspend): no run starts".into(),
        );
    }
    if let Some(note) = s.paused {
        return d(
            Status::False,
            "SchedulePaused",
            format!("the schedule is paused ({note}): no run starts"),
        );
    }
    let failures = in_a_row(runs.consecutive_failures);
    let Some(last) = &runs.last_run else {
        return never_ran(s, now);
    };
    match last.outcome.unwrap_or(RunOutcome::Running) {
        RunOutcome::Running => in_progress(last, s, ended_before, now),
        outcome => ended(last, outcome, s, &failures),
    }
}

/// A run in progress: `RunStuck` once it runs longer than the feed's interval (or its timeout,
/// when shorter) and [`STUCK_GRACE`]; else it says nothing new, unless no run ended before.
fn in_progress(
    last: &LastRun,
    s: &Schedule<'_>,
    ended_before: bool,
    now: &Time,
) -> Option<Desired> {
    let since = last.since.as_ref().map(|t| t.0);
    let started = since.map(|t| format!(" since {t}")).unwrap_or_default();
    let name = run_name(last);
    let interval = period(s.next_runs, Some(last));
    let limit = match (interval, s.timeout) {
        (Some(p), Some(t)) if t < p => Some((t, "its execution timeout")),
        (Some(p), _) => Some((p, "the feed's interval")),
        (None, Some(t)) => Some((t, "its execution timeout")),
        (None, None) => None,
    };
    let running = since.map(|t| now.0.duration_since(t));
    let message = match (limit, running) {
        (Some((limit, what)), Some(ran)) if ran > limit + STUCK_GRACE => {
            return Some(Desired::new(
                INGESTING,
                Status::False,
                "RunStuck",
                format!(
                    "run {name} has been running{started} ({}), longer than {what} of {}; while it runs, later runs are skipped (overlapPolicy Skip)",
                    human(ran),
                    human(limit)
                ),
            ));
        }
        _ if ended_before => return None,
        _ => format!("run {name} is running{started}; none has ended yet"),
    };
    Some(Desired::new(INGESTING, Status::Unknown, "Running", message))
}

/// A run that ended `outcome`: True when it completed (and its result says no error), False
/// with why otherwise.
fn ended(last: &LastRun, outcome: RunOutcome, s: &Schedule<'_>, failures: &str) -> Option<Desired> {
    let d = |status, reason: &str, message: String| {
        Some(Desired::new(INGESTING, status, reason.to_owned(), message))
    };
    // " at <time>", when the time is known.
    let at = last
        .since
        .as_ref()
        .map(|t| format!(" at {}", t.0))
        .unwrap_or_default();
    let name = run_name(last);
    let message = last.message.as_deref().unwrap_or("no message");
    match outcome {
        RunOutcome::Completed if is_error_result(last.result.as_deref()) => {
            let error = last
                .result
                .as_ref()
                .and_then(|r| r.error.as_deref())
                .unwrap_or("no error given");
            d(
                Status::False,
                "RunFailed",
                format!("run {name} completed{at} with an error: {error}{failures}"),
            )
        }
        RunOutcome::Completed => d(
            Status::True,
            "RunCompleted",
            format!(
                "run {name} completed{at}{}",
                summary(last.result.as_deref(), s.content_fetch)
            ),
        ),
        RunOutcome::Failed => d(
            Status::False,
            "RunFailed",
            format!("run {name} failed{at}: {message}{failures}"),
        ),
        RunOutcome::TimedOut => d(
            Status::False,
            "RunTimedOut",
            format!(
                "run {name} timed out{at}{}{failures}",
                s.timeout
                    .map(|t| format!(", after its execution timeout of {}", human(t)))
                    .unwrap_or_default()
            ),
        ),
        o @ (RunOutcome::Canceled | RunOutcome::Terminated) => {
            debug_assert!(is_failure(o));
            let reason = if o == RunOutcome::Canceled {
                "RunCanceled"
            } else {
                "RunTerminated"
            };
            d(
                Status::False,
                reason,
                format!(
                    "run {name} was {}{at}: {message}{failures}",
                    o.as_str().to_lowercase()
                ),
            )
        }
        RunOutcome::ContinuedAsNew | RunOutcome::Running => None,
    }
}

/// No run yet: `NeverRan` once a run was due since the FeedSource was created, else the first
/// one is awaited.
fn never_ran(s: &Schedule<'_>, now: &Time) -> Option<Desired> {
    let next = s.next_runs.first();
    let due = period(s.next_runs, None)
        .zip(next)
        .map(|(p, n)| n.0 - p)
        .filter(|slot| {
            s.created.is_some_and(|c| *slot > c + STUCK_GRACE)
                && s.start_at.is_none_or(|start| *slot >= start)
                && now.0 > *slot + STUCK_GRACE
        });
    Some(match (due, next) {
        (Some(slot), _) => Desired::new(
            INGESTING,
            Status::False,
            "NeverRan",
            format!("no run has started, though one was due at {}", Time(slot).0),
        ),
        (None, Some(n)) => Desired::new(
            INGESTING,
            Status::Unknown,
            "FirstRunPending",
            format!("no run yet; the first is due at {}", n.0),
        ),
        (None, None) => Desired::new(INGESTING, Status::Unknown, "FirstRunPending", "no run yet"),
    })
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
