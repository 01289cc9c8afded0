//! Whether each synced feed is being ingested, as the controller's `Ingesting` condition says
//! it (`schedule::runs`, `schedule::health`): from the run's listing, which `sync` read anyway,
//! one visibility query per hundred runs the listing shows running (its status of a run is
//! refreshed only at the schedule's next action), and, with `--check-runs`, one read of how
//! each feed's last run ended (its result, or why it failed).

use std::collections::HashMap;

use super::{feed::Feed, outcome::Ingestion};
use crate::{
    crd::{
        conditions::{Desired, Status},
        feedsource::{FeedSourceStatus, LastRun},
    },
    schedule::{
        desired::SUSPEND_NOTE,
        health::{self, Schedule},
        runs::{self, ClosedRun, Recorded, Runs, ended, is_failure, outcome_of},
        status::to_k8s_time,
    },
    temporal::{
        Listed, TemporalError,
        proto::ScheduleActionResult,
        runs::{RunClose, RunRow, RunsApi, list_all_runs},
    },
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Runs asked for per visibility query.
const IDS_PER_QUERY: usize = 100;

fn sorted(listed: &Listed) -> Vec<&ScheduleActionResult> {
    let mut a: Vec<&ScheduleActionResult> = listed.recent_actions.iter().collect();
    a.sort_by_key(|a| a.schedule_time.as_ref().map(|t| (t.seconds, t.nanos)));
    a
}

/// The run `sync` asks visibility about: the latest one, when the listing shows it running.
pub fn running(listed: &Listed) -> Option<&str> {
    let last = *sorted(listed).last()?;
    (outcome_of(last.start_workflow_status).is_none_or(|o| !ended(o)))
        .then(|| {
            last.start_workflow_result
                .as_ref()
                .map(|w| w.run_id.as_str())
        })
        .flatten()
}

/// PURE: what the status would say before the latest run: the run before it (its status in
/// the listing is final: refreshed at the latest one's start) and the failures in a row then.
fn before_latest(actions: &[&ScheduleActionResult]) -> FeedSourceStatus {
    let older = &actions[..actions.len().saturating_sub(1)];
    let outcome = |a: &ScheduleActionResult| outcome_of(a.start_workflow_status);
    let failures = older
        .iter()
        .rev()
        .take_while(|a| outcome(a).is_some_and(is_failure))
        .count();
    FeedSourceStatus {
        last_run: older.last().map(|a| LastRun {
            scheduled_time: a.schedule_time.as_ref().and_then(to_k8s_time),
            workflow_id: a
                .start_workflow_result
                .as_ref()
                .map(|w| w.workflow_id.clone()),
            run_id: a.start_workflow_result.as_ref().map(|w| w.run_id.clone()),
            outcome: outcome(a),
            ..Default::default()
        }),
        consecutive_failures: i32::try_from(failures).unwrap_or(i32::MAX),
        ..Default::default()
    }
}

/// PURE: a feed's ingestion, from its listing entry, the visibility rows of its latest run, the
/// close event of that run (when read), its schedule, and `now`.
pub fn assess(
    feed: &Feed,
    listed: &Listed,
    rows: &[RunRow],
    close: Option<&RunClose>,
    now: &Time,
) -> Ingestion {
    let actions = sorted(listed);
    let prev = before_latest(&actions);
    let latest = actions.last().copied();
    let closed: Vec<ClosedRun> = rows.iter().filter_map(ClosedRun::of).collect();
    let run_id = latest
        .and_then(|a| a.start_workflow_result.as_ref())
        .map(|w| w.run_id.clone())
        .unwrap_or_default();
    let seen = Runs {
        latest,
        closed: &closed,
        close: close.map(|c| (run_id.as_str(), c)),
    };
    let rec = runs::record(&prev, &seen, now);
    let next_runs: Vec<Time> = listed
        .future_action_times
        .iter()
        .filter_map(to_k8s_time)
        .filter(|t| t.0 > now.0)
        .collect();
    let d = &feed.desired;
    let suspended = d.suspended() && d.pause_note() == SUSPEND_NOTE;
    let schedule = Schedule {
        next_runs: &next_runs,
        suspended,
        paused: (listed.paused && !suspended).then_some(listed.notes.as_str()),
        timeout: d.execution_timeout(),
        created: None,
        start_at: d.start_at(),
        content_fetch: d.content_fetch,
    };
    let before = Recorded {
        last_run: prev.last_run.clone(),
        consecutive_failures: prev.consecutive_failures,
        ..Default::default()
    };
    // A run in progress says nothing new: the run before it does.
    let ended_before = before
        .last_run
        .as_ref()
        .and_then(|l| l.outcome)
        .is_some_and(ended);
    let cond = health::ingesting(&rec, &schedule, ended_before, now)
        .or_else(|| health::ingesting(&before, &schedule, false, now))
        .unwrap_or_else(|| Desired::new(health::INGESTING, Status::Unknown, "Unknown", ""));
    Ingestion {
        status: cond.status.as_str(),
        reason: cond.reason,
        message: cond.message,
        last_run: rec.last_run,
        consecutive_failures: rec.consecutive_failures,
    }
}

/// The visibility rows of `run_ids` (a query per [`IDS_PER_QUERY`]).
pub async fn rows_of<A: RunsApi>(
    api: &A,
    run_ids: &[&str],
) -> Result<HashMap<String, Vec<RunRow>>, TemporalError> {
    let mut out: HashMap<String, Vec<RunRow>> = HashMap::new();
    for chunk in run_ids.chunks(IDS_PER_QUERY) {
        let Some(query) = runs::by_run_id(chunk.iter().copied()) else {
            continue;
        };
        for row in list_all_runs(api, &query, 1000).await? {
            out.entry(row.run_id.clone()).or_default().push(row);
        }
    }
    Ok(out)
}

/// The ingestion of each of `feeds` (by schedule ID) in one location: a visibility query per
/// hundred runs in progress, and, with `read_ends`, a close-event read per feed whose last run
/// ended. A failing query leaves the listing's view (a run it shows running stays so).
pub async fn assess_all<A: RunsApi>(
    api: &A,
    listing: &HashMap<String, Listed>,
    feeds: &[&Feed],
    read_ends: bool,
) -> HashMap<String, Ingestion> {
    let now = Time(jiff::Timestamp::now());
    let ids: Vec<&str> = feeds
        .iter()
        .filter_map(|f| listing.get(&f.desired.id))
        .filter_map(running)
        .collect();
    let rows = rows_of(api, &ids).await.unwrap_or_else(|e| {
        eprintln!("warning: cannot list the runs in progress; their ends are not shown: {e}");
        HashMap::new()
    });
    let mut out = HashMap::new();
    for f in feeds {
        let Some(listed) = listing.get(&f.desired.id) else {
            continue;
        };
        let latest = sorted(listed).last().copied();
        let run = latest.and_then(|a| a.start_workflow_result.as_ref());
        let found = run
            .and_then(|w| rows.get(&w.run_id))
            .map(Vec::as_slice)
            .unwrap_or_default();
        // Not read: the end is recorded without its result or message.
        let unread = RunClose::default();
        let mut ingestion = assess(f, listed, found, Some(&unread), &now);
        let to_read = ingestion
            .last_run
            .as_ref()
            .and_then(|l| l.outcome)
            .is_some_and(ended);
        if let (true, true, Some(w)) = (read_ends, to_read, run) {
            let close = api
                .run_close(&w.workflow_id, &w.run_id)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            ingestion = assess(f, listed, found, Some(&close), &now);
        }
        out.insert(f.desired.id.clone(), ingestion);
    }
    out
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
