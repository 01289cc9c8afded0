//! PURE: what a FeedSource's status expects to learn of its runs, so that the runs watch asks
//! Temporal only for what is due: the end of a run in progress (one visibility query per
//! Temporal namespace), the start of a run whose time has come (one schedule listing per
//! namespace), a run that has run too long (no read at all).

use jiff::{SignedDuration, Timestamp};

use super::{
    health::{INGESTING, STUCK_GRACE, period},
    listed::Entry,
    status::to_k8s_time,
};
use crate::crd::feedsource::{FeedSourceStatus, RunOutcome};

/// A run whose time came this long ago and that the status does not show yet is looked for in
/// a new listing (Temporal starts it at its time, plus any jitter).
pub const START_LAG: SignedDuration = SignedDuration::from_secs(5);

/// A next run further in the past than this is left to the resync: the schedule did not start
/// it (paused, or its start is skipped), and a listing every half minute would not help.
pub const DUE_WINDOW: SignedDuration = SignedDuration::from_mins(15);

/// What a status waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// Its last run runs, since then: its end is news.
    pub running_since: Option<Timestamp>,
    /// A next run whose time has come: its start is news.
    pub due: Option<Timestamp>,
    /// Its run in progress runs longer than the feed's interval, and the status does not say
    /// so yet.
    pub stuck: bool,
}

/// PURE: what `status` expects at `now`.
pub fn expect(status: &FeedSourceStatus, now: Timestamp) -> Expect {
    let last = status.last_run.as_ref();
    let running = last.filter(|l| l.outcome == Some(RunOutcome::Running));
    let running_since = running.and_then(|l| l.since.as_ref().or(l.scheduled_time.as_ref()));
    let paused = status.paused == Some(true);
    let due = status
        .next_runs
        .first()
        .map(|t| t.0)
        .filter(|t| !paused && *t <= now - START_LAG && *t > now - DUE_WINDOW);
    let stuck = running_since.is_some_and(|since| {
        let reported = status
            .conditions
            .find(INGESTING)
            .is_some_and(|c| c.reason == "RunStuck");
        !reported
            && period(&status.next_runs, last)
                .is_some_and(|p| now.duration_since(since.0) > p + STUCK_GRACE)
    });
    Expect {
        running_since: running_since.map(|t| t.0),
        due,
        stuck,
    }
}

/// PURE: whether a listing entry shows what `status` does not: a newer run, or other next runs.
pub fn behind(status: &FeedSourceStatus, entry: &Entry, now: Timestamp) -> bool {
    let listed_run = entry.last_run.as_ref();
    let listed_id = listed_run
        .and_then(|a| a.start_workflow_result.as_ref())
        .map(|w| w.run_id.as_str());
    let recorded = status.last_run.as_ref();
    let newer = listed_run
        .and_then(|a| a.schedule_time.as_ref())
        .and_then(to_k8s_time)
        .is_some_and(|t| recorded.and_then(|r| r.scheduled_time.as_ref()) < Some(&t));
    if listed_id.is_some() && listed_id != recorded.and_then(|r| r.run_id.as_deref()) && newer {
        return true;
    }
    let listed_next = entry
        .next_runs
        .iter()
        .filter_map(to_k8s_time)
        .find(|t| t.0 > now);
    let recorded_next = status.next_runs.iter().find(|t| t.0 > now);
    listed_next.as_ref() != recorded_next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::feedsource::LastRun;
    use crate::temporal::proto::{ScheduleActionResult, WorkflowExecution};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: i64) -> Time {
        Time(Timestamp::from_second(s).expect("ts"))
    }

    fn pts(s: i64) -> prost_wkt_types::Timestamp {
        prost_wkt_types::Timestamp {
            seconds: s,
            nanos: 0,
        }
    }

    fn running(since: i64) -> FeedSourceStatus {
        FeedSourceStatus {
            last_run: Some(LastRun {
                scheduled_time: Some(at(since)),
                run_id: Some("r1".into()),
                outcome: Some(RunOutcome::Running),
                since: Some(at(since)),
                ..Default::default()
            }),
            next_runs: vec![at(since + 600), at(since + 1200)],
            ..Default::default()
        }
    }

    #[test]
    fn a_run_in_progress_waits_for_its_end_and_is_stuck_after_an_interval() {
        let s = running(1_000);
        let e = expect(&s, at(1_100).0);
        assert_eq!(e.running_since, Some(at(1_000).0));
        assert_eq!(e.due, None);
        assert!(!e.stuck);
        let later = expect(&s, at(1_000 + 600 + 61).0);
        assert!(later.stuck, "an interval and a minute");
        assert_eq!(later.due, Some(at(1_600).0), "and the next run's time came");
    }

    #[test]
    fn a_next_run_is_due_after_its_time_and_for_a_while_only() {
        let mut s = running(1_000);
        s.last_run = None;
        assert_eq!(expect(&s, at(1_602).0).due, None, "within the start lag");
        assert_eq!(expect(&s, at(1_610).0).due, Some(at(1_600).0));
        assert_eq!(
            expect(&s, at(1_600 + 901).0).due,
            None,
            "left to the resync"
        );
        s.paused = Some(true);
        assert_eq!(
            expect(&s, at(1_610).0).due,
            None,
            "a paused schedule starts none"
        );
    }

    #[test]
    fn an_entry_is_ahead_with_a_newer_run_or_other_next_runs() {
        let s = running(1_000);
        let entry = |run: &str, scheduled: i64, next: &[i64]| Entry {
            last_run: Some(ScheduleActionResult {
                schedule_time: Some(pts(scheduled)),
                start_workflow_result: Some(WorkflowExecution {
                    workflow_id: "wf".into(),
                    run_id: run.into(),
                }),
                ..Default::default()
            }),
            next_runs: next.iter().map(|n| pts(*n)).collect(),
            ..Default::default()
        };
        let now = at(1_100).0;
        assert!(!behind(&s, &entry("r1", 1_000, &[1_600, 2_200]), now));
        assert!(
            behind(&s, &entry("r2", 1_600, &[2_200]), now),
            "a newer run"
        );
        assert!(
            behind(&s, &entry("r1", 1_000, &[1_700]), now),
            "other next runs"
        );
        assert!(
            !behind(&s, &entry("r0", 400, &[1_000, 1_600]), now),
            "an older listing shows nothing new: its past next run is left out"
        );
    }
}
