//! PURE: the runs of a FeedSource's schedule, as its status records them: the last run and how
//! it ended, the last success, and the failures in a row.
//!
//! Two reads feed it, neither of them per FeedSource: the schedule listing (or a describe)
//! shows the latest run a schedule started, and one visibility query per Temporal namespace
//! lists the runs that ended since the last one ([`closed_since`]). The listing's own view of a
//! run's status is eventually consistent: Temporal refreshes it only at the schedule's next
//! action, so a run's end comes from visibility. How a run ended in detail (its result, its
//! failure) costs one read of its close event, once per run ([`Recorded::read`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{
    crd::feedsource::{FeedSourceStatus, LastRun, RunOutcome, RunResult},
    temporal::{
        grpc::starts_with,
        proto::ScheduleActionResult,
        runs::{RunClose, RunRow, SCHEDULED_BY_ID},
    },
};

/// Longest failure message kept in the status (Temporal's messages can be long; the start is
/// what tells).
pub const MESSAGE_MAX: usize = 1024;

/// PURE: the outcome of Temporal's `WorkflowExecutionStatus` (`None` for unspecified).
pub fn outcome_of(status: i32) -> Option<RunOutcome> {
    Some(match status {
        1 => RunOutcome::Running,
        2 => RunOutcome::Completed,
        3 => RunOutcome::Failed,
        4 => RunOutcome::Canceled,
        5 => RunOutcome::Terminated,
        6 => RunOutcome::ContinuedAsNew,
        7 => RunOutcome::TimedOut,
        // 8, paused: the workflow still runs.
        8 => RunOutcome::Running,
        _ => return None,
    })
}

/// Whether a run in `outcome` has ended.
pub fn ended(outcome: RunOutcome) -> bool {
    outcome != RunOutcome::Running
}

/// Whether an ended run counts as a failure of the feed's ingestion (a run that continued as
/// new counts as neither).
pub fn is_failure(outcome: RunOutcome) -> bool {
    matches!(
        outcome,
        RunOutcome::Failed | RunOutcome::TimedOut | RunOutcome::Canceled | RunOutcome::Terminated
    )
}

/// PURE: the visibility query for the runs of the schedules under `prefix` (every schedule for
/// an empty one) that ended after `since`.
pub fn closed_since(prefix: &str, since: jiff::Timestamp) -> String {
    let time = format!("CloseTime > '{}'", since.strftime("%Y-%m-%dT%H:%M:%S%.fZ"));
    let filter = starts_with(SCHEDULED_BY_ID, prefix);
    let scheduled = if filter.is_empty() {
        format!("{SCHEDULED_BY_ID} IS NOT NULL")
    } else {
        filter
    };
    format!("{scheduled} AND ExecutionStatus != 'Running' AND {time}")
}

/// PURE: the visibility query for the runs with these IDs (Temporal's run IDs are UUIDs; any
/// other text is left out).
pub fn by_run_id<'a>(run_ids: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let ids: Vec<String> = run_ids
        .into_iter()
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .map(|id| format!("'{id}'"))
        .collect();
    (!ids.is_empty()).then(|| format!("RunId IN ({})", ids.join(", ")))
}

/// A run of a schedule that ended, as visibility lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedRun {
    /// Its workflow ID.
    pub workflow_id: Box<str>,
    /// Its run ID.
    pub run_id: Box<str>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// When it started.
    pub start_time: Option<jiff::Timestamp>,
    /// When it ended.
    pub close_time: Option<jiff::Timestamp>,
}

fn ts(t: &prost_wkt_types::Timestamp) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_second(t.seconds).ok()
}

impl ClosedRun {
    /// PURE: the ended run of a listed row; `None` for a run that still runs.
    pub fn of(row: &RunRow) -> Option<Self> {
        let outcome = outcome_of(row.status).filter(|o| ended(*o))?;
        Some(Self {
            workflow_id: row.workflow_id.as_str().into(),
            run_id: row.run_id.as_str().into(),
            outcome,
            start_time: row.start_time.as_ref().and_then(ts),
            close_time: row.close_time.as_ref().and_then(ts),
        })
    }
}

/// PURE: the summary of a `SingleFeedIngestionWorkflow` result (its camelCase JSON fields).
pub fn result_of(value: &serde_json::Value) -> Option<RunResult> {
    let obj = value.as_object()?;
    let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(truncated);
    let int = |k: &str| obj.get(k).and_then(serde_json::Value::as_i64);
    let r = RunResult {
        status: text("status"),
        entries_created: int("entriesCreated"),
        contents_fetched: int("contentsFetched"),
        entries_distilled: int("entriesDistilled"),
        error: text("error"),
    };
    (r != RunResult::default()).then_some(r)
}

