//! Unit tests of the runs watch and of what a reconcile records of the runs.

use super::*;
use crate::{
    crd::feedsource::{FeedSourceStatus, LastRun, RunOutcome},
    testing::{kube::FakeKube, schedules::FakeSchedules},
};

/// A reconcile of a copy the watch has not updated since the status recorded a run's end
/// still sees the end (it would write the run back as running), without a second read;
/// once the copy shows it, the news go.
#[tokio::test]
async fn news_outlive_a_stale_copy_and_a_close_is_read_once() {
    let kube = std::sync::Arc::new(FakeKube::default());
    let ctx = FeedContext::test(kube.client(), "t");
    let api = FakeSchedules::default();
    let mut fs = FeedSource::test("news", "hn");
    let desired = fs.desired("t:1", "t");
    let at = |s| Time(Timestamp::from_second(s).expect("ts"));
    fs.status = Some(FeedSourceStatus {
        last_run: Some(LastRun {
            scheduled_time: Some(at(1_000)),
            workflow_id: Some("wf".into()),
            run_id: Some("r1".into()),
            outcome: Some(RunOutcome::Running),
            since: Some(at(1_000)),
            ..Default::default()
        }),
        ..Default::default()
    });
    let place = (desired.address.clone(), desired.namespace.clone());
    let end = ClosedRun {
        workflow_id: "wf".into(),
        run_id: "r1".into(),
        outcome: RunOutcome::Completed,
        start_time: Timestamp::from_second(1_000).ok(),
        close_time: Timestamp::from_second(1_010).ok(),
    };
    ctx.run_news.learned(
        &place,
        Instant::now(),
        Timestamp::now(),
        [(desired.id.clone(), end)],
    );
    let seen = Seen::Created;
    let first = observe(&ctx, &api, &fs, &desired, &seen).await.recorded;
    let stale = observe(&ctx, &api, &fs, &desired, &seen).await.recorded;
    let outcome = |r: &Recorded| r.last_run.as_ref().and_then(|l| l.outcome);
    assert_eq!(outcome(&first), Some(RunOutcome::Completed));
    assert_eq!(
        outcome(&stale),
        Some(RunOutcome::Completed),
        "not Running again"
    );
    assert_eq!(api.calls("GetWorkflowExecutionHistory"), 1, "read once");
    assert_eq!(ctx.remembered(), 1, "the news wait for the copy");
    fs.status = Some(FeedSourceStatus {
        last_run: first.last_run,
        ..Default::default()
    });
    observe(&ctx, &api, &fs, &desired, &seen).await;
    assert_eq!(ctx.remembered(), 0, "the copy shows the end: no news");
}

fn feed(name: &str, running: bool, next: i64) -> Arc<FeedSource> {
    let mut fs = FeedSource::test("news", name);
    let at = |s| Time(Timestamp::from_second(s).expect("ts"));
    fs.status = Some(FeedSourceStatus {
        schedule_id: Some(format!("c/news/{name}")),
        temporal_address: Some("t:1".into()),
        temporal_namespace: Some("default".into()),
        worker: Some("w".into()),
        last_run: Some(LastRun {
            outcome: Some(if running {
                RunOutcome::Running
            } else {
                RunOutcome::Completed
            }),
            since: Some(at(1_000)),
            ..Default::default()
        }),
        next_runs: vec![at(next)],
        ..Default::default()
    });
    Arc::new(fs)
}

#[test]
fn only_namespaces_with_runs_in_progress_or_due_are_asked() {
    let now = Timestamp::from_second(2_000).expect("ts");
    let idle = [feed("a", false, 5_000), feed("b", false, 6_000)];
    let (places, stuck) = waiting(&idle, now);
    assert!(
        places.is_empty(),
        "nothing to ask while nothing runs or is due"
    );
    assert!(stuck.is_empty());
    let busy = [feed("a", true, 5_000), feed("b", false, 1_990)];
    let (places, _) = waiting(&busy, now);
    let w = &places[&("t:1".to_owned(), "default".to_owned())];
    assert_eq!(w.running_since, Timestamp::from_second(1_000).ok());
    assert_eq!(w.due, Timestamp::from_second(1_990).ok());
    assert_eq!(w.members.len(), 2, "every FeedSource there may get news");
    assert_eq!(w.worker, Some(("news".to_owned(), "w".to_owned())));
}
