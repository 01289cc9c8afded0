//! The CuratorWorker controller against the fake Kubernetes API: the applied Deployment body in
//! each replica mode, no re-apply when nothing changed, and status.

mod common;

use std::{sync::Arc, time::Duration};

use curator_operator::{
    controller::curatorworker::{self, WorkerContext},
    crd::CuratorWorker,
    testing::kube::{FakeKube, Seen, deployment_path, pdb_path},
};
use http::Method;
use kube::runtime::reflector;
use serde_json::{Value, json};

/// Reconciles `w` once against `api` (which keeps what earlier reconciles wrote) and returns
/// the requests this reconcile made.
async fn reconcile(api: &Arc<FakeKube>, w: &CuratorWorker) -> Vec<Seen> {
    api.put_object(w);
    let before = api.seen_count();
    let ctx = Arc::new(WorkerContext::test(api.client(), reflector::store().0));
    tokio::time::timeout(
        Duration::from_secs(30),
        curatorworker::reconcile(Arc::new(w.clone()), ctx),
    )
    .await
    .expect("reconcile finishes")
    .expect("reconcile succeeds");
    api.seen_since(before)
}

fn worker(spec: Value) -> CuratorWorker {
    CuratorWorker::test("news", &common::shared().address)
        .with_spec(spec)
        .with_finalizer()
}

fn applied<'a>(seen: &'a [Seen], path: &str) -> Option<&'a Seen> {
    seen.iter()
        .find(|s| s.method == Method::PATCH && s.path == path)
}

#[tokio::test]
async fn fixed_replicas_are_applied_with_the_field_manager() {
    let api = Arc::new(FakeKube::default());
    let seen = reconcile(&api, &worker(json!({"replicas": 2}))).await;
    let dep = applied(&seen, &deployment_path("news", "curator")).expect("Deployment applied");
    assert!(
        dep.query.contains("fieldManager=curator-operator") && dep.query.contains("force=true"),
        "{}",
        dep.query
    );
    assert_eq!(dep.body["spec"]["replicas"], 2);
    assert_eq!(
        dep.body["metadata"]["ownerReferences"][0]["kind"],
        "CuratorWorker"
    );
    assert!(
        applied(&seen, &pdb_path("news", "curator")).is_some(),
        "two replicas get a PDB"
    );
    let status = &seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status")
        .body["status"];
    assert_eq!(status["desiredReplicas"], 2);
    assert_eq!(status["readyReplicas"], 2);
    assert_eq!(status["feeds"], 0);
    let cond = |t: &str| {
        status["conditions"]
            .as_array()
            .expect("conds")
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .expect(t)
    };
    assert_eq!(cond("Ready")["reason"], "Available");
    assert_eq!(cond("Scaling")["reason"], "Fixed");
    assert_eq!(cond("TemporalReachable")["status"], "True");
}

#[tokio::test]
async fn an_external_autoscaler_keeps_the_replicas_field() {
    let api = Arc::new(FakeKube::default());
    let seen = reconcile(&api, &worker(json!({}))).await;
    let dep = applied(&seen, &deployment_path("news", "curator")).expect("Deployment applied");
    assert!(
        dep.body["spec"].get("replicas").is_none(),
        "must not claim replicas: {}",
        dep.body["spec"]
    );
    let status = &seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status")
        .body["status"];
    let scaling = status["conditions"]
        .as_array()
        .expect("c")
        .iter()
        .find(|c| c["type"] == "Scaling")
        .cloned()
        .expect("scaling");
    assert_eq!(scaling["reason"], "ExternalAutoscaler");
}

#[tokio::test]
async fn an_unchanged_worker_writes_nothing() {
    let api = Arc::new(FakeKube::default());
    let mut w = worker(json!({"replicas": 1}));
    let first = reconcile(&api, &w).await;
    let status = first
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status")
        .body["status"]
        .clone();
    w.status = Some(serde_json::from_value(status).expect("status"));
    let second = reconcile(&api, &w).await;
    let writes: Vec<_> = second.iter().filter(|s| s.method != Method::GET).collect();
    assert!(
        writes.is_empty(),
        "no write on an unchanged worker: {writes:?}"
    );
    // A manual edit of the Deployment is put back.
    api.edit(&deployment_path("news", "curator"), |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil:1");
    });
    let third = reconcile(&api, &w).await;
    assert!(
        applied(&third, &deployment_path("news", "curator")).is_some(),
        "drift reverted"
    );
}

#[tokio::test]
async fn autoscaling_holds_min_replicas_on_an_idle_queue() {
    let api = Arc::new(FakeKube::default());
    let seen = reconcile(
        &api,
        &worker(json!({"autoscaling": {"minReplicas": 1, "maxReplicas": 4}})),
    )
    .await;
    let dep = applied(&seen, &deployment_path("news", "curator")).expect("Deployment applied");
    assert_eq!(dep.body["spec"]["replicas"], 1);
    let status = &seen
        .iter()
        .find(|s| s.path.ends_with("/status"))
        .expect("status")
        .body["status"];
    assert_eq!(status["backlog"], 0);
    let scaling = status["conditions"]
        .as_array()
        .expect("c")
        .iter()
        .find(|c| c["type"] == "Scaling")
        .cloned()
        .expect("scaling");
    assert_eq!(scaling["reason"], "MinReplicas");
}

#[tokio::test]
async fn a_changed_count_emits_a_scaled_event() {
    let api = Arc::new(FakeKube::default());
    reconcile(&api, &worker(json!({"replicas": 1}))).await;
    let seen = reconcile(&api, &worker(json!({"replicas": 3}))).await;
    let ev = seen
        .iter()
        .find(|s| s.path.contains("/events"))
        .expect("event");
    assert_eq!(ev.body["reason"], "ScaledUp");
    assert!(
        ev.body["note"]
            .as_str()
            .expect("note")
            .contains("from 1 to 3"),
        "{}",
        ev.body["note"]
    );
}
