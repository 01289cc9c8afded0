//! Unit tests of what `sync` says of each feed's last run.

use super::*;
use crate::{
    crd::FeedSource, temporal::proto::WorkflowExecution, testing::schedules::FakeSchedules,
};

fn pts(s: i64) -> prost_wkt_types::Timestamp {
    prost_wkt_types::Timestamp {
        seconds: s,
        nanos: 0,
    }
}

fn action(run: &str, at: i64, status: i32) -> ScheduleActionResult {
    ScheduleActionResult {
        schedule_time: Some(pts(at)),
        actual_time: Some(pts(at)),
        start_workflow_result: Some(WorkflowExecution {
            workflow_id: format!("wf-{at}"),
            run_id: run.into(),
        }),
        start_workflow_status: status,
    }
}

fn feed(name: &str) -> Feed {
    let fs = FeedSource::test("news", name);
    Feed::new(format!("news/{name}"), fs.desired("t:1", "c"))
}

/// A listing entry for an hourly schedule whose runs are `actions`, at `now`.
fn listed(f: &Feed, actions: Vec<ScheduleActionResult>, now: i64) -> Listed {
    Listed {
        id: f.desired.id.clone(),
        recent_actions: actions,
        future_action_times: vec![pts(now + 600), pts(now + 4_200)],
        ..Default::default()
    }
}

fn row(run: &str, start: i64, close: i64, status: i32) -> RunRow {
    RunRow {
        schedule_id: "c/news/x".into(),
        workflow_id: format!("wf-{start}"),
        run_id: run.into(),
        status,
        start_time: Some(pts(start)),
        close_time: Some(pts(close)),
    }
}

fn at(s: i64) -> Time {
    Time(jiff::Timestamp::from_second(s).expect("ts"))
}

#[test]
fn a_run_the_listing_shows_running_is_seen_to_fail_with_the_failures_before_it() {
    let f = feed("x");
    let now = 10_000;
    // Two failed runs before it; the listing still shows the latest running.
    let l = listed(
        &f,
        vec![
            action("r1", 2_800, 3),
            action("r2", 6_400, 3),
            action("r3", 9_400, 1),
        ],
        now,
    );
    let failed = [row("r3", 9_400, 9_460, 3)];
    let close = RunClose {
        close_time: Some(pts(9_460)),
        failure: Some("Activity task failed: 1 validation error".into()),
        result: None,
    };
    let i = assess(&f, &l, &failed, Some(&close), &at(now));
    assert_eq!((i.status, i.reason.as_str()), ("False", "RunFailed"));
    assert!(i.message.contains("1 validation error"), "{}", i.message);
    assert_eq!(i.consecutive_failures, 3);
    assert!(i.unhealthy());
    // Not read: the same verdict, without the message.
    let i = assess(&f, &l, &failed, Some(&RunClose::default()), &at(now));
    assert_eq!(
        (i.reason.as_str(), i.consecutive_failures),
        ("RunFailed", 3)
    );
}

#[test]
fn a_run_in_progress_leaves_the_verdict_of_the_one_before_until_it_runs_too_long() {
    let f = feed("x");
    let l = listed(
        &f,
        vec![action("r1", 6_400, 2), action("r2", 9_400, 1)],
        9_500,
    );
    let i = assess(&f, &l, &[], Some(&RunClose::default()), &at(9_500));
    assert_eq!((i.status, i.reason.as_str()), ("True", "RunCompleted"));
    assert_eq!(
        i.last_run.and_then(|r| r.run_id).as_deref(),
        Some("r2"),
        "the last run is the one in progress"
    );
    // An hour and more later (next runs an hour apart), still running: stuck.
    let later = 9_400 + 3_600 + 61;
    let mut l = listed(
        &f,
        vec![action("r1", 6_400, 2), action("r2", 9_400, 1)],
        later,
    );
    l.future_action_times = vec![pts(13_000), pts(16_600)];
    let i = assess(&f, &l, &[], Some(&RunClose::default()), &at(later));
    assert_eq!(i.reason, "RunStuck");
}

#[tokio::test]
async fn a_query_per_hundred_runs_in_progress_and_a_read_per_ended_run_only_when_asked() {
    let api = FakeSchedules::default();
    let feeds: Vec<Feed> = (0..150).map(|i| feed(&format!("f{i}"))).collect();
    let now = jiff::Timestamp::now().as_second();
    let listing: HashMap<String, Listed> = feeds
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let status = if i < 120 { 1 } else { 2 };
            let l = listed(
                f,
                vec![action(&format!("0000-{i:04}"), now - 60, status)],
                now,
            );
            (f.desired.id.clone(), l)
        })
        .collect();
    let refs: Vec<&Feed> = feeds.iter().collect();
    let found = assess_all(&api, &listing, &refs, false).await;
    assert_eq!(found.len(), 150);
    assert_eq!(
        api.calls("ListWorkflowExecutions"),
        2,
        "120 runs in progress"
    );
    assert_eq!(api.calls("GetWorkflowExecutionHistory"), 0);
    let read = assess_all(&api, &listing, &refs, true).await;
    assert_eq!(
        api.calls("GetWorkflowExecutionHistory"),
        30,
        "the 30 ended runs"
    );
    assert_eq!(read.len(), 150);
}
