//! Unit tests of what the status records of a schedule's runs.

use super::*;
use crate::temporal::proto::WorkflowExecution;

fn at(s: i64) -> Time {
    Time(jiff::Timestamp::from_second(s).expect("ts"))
}

fn pts(s: i64) -> prost_wkt_types::Timestamp {
    prost_wkt_types::Timestamp {
        seconds: s,
        nanos: 0,
    }
}

/// The latest action of a listing: run `run` scheduled at `s`, with the listing's status.
fn action(run: &str, s: i64, status: i32) -> ScheduleActionResult {
    ScheduleActionResult {
        schedule_time: Some(pts(s)),
        actual_time: Some(pts(s)),
        start_workflow_result: Some(WorkflowExecution {
            workflow_id: format!("wf-{s}"),
            run_id: run.into(),
        }),
        start_workflow_status: status,
    }
}

fn ended_run(run: &str, start: i64, close: i64, outcome: RunOutcome) -> ClosedRun {
    ClosedRun {
        workflow_id: format!("wf-{start}").into(),
        run_id: run.into(),
        outcome,
        start_time: jiff::Timestamp::from_second(start).ok(),
        close_time: jiff::Timestamp::from_second(close).ok(),
    }
}

fn completed(entries: i64, status: &str) -> RunClose {
    RunClose {
        close_time: Some(pts(1_100)),
        result: Some(serde_json::json!({
            "status": status, "entriesCreated": entries, "contentsFetched": entries,
            "error": if status == "error" { serde_json::json!("feed returned 503") } else { serde_json::Value::Null },
            "newEntries": [{"id": "x"}],
        })),
        failure: None,
    }
}

/// Records, reading the close event when asked for (`close`), as the controller does.
fn both(
    prev: &FeedSourceStatus,
    latest: Option<&ScheduleActionResult>,
    closed: &[ClosedRun],
    close: &RunClose,
) -> Recorded {
    let now = at(5_000);
    let mut runs = Runs {
        latest,
        closed,
        close: None,
    };
    let first = record(prev, &runs, &now);
    let Some((_, run)) = first.read.clone() else {
        return first;
    };
    runs.close = Some((&run, close));
    record(prev, &runs, &now)
}

/// The outcomes of the runs seen to end.
fn outcomes(r: &Recorded) -> Vec<RunOutcome> {
    r.ended.iter().map(|(_, o)| *o).collect()
}

fn status_of(r: &Recorded) -> FeedSourceStatus {
    FeedSourceStatus {
        last_run: r.last_run.clone(),
        last_success_time: r.last_success_time.clone(),
        consecutive_failures: r.consecutive_failures,
        ..Default::default()
    }
}

#[test]
fn a_run_in_progress_then_its_end_with_the_result_read_once() {
    let start = action("r1", 1_000, 1);
    let running = both(
        &FeedSourceStatus::default(),
        Some(&start),
        &[],
        &RunClose::default(),
    );
    let last = running.last_run.clone().expect("a run");
    assert_eq!(last.outcome, Some(RunOutcome::Running));
    assert_eq!(last.since, Some(at(1_000)), "since it started");
    assert_eq!((running.read.clone(), outcomes(&running)), (None, vec![]));
    let prev = status_of(&running);
    // Visibility lists its end; the listing still shows it running.
    let end = [ended_run("r1", 1_000, 1_100, RunOutcome::Completed)];
    let first = record(
        &prev,
        &Runs {
            latest: Some(&start),
            closed: &end,
            close: None,
        },
        &at(5_000),
    );
    assert_eq!(
        first.read,
        Some(("wf-1000".to_owned(), "r1".to_owned())),
        "one read, for the result"
    );
    let done = both(&prev, Some(&start), &end, &completed(3, "completed"));
    let last = done.last_run.clone().expect("a run");
    assert_eq!(last.outcome, Some(RunOutcome::Completed));
    assert_eq!(last.since, Some(at(1_100)), "since it ended");
    let result = last.result.as_deref().expect("result");
    assert_eq!(
        (result.entries_created, result.contents_fetched),
        (Some(3), Some(3))
    );
    assert_eq!(result.status.as_deref(), Some("completed"));
    assert_eq!(done.last_success_time, Some(at(1_100)));
    assert_eq!(
        (done.consecutive_failures, outcomes(&done)),
        (0, vec![RunOutcome::Completed])
    );
    // Recorded: the same news and the stale listing change nothing, and nothing is read again.
    let again = both(&status_of(&done), Some(&start), &end, &RunClose::default());
    assert_eq!(again.read, None);
    assert_eq!(outcomes(&again), vec![]);
    assert_eq!(again.last_run, done.last_run);
    let stale = both(&status_of(&done), Some(&start), &[], &RunClose::default());
    assert_eq!(
        stale.last_run, done.last_run,
        "the listing's stale status does not undo an end"
    );
}

