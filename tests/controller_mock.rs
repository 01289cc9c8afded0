//! The FeedSource controller against the fake Kubernetes API and a real Temporal dev server:
//! the exact requests a reconcile makes.

mod common;

use std::{sync::Arc, time::Duration};

use common::wait;
use curator_operator::{
    controller::feedsource::{self, FeedContext},
    crd::{CuratorWorker, FeedSource, FeedSourceStatus},
    temporal::ScheduleApi,
    testing::kube::{FakeKube, Seen},
};
use http::Method;
use kube::runtime::controller::Action;

/// Reconciles `feed` once against a fake API server that holds it (and `worker`, when given),
/// and returns the result and every request the reconcile made.
async fn reconcile(
    feed: &FeedSource,
    worker: Option<CuratorWorker>,
) -> (Result<Action, String>, Vec<Seen>) {
    let fake = Arc::new(FakeKube::default());
    fake.put_object(feed);
    if let Some(w) = &worker {
        fake.put_object(w);
    }
    let ctx = Arc::new(FeedContext::test(fake.client(), "mock"));
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        feedsource::reconcile(Arc::new(feed.clone()), ctx),
    )
    .await
    .expect("reconcile finishes")
    .map_err(|e| e.to_string());
    (result, fake.seen_since(0))
}

/// Reconciles a new `feed` with one context, as the controller does (each reconcile sees the
/// status the previous one wrote), until its status is complete: the create (Ready at once),
/// then the follow-ups until a listing shows the schedule and its next runs are recorded.
/// Returns the requests of each reconcile and the last status written.
async fn converge(
    feed: &FeedSource,
    worker: &CuratorWorker,
) -> (
    Vec<Vec<Seen>>,
    serde_json::Value,
    Arc<FeedContext>,
    Arc<FakeKube>,
) {
    let fake = Arc::new(FakeKube::default());
    fake.put_object(feed);
    fake.put_object(worker);
    let ctx = Arc::new(FeedContext::test(fake.client(), "mock"));
    let mut rounds = Vec::new();
    let mut current = feed.clone();
    let mut last = serde_json::Value::Null;
    for _ in 0..30 {
        let from = fake.seen_count();
        let result = feedsource::reconcile(Arc::new(current.clone()), ctx.clone()).await;
        let seen = fake.seen_since(from);
        if let Some(s) = seen.iter().find(|s| s.path.ends_with("/status")) {
            last = s.body["status"].clone();
            current.status = Some(serde_json::from_value(last.clone()).expect("status"));
        }
        rounds.push(seen);
        let complete = last["nextRuns"].as_array().is_some_and(|r| !r.is_empty());
        if complete {
            // In line: the resync sweep brings it back, no timer of its own.
            assert_eq!(result.ok(), Some(Action::await_change()));
            return (rounds, last, ctx, fake);
        }
        assert_eq!(result.ok(), Some(Action::requeue(Duration::from_secs(2))));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("no complete status after 30 reconciles: {rounds:?}");
}

#[tokio::test]
async fn the_finalizer_is_added_before_any_temporal_call() {
    let feed = FeedSource::test("news", "first");
    let (result, seen) = reconcile(&feed, Some(CuratorWorker::test("news", "127.0.0.1:1"))).await;
    // The finalizer patch first; then, in the same reconcile (not after the watch brings the
    // object back), the schedule: Temporal at a closed port fails it.
    assert!(
        result
            .as_ref()
            .is_err_and(|e| e.contains("cannot connect to Temporal")),
        "{result:?}"
    );
    assert_eq!(seen[0].method, Method::PATCH);
    assert_eq!(
        seen[0].path,
        "/apis/curator.buun.dev/v1alpha1/namespaces/news/feedsources/first"
    );
    assert!(
        seen[0].body.to_string().contains(feedsource::FINALIZER),
        "{}",
        seen[0].body
    );
}

#[tokio::test]
async fn a_missing_worker_is_reported_without_calling_temporal() {
    let feed = FeedSource::test("news", "orphan-feed").with_finalizer();
    let (result, seen) = reconcile(&feed, None).await;
    assert_eq!(result, Ok(Action::await_change()));
    let status_patch = seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status patch");
    let cond = &status_patch.body["status"]["conditions"][0];
    assert_eq!(cond["type"], "Ready");
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "WorkerNotFound");
    assert_eq!(status_patch.body["status"]["observedGeneration"], 1);
    assert_eq!(status_patch.body["apiVersion"], "curator.buun.dev/v1alpha1");
    let warning = seen
        .iter()
        .find(|s| s.path.contains("/events"))
        .expect("warning event");
    assert_eq!(warning.body["type"], "Warning");
    assert_eq!(warning.body["reason"], "WorkerNotFound");
}