/// PURE: the part of a run's close that the status reads: the result's summary fields (a result
/// carries the new entries too, which can be large), the failure and the time.
pub fn trimmed(close: RunClose) -> RunClose {
    const READ: [&str; 5] = [
        "status",
        "entriesCreated",
        "contentsFetched",
        "entriesDistilled",
        "error",
    ];
    let result = close.result.map(|v| match v {
        serde_json::Value::Object(mut m) => {
            m.retain(|k, _| READ.contains(&k.as_str()));
            serde_json::Value::Object(m)
        }
        _ => serde_json::Value::Null,
    });
    RunClose { result, ..close }
}

/// Whether a result says the run did not ingest the feed (the worker returns `status: error`
/// when the feed could not be crawled, and completes all the same).
pub fn is_error_result(r: Option<&RunResult>) -> bool {
    r.and_then(|r| r.status.as_deref()) == Some("error")
}

fn truncated(s: &str) -> String {
    match s.char_indices().nth(MESSAGE_MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// What the reconcile saw of the schedule's runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Runs<'a> {
    /// The latest run the schedule started, from the listing or a describe.
    pub latest: Option<&'a ScheduleActionResult>,
    /// Runs of this schedule that ended, from visibility (any order; ones recorded already are
    /// left out).
    pub closed: &'a [ClosedRun],
    /// The close event of the run [`Recorded::read`] named (its run ID, and the event), when
    /// it was read; an empty [`RunClose`] when it could not be: the end is recorded without
    /// its details, and not read again.
    pub close: Option<(&'a str, &'a RunClose)>,
}

/// What the status records of the runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    /// The last run.
    pub last_run: Option<LastRun>,
    /// The end of the last successful run.
    pub last_success_time: Option<Time>,
    /// Failures in a row.
    pub consecutive_failures: i32,
    /// The runs seen to end for the first time, in order, by run ID (for the runs metric).
    pub ended: Vec<(Box<str>, RunOutcome)>,
    /// The run whose close event tells what the status lacks (its result or failure), as
    /// (workflow ID, run ID): read it, then record again with it.
    pub read: Option<(String, String)>,
}

fn time(t: jiff::Timestamp) -> Time {
    Time(jiff::Timestamp::from_second(t.as_second()).unwrap_or(t))
}

fn started(r: &LastRun) -> Option<jiff::Timestamp> {
    r.scheduled_time.as_ref().map(|t| t.0)
}

/// PURE: whether the end of `run` is news to `status`: the run it records as running, or a
/// run that started after that one (a run that started before it was recorded, or not, when
/// it was the last run).
pub fn is_news(status: &FeedSourceStatus, run: &ClosedRun) -> bool {
    let before = status.last_run.as_ref();
    if before.and_then(|r| r.run_id.as_deref()) == Some(&*run.run_id) {
        return !before.and_then(|r| r.outcome).is_some_and(ended);
    }
    before
        .and_then(started)
        .is_none_or(|b| run.start_time.is_none_or(|s| s >= b))
}

/// PURE: the runs the status should record, from the previous status, what was seen, and `now`
/// (the time of an end seen only in the listing, which carries none).
pub fn record(prev: &FeedSourceStatus, runs: &Runs<'_>, now: &Time) -> Recorded {
    let before = prev.last_run.as_ref();
    let before_id = before.and_then(|r| r.run_id.as_deref());
    let before_ended = before.and_then(|r| r.outcome).is_some_and(ended);
    // Runs that ended and are not recorded.
    let mut ends: Vec<&ClosedRun> = runs.closed.iter().filter(|c| is_news(prev, c)).collect();
    ends.sort_by_key(|c| (c.close_time, c.start_time));
    ends.dedup_by(|a, b| a.run_id == b.run_id);
    let latest = runs.latest.and_then(|a| latest_run(a, before));
    let newest_end = ends.last().copied();
    // The last run: the latest one started, ended if visibility or the listing says so.
    let mut last = match (latest, newest_end) {
        (Some(l), Some(e)) if l.run_id.as_deref() == Some(&*e.run_id) => Some(ended_run(e, &l)),
        (Some(l), Some(e)) if started(&l) < e.start_time => Some(ended_run(e, &l)),
        (Some(l), _) => Some(l),
        (None, Some(e)) => Some(ended_run(e, &LastRun::default())),
        (None, None) => before.cloned(),
    };
    // What the status knew of this run carries over (its end time, result and message).
    if let (Some(l), Some(b)) = (last.as_mut(), before)
        && l.run_id == b.run_id
        && l.outcome == b.outcome
    {
        l.since = b.since.clone().or(l.since.take());
        l.message = l.message.take().or(b.message.clone());
        l.result = l.result.take().or(b.result.clone());
    }
    if let Some(l) = last.as_mut()
        && l.since.is_none()
    {
        l.since = Some(time(now.0));
    }
    // The close event, when read for this run.
    let read = last.as_mut().and_then(|l| {
        let recorded = before_id == l.run_id.as_deref() && before_ended;
        read_close(l, runs.close, recorded)
    });
    // Failures in a row and the last success, over the runs that ended since the status.
    let mut out = Recorded {
        last_success_time: prev.last_success_time.clone(),
        consecutive_failures: prev.consecutive_failures,
        ..Default::default()
    };
    let last_id = last.as_ref().and_then(|l| l.run_id.clone());
    for e in &ends {
        if last_id.as_deref() != Some(&*e.run_id) {
            out.count(&e.run_id, e.outcome, e.close_time.map(time).as_ref(), None);
        }
    }
    if let Some(l) = &last
        && let Some(outcome) = l.outcome.filter(|o| ended(*o))
        && !(before_id == l.run_id.as_deref() && before_ended)
        && read.is_none()
    {
        let id = l.run_id.as_deref().unwrap_or_default();
        out.count(id, outcome, l.since.as_ref(), l.result.as_deref());
    }
    out.last_run = last;
    out.read = read;
    out
}

