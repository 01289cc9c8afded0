//! Unit tests of the `Ingesting` condition.

use super::*;
use crate::schedule::runs::Recorded;

fn at(s: i64) -> Time {
    Time(Timestamp::from_second(s).expect("ts"))
}

fn last(outcome: RunOutcome, since: i64) -> LastRun {
    LastRun {
        scheduled_time: Some(at(since)),
        workflow_id: Some("curator/news/hn-2026".into()),
        run_id: Some("r1".into()),
        outcome: Some(outcome),
        since: Some(at(since)),
        ..Default::default()
    }
}

fn recorded(l: Option<LastRun>, failures: i32) -> Recorded {
    Recorded {
        last_run: l,
        consecutive_failures: failures,
        ..Default::default()
    }
}

/// An hourly schedule, whose next runs are at 3,600 and 7,200, created at 0.
fn hourly<'a>(next: &'a [Time]) -> Schedule<'a> {
    Schedule {
        next_runs: next,
        timeout: Some(SignedDuration::from_hours(1)),
        created: Timestamp::from_second(0).ok(),
        content_fetch: true,
        ..Default::default()
    }
}

fn cond(r: &Recorded, s: &Schedule<'_>, had: bool, now: i64) -> Option<(Status, String, String)> {
    ingesting(r, s, had, &at(now)).map(|d| (d.status, d.reason, d.message))
}

#[test]
fn a_completed_run_is_ingestion_and_says_what_it_did() {
    let next = [at(3_600), at(7_200)];
    let mut l = last(RunOutcome::Completed, 100);
    l.result = Some(Box::new(RunResult {
        status: Some("completed".into()),
        entries_created: Some(3),
        contents_fetched: Some(3),
        ..Default::default()
    }));
    let (status, reason, message) =
        cond(&recorded(Some(l.clone()), 0), &hourly(&next), true, 200).expect("set");
    assert_eq!((status, reason.as_str()), (Status::True, "RunCompleted"));
    assert!(
        message.contains("3 entries created, 3 contents fetched"),
        "{message}"
    );
    assert!(!message.contains("Chromium"));
    if let Some(r) = l.result.as_mut() {
        r.contents_fetched = Some(0);
    }
    let (_, _, message) = cond(&recorded(Some(l), 0), &hourly(&next), true, 200).expect("set");
    assert!(message.contains("Playwright's Chromium"), "{message}");
}

#[test]
fn failures_quote_why_and_count_in_a_row() {
    let next = [at(3_600), at(7_200)];
    let mut l = last(RunOutcome::Failed, 100);
    l.message = Some("Activity task failed: 1 validation error for GetAppSettingsOutput".into());
    let (status, reason, message) =
        cond(&recorded(Some(l), 3), &hourly(&next), true, 200).expect("set");
    assert_eq!((status, reason.as_str()), (Status::False, "RunFailed"));
    assert!(
        message.contains("1 validation error for GetAppSettingsOutput"),
        "{message}"
    );
    assert!(message.ends_with("(3 failures in a row)"), "{message}");
    let mut l = last(RunOutcome::Completed, 100);
    l.result = Some(Box::new(RunResult {
        status: Some("error".into()),
        error: Some("HTTP 503".into()),
        ..Default::default()
    }));
    let (status, reason, message) =
        cond(&recorded(Some(l), 1), &hourly(&next), true, 200).expect("set");
    assert_eq!(
        (status, reason.as_str()),
        (Status::False, "RunFailed"),
        "a completed run that reports an error"
    );
    assert!(message.contains("HTTP 503"), "{message}");
    let (status, reason, message) = cond(
        &recorded(Some(last(RunOutcome::TimedOut, 100)), 1),
        &hourly(&next),
        true,
        200,
    )
    .expect("set");
    assert_eq!((status, reason.as_str()), (Status::False, "RunTimedOut"));
    assert!(message.contains("execution timeout of 1h"), "{message}");
    let (_, reason, _) = cond(
        &recorded(Some(last(RunOutcome::Terminated, 100)), 1),
        &hourly(&next),
        true,
        200,
    )
    .expect("set");
    assert_eq!(reason, "RunTerminated");
}

#[test]
fn a_run_in_progress_changes_nothing_until_it_runs_longer_than_the_interval() {
    let next = [at(3_600), at(7_200)];
    let r = recorded(Some(last(RunOutcome::Running, 0)), 0);
    assert_eq!(
        cond(&r, &hourly(&next), true, 1_000),
        None,
        "the last end still stands"
    );
    let (status, reason, _) = cond(&r, &hourly(&next), false, 1_000).expect("a first run");
    assert_eq!((status, reason.as_str()), (Status::Unknown, "Running"));
    // Every 10 minutes (next runs 600 apart), a run that started at 0 is stuck after 11.
    let often = [at(600), at(1_200)];
    let mut s = hourly(&often);
    assert_eq!(cond(&r, &s, true, 650), None);
    let (status, reason, message) = cond(&r, &s, true, 661).expect("stuck");
    assert_eq!((status, reason.as_str()), (Status::False, "RunStuck"));
    assert!(
        message.contains("longer than the feed's interval of 10m"),
        "{message}"
    );
    // A timeout shorter than the interval is the limit.
    s.timeout = Some(SignedDuration::from_mins(5));
    let (_, _, message) = cond(&r, &s, true, 361).expect("stuck");
    assert!(message.contains("its execution timeout of 5m"), "{message}");
}

#[test]
fn no_run_is_pending_until_one_was_due_since_the_feedsource_was_created() {
    let r = recorded(None, 0);
    let first = [at(3_600), at(7_200)];
    let (status, reason, _) = cond(&r, &hourly(&first), false, 100).expect("set");
    assert_eq!(
        (status, reason.as_str()),
        (Status::Unknown, "FirstRunPending")
    );
    // At 7,300 the listing shows 10,800 next: the run of 7,200 never started.
    let later = [at(10_800), at(14_400)];
    let (status, reason, message) = cond(&r, &hourly(&later), false, 7_300).expect("set");
    assert_eq!((status, reason.as_str()), (Status::False, "NeverRan"));
    assert!(message.contains("due at"), "{message}");
    let mut s = hourly(&later);
    s.start_at = Timestamp::from_second(10_000).ok();
    let (_, reason, _) = cond(&r, &s, false, 7_300).expect("set");
    assert_eq!(reason, "FirstRunPending", "not before startAt");
}

#[test]
fn a_suspended_or_paused_schedule_starts_no_run() {
    let next = [at(3_600), at(7_200)];
    let r = recorded(Some(last(RunOutcome::Completed, 100)), 0);
    let mut s = hourly(&next);
    s.suspended = true;
    let (status, reason, _) = cond(&r, &s, true, 200).expect("set");
    assert_eq!((status, reason.as_str()), (Status::Unknown, "Suspended"));
    s.suspended = false;
    s.paused = Some("paused after a failure");
    let (status, reason, message) = cond(&r, &s, true, 200).expect("set");
    assert_eq!((status, reason.as_str()), (Status::False, "SchedulePaused"));
    assert!(message.contains("paused after a failure"), "{message}");
}

#[test]
fn the_interval_comes_from_the_next_runs_or_the_last_slot() {
    assert_eq!(
        period(&[at(10), at(70)], None),
        Some(SignedDuration::from_secs(60))
    );
    let l = last(RunOutcome::Running, 40);
    assert_eq!(
        period(&[at(100)], Some(&l)),
        Some(SignedDuration::from_secs(60))
    );
    assert_eq!(period(&[], Some(&l)), None);
}