#[tokio::test]
async fn create_is_ready_at_once_completed_by_the_listing_then_quiet() {
    let server = common::shared();
    let feed = FeedSource::test("news", "quiet").with_finalizer();
    let worker = CuratorWorker::test("news", &server.address);
    // 1. A new resource: one CreateSchedule and its status at once (Ready, no next runs yet);
    //    the follow-ups wait for a listing to show the schedule, then record its next runs.
    let (rounds, status, ctx, fake) = converge(&feed, &worker).await;
    let all: Vec<&Seen> = rounds.iter().flatten().collect();
    let writes: Vec<_> = all.iter().filter(|s| s.method != Method::GET).collect();
    assert_eq!(
        writes.len(),
        3,
        "one event, the status at the create, the next runs: {writes:?}"
    );
    let first = rounds[0]
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("the create's status is written at once");
    let ready = &first.body["status"]["conditions"][0];
    assert_eq!(
        (&ready["type"], &ready["status"]),
        (&"Ready".into(), &"True".into())
    );
    assert!(
        first.body["status"]["nextRuns"].is_null(),
        "no next runs yet"
    );
    let status = &status;
    assert_eq!(status["scheduleId"], "mock/news/quiet");
    assert_eq!(status["temporalAddress"], server.address);
    assert_eq!(status["temporalNamespace"], "default");
    assert_eq!(status["taskQueue"], "buun-curator");
    assert_eq!(status["summary"], "every 1h");
    assert_eq!(status["paused"], false);
    assert_eq!(status["conditions"][0]["reason"], "Synced");
    assert_eq!(status["conditions"][1]["type"], "TemporalReachable");
    assert_eq!(status["nextRuns"].as_array().map(Vec::len), Some(3));
    assert!(status["observedSpecFingerprint"].is_string());
    let created = rounds[0]
        .iter()
        .find(|s| s.path.contains("/events"))
        .expect("event");
    assert_eq!(created.body["reason"], "ScheduleCreated");
    let api = common::schedules(&server.address).await;
    assert!(
        api.describe("mock/news/quiet")
            .await
            .expect("describe")
            .is_some()
    );

    // 2. The same process: the schedule is settled; back with the resync sweep, nothing
    //    written (the follow-ups end once the listing showed it).
    let mut stored = feed.clone();
    stored.status =
        Some(serde_json::from_value::<FeedSourceStatus>(status.clone()).expect("status"));
    let from = fake.seen_count();
    let result = feedsource::reconcile(Arc::new(stored.clone()), ctx).await;
    assert_eq!(result.ok(), Some(Action::await_change()));
    let seen = fake.seen_since(from);
    assert!(seen.iter().all(|s| s.method == Method::GET), "{seen:?}");

    // 3. After a restart (a new context): one describe records the server's whole form.
    let (result, seen) = reconcile(&stored, Some(worker.clone())).await;
    assert_eq!(result, Ok(Action::await_change()));
    let status = seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status")
        .body["status"]
        .clone();
    assert!(
        status["observedSpecFingerprint"].is_string() && status["observedFingerprint"].is_string()
    );

    // 4. The API server now holds that status: the next reconcile changes nothing anywhere.
    stored.status = Some(serde_json::from_value::<FeedSourceStatus>(status).expect("status"));
    let (result, seen) = reconcile(&stored, Some(worker)).await;
    assert_eq!(result, Ok(Action::await_change()));
    assert_eq!(seen.len(), 1, "only the worker lookup: {seen:?}");
    assert!(seen[0].path.ends_with("/curatorworkers/curator"));
}

