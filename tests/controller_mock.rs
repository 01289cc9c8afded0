//! The FeedSource controller against a mocked Kubernetes API (tower-test) and a real Temporal
//! dev server: the exact requests a reconcile makes.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use curator_operator::{
    controller::{Context, feedsource},
    crd::{CuratorWorker, FeedSource, FeedSourceStatus},
    fixtures,
    resources::schedule::BuildOptions,
    temporal::{ScheduleApi, pool::Pool},
};
use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body, runtime::controller::Action};
use serde_json::{Value, json};

/// A request the controller made.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    body: Value,
}

/// Serves the mocked API: the worker (when given), echoes patches, accepts events, and records
/// every request.
fn serve(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    feed: FeedSource,
    worker: Option<CuratorWorker>,
) -> (Arc<Mutex<Vec<Seen>>>, tokio::task::JoinHandle<()>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let task = tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let bytes = req.into_body().collect_bytes().await.expect("body");
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            log.lock().expect("lock").push(Seen {
                method: method.clone(),
                path: path.clone(),
                body: body.clone(),
            });
            let (status, reply) = if path.contains("/curatorworkers/") {
                match &worker {
                    Some(w) => (StatusCode::OK, serde_json::to_value(w).expect("json")),
                    None => (StatusCode::NOT_FOUND, not_found()),
                }
            } else if path.contains("/secrets/") {
                (StatusCode::NOT_FOUND, not_found())
            } else if path.contains("/events") {
                (StatusCode::CREATED, body)
            } else if path.ends_with("/status") {
                let mut obj = serde_json::to_value(&feed).expect("json");
                obj["status"] = body["status"].clone();
                (StatusCode::OK, obj)
            } else if method == Method::PATCH {
                let mut obj = serde_json::to_value(&feed).expect("json");
                obj["metadata"]["finalizers"] = json!([feedsource::FINALIZER]);
                (StatusCode::OK, obj)
            } else {
                (StatusCode::NOT_FOUND, not_found())
            };
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&reply).expect("json")))
                    .expect("response"),
            );
        }
    });
    (seen, task)
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
}

fn context(client: Client) -> Arc<Context> {
    Arc::new(Context::new(
        client,
        Pool::new("controller-test", Duration::from_secs(5)),
        BuildOptions {
            id_prefix: "mock".into(),
            identity: "controller-test".into(),
        },
        Duration::from_secs(300),
    ))
}

async fn reconcile(
    feed: &FeedSource,
    worker: Option<CuratorWorker>,
) -> (Result<Action, String>, Vec<Seen>) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let (seen, task) = serve(handle, feed.clone(), worker);
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        feedsource::reconcile(Arc::new(feed.clone()), context(client)),
    )
    .await
    .expect("reconcile finishes")
    .map_err(|e| e.to_string());
    task.abort();
    let seen = seen.lock().expect("lock").clone();
    (result, seen)
}

fn with_finalizer(mut f: FeedSource) -> FeedSource {
    f.metadata.finalizers = Some(vec![feedsource::FINALIZER.to_owned()]);
    f
}

#[tokio::test]
async fn the_finalizer_is_added_before_any_temporal_call() {
    let feed = fixtures::feed("news", "first");
    let (result, seen) = reconcile(&feed, Some(fixtures::worker("news", "127.0.0.1:1"))).await;
    assert_eq!(result, Ok(Action::await_change()));
    // Only the finalizer patch: no worker lookup, no status, and Temporal (at a closed port)
    // was never called, or the reconcile would have failed.
    assert_eq!(seen.len(), 1, "{seen:?}");
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
    let feed = with_finalizer(fixtures::feed("news", "orphan-feed"));
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
async fn create_writes_status_once_then_nothing() {
    let server = common::shared();
    let feed = with_finalizer(fixtures::feed("news", "quiet"));
    let worker = fixtures::worker("news", &server.address);
    // 1. A new resource: one CreateSchedule; the status says where the schedule is.
    let (result, seen) = reconcile(&feed, Some(worker.clone())).await;
    assert_eq!(
        result,
        Ok(Action::requeue(Duration::from_secs(2))),
        "comes back in a moment to read the server's form from a listing"
    );
    let patches: Vec<_> = seen
        .iter()
        .filter(|s| s.path.ends_with("/status"))
        .collect();
    assert_eq!(patches.len(), 1, "{seen:?}");
    let status = &patches[0].body["status"];
    assert_eq!(status["scheduleId"], "mock/news/quiet");
    assert_eq!(status["temporalAddress"], server.address);
    assert_eq!(status["temporalNamespace"], "default");
    assert_eq!(status["taskQueue"], "buun-curator");
    assert_eq!(status["summary"], "every 1h");
    assert_eq!(status["paused"], false);
    assert_eq!(status["conditions"][0]["reason"], "Synced");
    assert_eq!(status["conditions"][1]["type"], "TemporalReachable");
    let created = seen
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

    // 2. The follow-up records the server's form and the next runs.
    let mut stored = feed.clone();
    stored.status =
        Some(serde_json::from_value::<FeedSourceStatus>(status.clone()).expect("status"));
    let (result, seen) = reconcile(&stored, Some(worker.clone())).await;
    assert_eq!(result, Ok(Action::requeue(Duration::from_secs(300))));
    let status = seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status")
        .body["status"]
        .clone();
    assert_eq!(status["nextRuns"].as_array().map(Vec::len), Some(3));
    assert!(
        status["observedSpecFingerprint"].is_string() && status["observedFingerprint"].is_string()
    );

    // 3. The API server now holds that status: the next reconcile changes nothing anywhere.
    stored.status = Some(serde_json::from_value::<FeedSourceStatus>(status).expect("status"));
    let (result, seen) = reconcile(&stored, Some(worker)).await;
    assert_eq!(result, Ok(Action::requeue(Duration::from_secs(300))));
    assert_eq!(seen.len(), 1, "only the worker lookup: {seen:?}");
    assert!(seen[0].path.ends_with("/curatorworkers/curator"));
}

#[tokio::test]
async fn deletion_removes_the_schedule_then_the_finalizer() {
    let server = common::shared();
    let worker = fixtures::worker("news", &server.address);
    let feed = with_finalizer(fixtures::feed("news", "bye"));
    let (_, seen) = reconcile(&feed, Some(worker.clone())).await;
    let status = seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status")
        .body["status"]
        .clone();
    let mut deleting = feed.clone();
    deleting.status = Some(serde_json::from_value(status).expect("status"));
    deleting.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
    );
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
    let mut feed = with_finalizer(fixtures::feed("news", "never"));
    feed.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::now(),
    ));
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
    let worker = fixtures::worker("news", &server.address);
    let mut feed = with_finalizer(fixtures::feed("news", "runnow"));
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
    for _ in 0..30 {
        count = api
            .describe("mock/news/runnow")
            .await
            .expect("d")
            .expect("exists")
            .info
            .action_count;
        if count > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, 1);
}