#[test]
fn failures_count_in_a_row_and_a_success_resets_them() {
    let mut prev = FeedSourceStatus {
        consecutive_failures: 2,
        ..Default::default()
    };
    let failed = RunClose {
        close_time: Some(pts(1_050)),
        failure: Some("Activity task failed: 1 validation error".into()),
        result: None,
    };
    let r = both(
        &prev,
        Some(&action("r1", 1_000, 1)),
        &[ended_run("r1", 1_000, 1_050, RunOutcome::Failed)],
        &failed,
    );
    let last = r.last_run.clone().expect("a run");
    assert_eq!(
        last.message.as_deref(),
        Some("Activity task failed: 1 validation error")
    );
    assert_eq!(r.consecutive_failures, 3);
    prev = status_of(&r);
    // Two more runs ended between two reconciles: one timed out, the latest completed with an
    // error in its result, which is a failure to ingest too.
    let closed = [
        ended_run("r2", 1_060, 1_120, RunOutcome::TimedOut),
        ended_run("r3", 1_120, 1_180, RunOutcome::Completed),
    ];
    let r = both(
        &prev,
        Some(&action("r3", 1_120, 1)),
        &closed,
        &completed(0, "error"),
    );
    assert_eq!(r.consecutive_failures, 5);
    assert_eq!(
        outcomes(&r),
        vec![RunOutcome::TimedOut, RunOutcome::Completed]
    );
    assert_eq!(r.last_success_time, None);
    let result = r
        .last_run
        .as_ref()
        .and_then(|l| l.result.as_deref())
        .expect("result");
    assert_eq!(result.error.as_deref(), Some("feed returned 503"));
    let ok = both(
        &status_of(&r),
        Some(&action("r4", 1_200, 1)),
        &[ended_run("r4", 1_200, 1_260, RunOutcome::Completed)],
        &completed(1, "skipped"),
    );
    assert_eq!(
        ok.consecutive_failures, 0,
        "a skipped feed was not modified: a success"
    );
    assert!(ok.last_success_time.is_some());
}

#[test]
fn a_new_run_in_progress_follows_the_end_of_the_last_one() {
    let prev = status_of(&both(
        &FeedSourceStatus::default(),
        Some(&action("r1", 1_000, 1)),
        &[],
        &RunClose::default(),
    ));
    let r = both(
        &prev,
        Some(&action("r2", 1_600, 1)),
        &[ended_run("r1", 1_000, 1_300, RunOutcome::Failed)],
        &RunClose::default(),
    );
    let last = r.last_run.clone().expect("a run");
    assert_eq!(
        (last.run_id.as_deref(), last.outcome),
        (Some("r2"), Some(RunOutcome::Running))
    );
    assert_eq!(r.read, None, "no read for a run that is not the last");
    assert_eq!(
        (r.consecutive_failures, outcomes(&r)),
        (1, vec![RunOutcome::Failed])
    );
}