#[tokio::test]
async fn deletion_removes_the_schedule_then_the_finalizer() {
    let server = common::shared();
    let worker = CuratorWorker::test("news", &server.address);
    let feed = FeedSource::test("news", "bye").with_finalizer();
    let (_, status, _, _) = converge(&feed, &worker).await;
    let deleting = feed
        .clone()
        .with_status(serde_json::from_value(status).expect("status"))
        .deleting();
    let (result, seen) = reconcile(&deleting, Some(worker)).await;
    assert_eq!(result, Ok(Action::await_change()));
    let api = common::schedules(&server.address).await;
    assert!(
        api.describe("mock/news/bye")
            .await
            .expect("describe")
            .is_none()
    );
    let last = seen.last().expect("requests");
    assert_eq!(
        last.method,
        Method::PATCH,
        "the finalizer is removed last: {seen:?}"
    );
    assert!(
        last.body.to_string().contains("remove") || last.body.to_string().contains("finalizers")
    );
    assert!(seen.iter().any(|s| s.body["reason"] == "ScheduleDeleted"));
}

#[tokio::test]
async fn deletion_does_not_hang_when_nothing_was_ever_created() {
    let feed = FeedSource::test("news", "never")
        .with_finalizer()
        .deleting();
    let (result, seen) = reconcile(&feed, None).await;
    assert_eq!(result, Ok(Action::await_change()));
    assert!(
        seen.iter()
            .any(|s| s.method == Method::PATCH && !s.path.ends_with("/status")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn run_now_fires_once_per_annotation_value() {
    let server = common::shared();
    let worker = CuratorWorker::test("news", &server.address);
    let mut feed = FeedSource::test("news", "runnow").with_finalizer();
    feed.metadata.annotations = Some(
        [(
            "curator.buun.dev/run-now".to_owned(),
            "2026-11-22T10:00".to_owned(),
        )]
        .into(),
    );
    let (_, seen) = reconcile(&feed, Some(worker.clone())).await;
    let status = seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status")
        .body["status"]
        .clone();
    assert_eq!(status["runNowHandled"], "2026-11-22T10:00");
    assert!(
        seen.iter().any(|s| s.body["reason"] == "RunTriggered"),
        "{seen:?}"
    );
    // Same value again, with the status that recorded it: no second run.
    feed.status = Some(serde_json::from_value(status).expect("status"));
    let (_, seen) = reconcile(&feed, Some(worker)).await;
    assert!(
        !seen.iter().any(|s| s.body["reason"] == "RunTriggered"),
        "{seen:?}"
    );
    let api = common::schedules(&server.address).await;
    let mut count = 0;
    wait::until(
        Duration::from_secs(3),
        Duration::from_millis(100),
        async || {
            count = api
                .describe("mock/news/runnow")
                .await
                .expect("d")
                .expect("exists")
                .info
                .action_count;
            (count > 0).then_some(())
        },
    )
    .await;
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_follow_up_that_reads_the_copy_from_before_the_create_waits_for_the_cache() {
    let server = common::shared();
    let feed = FeedSource::test("news", "lagging").with_finalizer();
    let worker = CuratorWorker::test("news", &server.address);
    let fake = Arc::new(FakeKube::default());
    fake.put_object(&feed);
    fake.put_object(&worker);
    let ctx = Arc::new(FeedContext::test(fake.client(), "mock"));
    let created = feedsource::reconcile(Arc::new(feed.clone()), ctx.clone()).await;
    assert_eq!(created.ok(), Some(Action::requeue(Duration::from_secs(2))));
    // The follow-up comes from the cache, whose watch has not delivered the status written
    // with the create yet: the copy has no status. Not one request: not even the worker's
    // lookup, which comes before any Temporal call (the context's cache has no workers).
    let from = fake.seen_count();
    let again = feedsource::reconcile(Arc::new(feed.clone()), ctx.clone()).await;
    assert_eq!(again.ok(), Some(Action::requeue(Duration::from_secs(2))));
    let seen = fake.seen_since(from);
    assert!(seen.is_empty(), "{seen:?}");
    // Another context (a restart) has created nothing: the same copy is reconciled in full,
    // and finds the schedule the first one made (a create answered AlreadyExists, a describe).
    let (result, seen) = reconcile(&feed, Some(worker)).await;
    assert!(result.is_ok(), "{result:?}");
    let status = seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status");
    assert_eq!(status.body["status"]["conditions"][0]["status"], "True");
}