impl Recorded {
    /// Counts one run that ended for the first time: a failure (or a completed run whose
    /// result says it failed) adds one to the failures in a row; a success ends them.
    fn count(
        &mut self,
        run: &str,
        outcome: RunOutcome,
        at: Option<&Time>,
        result: Option<&RunResult>,
    ) {
        self.ended.push((run.into(), outcome));
        if is_failure(outcome) || (outcome == RunOutcome::Completed && is_error_result(result)) {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        } else if outcome == RunOutcome::Completed {
            self.consecutive_failures = 0;
            self.last_success_time = at.cloned();
        }
    }
}

/// PURE: fills the ended run `l`'s result, message and end time from `close` when that is its
/// close event. Otherwise names the run whose close event to read, as (workflow ID, run ID):
/// none when the status had recorded its end (`recorded`), and none for a run that timed out,
/// whose close event holds nothing more.
fn read_close(
    l: &mut LastRun,
    close: Option<(&str, &RunClose)>,
    recorded: bool,
) -> Option<(String, String)> {
    let outcome = l.outcome.filter(|o| ended(*o))?;
    if l.result.is_some() || l.message.is_some() {
        return None;
    }
    match close {
        Some((run_id, close)) if l.run_id.as_deref() == Some(run_id) => {
            l.result = close.result.as_ref().and_then(result_of).map(Box::new);
            l.message = close.failure.as_deref().map(truncated);
            if let Some(t) = close.close_time.as_ref().and_then(ts) {
                l.since = Some(time(t));
            }
            None
        }
        _ if matches!(
            outcome,
            RunOutcome::Completed
                | RunOutcome::Failed
                | RunOutcome::Terminated
                | RunOutcome::Canceled
        ) && !recorded =>
        {
            l.workflow_id
                .clone()
                .zip(l.run_id.clone())
                .filter(|(w, r)| !w.is_empty() && !r.is_empty())
        }
        _ => None,
    }
}

/// The latest action as a run, unless it is older than the recorded run.
fn latest_run(a: &ScheduleActionResult, before: Option<&LastRun>) -> Option<LastRun> {
    let run = a.start_workflow_result.as_ref();
    let scheduled = a.schedule_time.as_ref().and_then(ts);
    if let Some(b) = before {
        if started(b) > scheduled {
            return None;
        }
        // The listing refreshes a run's status only at the schedule's next action: an end the
        // status recorded stands.
        let same = run.is_some_and(|w| b.run_id.as_deref() == Some(w.run_id.as_str()));
        if same && b.outcome.is_some_and(ended) {
            return Some(b.clone());
        }
    }
    let outcome = outcome_of(a.start_workflow_status).or(Some(RunOutcome::Running));
    Some(LastRun {
        scheduled_time: scheduled.map(time),
        workflow_id: run.map(|w| w.workflow_id.clone()),
        run_id: run.map(|w| w.run_id.clone()),
        since: (outcome == Some(RunOutcome::Running))
            .then(|| a.actual_time.as_ref().and_then(ts).map(time))
            .flatten(),
        outcome,
        message: None,
        result: None,
    })
}

/// A run that visibility lists as ended, keeping what the listing said of it.
fn ended_run(e: &ClosedRun, listed: &LastRun) -> LastRun {
    LastRun {
        scheduled_time: listed
            .scheduled_time
            .clone()
            .filter(|_| listed.run_id.as_deref() == Some(&*e.run_id))
            .or(e.start_time.map(time)),
        workflow_id: Some(e.workflow_id.to_string()),
        run_id: Some(e.run_id.to_string()),
        outcome: Some(e.outcome),
        since: e.close_time.map(time),
        message: None,
        result: None,
    }
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