#[test]
fn older_runs_and_unreadable_ends_count_once() {
    let prev = status_of(&both(
        &FeedSourceStatus::default(),
        Some(&action("r5", 5_000, 1)),
        &[],
        &RunClose::default(),
    ));
    // A query that looked far back lists runs from before the recorded one: not news.
    let old = [ended_run("r4", 4_000, 4_100, RunOutcome::Failed)];
    let r = both(
        &prev,
        Some(&action("r5", 5_000, 1)),
        &old,
        &RunClose::default(),
    );
    assert_eq!((r.consecutive_failures, outcomes(&r)), (0, vec![]));
    // The close event could not be read: the end is recorded without it, and counted.
    let end = [ended_run("r5", 5_000, 5_050, RunOutcome::Failed)];
    let r = both(
        &prev,
        Some(&action("r5", 5_000, 1)),
        &end,
        &RunClose::default(),
    );
    let last = r.last_run.clone().expect("a run");
    assert_eq!(
        (last.outcome, last.message.clone()),
        (Some(RunOutcome::Failed), None)
    );
    assert_eq!(r.consecutive_failures, 1);
    let again = record(
        &status_of(&r),
        &Runs {
            latest: None,
            closed: &end,
            close: None,
        },
        &at(6_000),
    );
    assert_eq!(
        (again.read.clone(), outcomes(&again)),
        (None, vec![]),
        "not read again"
    );
}

#[test]
fn an_end_the_listing_shows_first_is_recorded_then_and_read() {
    let prev = status_of(&both(
        &FeedSourceStatus::default(),
        Some(&action("r1", 1_000, 1)),
        &[],
        &RunClose::default(),
    ));
    // After an operator restart the watch has no news, but the listing refreshed at the next
    // action shows the run ended.
    let r = both(
        &prev,
        Some(&action("r1", 1_000, 7)),
        &[],
        &RunClose::default(),
    );
    let last = r.last_run.clone().expect("a run");
    assert_eq!(last.outcome, Some(RunOutcome::TimedOut));
    assert_eq!(r.read, None, "a timeout needs no read");
    assert_eq!(
        (r.consecutive_failures, outcomes(&r)),
        (1, vec![RunOutcome::TimedOut])
    );
}

#[test]
fn queries_and_results_read_as_temporal_and_buun_curator_write_them() {
    let since = jiff::Timestamp::from_second(1_800_000_000).expect("ts");
    assert_eq!(
        closed_since("curator/", since),
        "TemporalScheduledById STARTS_WITH 'curator/' AND ExecutionStatus != 'Running' AND CloseTime > '2027-01-15T08:00:00Z'"
    );
    assert_eq!(
        closed_since("", since),
        "TemporalScheduledById IS NOT NULL AND ExecutionStatus != 'Running' AND CloseTime > '2027-01-15T08:00:00Z'"
    );
    assert_eq!(
        by_run_id(["0190a-bc", "x' OR 1=1", ""]),
        Some("RunId IN ('0190a-bc')".into()),
        "only IDs a literal holds as they are"
    );
    assert_eq!(by_run_id([]), None);
    assert_eq!(outcome_of(7), Some(RunOutcome::TimedOut));
    assert_eq!(outcome_of(0), None);
    assert_eq!(result_of(&serde_json::json!("a string")), None);
    let long = "x".repeat(5_000);
    let r = result_of(&serde_json::json!({"status": "error", "error": long})).expect("result");
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.chars().count() == MESSAGE_MAX + 1)
    );
}

#[test]
fn a_kept_close_holds_the_summary_not_the_new_entries() {
    let c = trimmed(completed(3, "completed"));
    let v = c.result.clone().expect("result");
    assert!(v.get("newEntries").is_none());
    assert_eq!(
        result_of(&v),
        result_of(&completed(3, "completed").result.expect("r"))
    );
}
