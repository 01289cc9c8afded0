//! The CuratorWorker controller against an in-memory mocked Kubernetes API (tower-test): the
//! applied Deployment body in each replica mode, no re-apply when nothing changed, and status.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use curator_operator::{
    controller::{Context, curatorworker},
    crd::CuratorWorker,
    fixtures,
    resources::schedule::BuildOptions,
    temporal::pool::Pool,
};
use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body, runtime::reflector};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    body: Value,
}

#[derive(Default)]
struct Api {
    objects: Mutex<HashMap<String, Value>>,
    seen: Mutex<Vec<Seen>>,
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

impl Api {
    fn handle(&self, method: Method, path: &str, query: &str, body: Value) -> (StatusCode, Value) {
        self.seen.lock().expect("lock").push(Seen {
            method: method.clone(),
            path: path.to_owned(),
            query: query.to_owned(),
            body: body.clone(),
        });
        let mut objects = self.objects.lock().expect("lock");
        match method {
            Method::GET => match objects.get(path) {
                Some(o) => (StatusCode::OK, o.clone()),
                None => (StatusCode::NOT_FOUND, not_found()),
            },
            Method::PATCH if path.ends_with("/status") => {
                let mut obj = objects
                    .get(path.trim_end_matches("/status"))
                    .cloned()
                    .unwrap_or(Value::Null);
                obj["status"] = body["status"].clone();
                (StatusCode::OK, obj)
            }
            Method::PATCH => {
                let mut stored = body.clone();
                if path.contains("/deployments/") {
                    // What a Deployment controller would report once rolled out.
                    let replicas = body["spec"]["replicas"].as_i64().unwrap_or(1);
                    stored["metadata"]["generation"] = json!(1);
                    stored["status"] = json!({"observedGeneration": 1, "replicas": replicas,
                        "readyReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas});
                }
                objects.insert(path.to_owned(), stored.clone());
                (StatusCode::OK, stored)
            }
            Method::POST => (StatusCode::CREATED, body),
            Method::DELETE => {
                objects.remove(path);
                (
                    StatusCode::OK,
                    json!({"kind": "Status", "status": "Success"}),
                )
            }
            _ => (StatusCode::NOT_FOUND, not_found()),
        }
    }
}

async fn reconcile(api: &Arc<Api>, w: &CuratorWorker) -> Vec<Seen> {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let server = api.clone();
    api.objects.lock().expect("lock").insert(
        "/apis/curator.buun.dev/v1alpha1/namespaces/news/curatorworkers/curator".into(),
        serde_json::to_value(w).expect("json"),
    );
    let before = api.seen.lock().expect("lock").len();
    let task = tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or_default().to_owned();
            let bytes = req.into_body().collect_bytes().await.expect("body");
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let (status, reply) = server.handle(method, &path, &query, body);
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&reply).expect("json")))
                    .expect("response"),
            );
        }
    });
    let ctx = Arc::new(curatorworker::WorkerContext {
        base: Arc::new(Context::new(
            client,
            Pool::new("worker-test", Duration::from_secs(5)),
            BuildOptions {
                id_prefix: "w".into(),
                identity: "worker-test".into(),
            },
            Duration::from_secs(300),
        )),
        feeds: reflector::store().0,
        lower_since: Default::default(),
    });
    tokio::time::timeout(
        Duration::from_secs(30),
        curatorworker::reconcile(Arc::new(w.clone()), ctx),
    )
    .await
    .expect("reconcile finishes")
    .expect("reconcile succeeds");
    task.abort();
    api.seen.lock().expect("lock")[before..].to_vec()
}

fn worker(spec: Value) -> CuratorWorker {
    let mut v =
        serde_json::to_value(fixtures::worker("news", &common::shared().address)).expect("json");
    for (k, val) in spec.as_object().expect("object") {
        v["spec"][k] = val.clone();
    }
    serde_json::from_value(v).expect("worker")
}

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/news/deployments/curator";
const PDB: &str = "/apis/policy/v1/namespaces/news/poddisruptionbudgets/curator";

fn applied<'a>(seen: &'a [Seen], path: &str) -> Option<&'a Seen> {
    seen.iter()
        .find(|s| s.method == Method::PATCH && s.path == path)
}

#[tokio::test]
async fn fixed_replicas_are_applied_with_the_field_manager() {
    let api = Arc::new(Api::default());
    let seen = reconcile(&api, &worker(json!({"replicas": 2}))).await;
    let dep = applied(&seen, DEPLOYMENT).expect("Deployment applied");
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
    assert!(applied(&seen, PDB).is_some(), "two replicas get a PDB");
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
    let api = Arc::new(Api::default());
    let seen = reconcile(&api, &worker(json!({}))).await;
    let dep = applied(&seen, DEPLOYMENT).expect("Deployment applied");
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
    let api = Arc::new(Api::default());
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
    api.objects
        .lock()
        .expect("lock")
        .get_mut(DEPLOYMENT)
        .expect("dep")["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil:1");
    let third = reconcile(&api, &w).await;
    assert!(applied(&third, DEPLOYMENT).is_some(), "drift reverted");
}

#[tokio::test]
async fn autoscaling_holds_min_replicas_on_an_idle_queue() {
    let api = Arc::new(Api::default());
    let seen = reconcile(
        &api,
        &worker(json!({"autoscaling": {"minReplicas": 1, "maxReplicas": 4}})),
    )
    .await;
    let dep = applied(&seen, DEPLOYMENT).expect("Deployment applied");
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
    let api = Arc::new(Api::default());
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
