//! Bad input, each kind tested where it is rejected: by the CRD schema or a CEL rule at
//! `kubectl apply` (best; proven on a real API server, see `common::cluster`), by the
//! controller (Ready=False with a clear message, one Warning event, no retry loop, other
//! resources unaffected), or by Temporal (a permanent error).

mod common;

use std::{sync::Arc, time::Duration};

use curator_operator::{
    controller::{
        Shared,
        curatorworker::{self, WorkerContext},
        feedsource::{self, FeedContext},
    },
    crd::{CuratorWorker, FeedSource},
    schedule::BuildOptions,
    temporal::pool::Pool,
    testing::kube::{FakeKube, feed_path, worker_path},
};
use kube::runtime::{controller::Action, reflector};
use serde_json::{Value, json};

fn merge(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(k);
                } else {
                    merge(a.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn feed_json(patch: &Value) -> Value {
    let mut v = serde_json::to_value(FeedSource::test("bad", "f")).expect("json");
    merge(&mut v, patch);
    v
}

fn worker_json(patch: &Value) -> Value {
    let mut v = serde_json::to_value(CuratorWorker::test("bad", "127.0.0.1:1")).expect("json");
    merge(&mut v, patch);
    v
}

/// `obj` with `value` at the dot-separated `path` (`[]`: the first item of a list).
fn set_path(obj: &mut Value, path: &str, value: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if *part == "[]" {
            if !cur.is_array() {
                *cur = json!([null]);
            }
            cur = &mut cur[0];
        } else {
            cur = &mut cur[*part];
        }
        if last {
            *cur = value.clone();
        }
    }
}

/// The real API server's verdict on creating `obj` (dry run), or `None` without a cluster.
async fn verdicts(objects: &[(&str, Value)]) -> Option<Vec<Result<(), String>>> {
    let space = common::namespace::with_namespace("bad-input").await?;
    let mut out = Vec::new();
    for (_, obj) in objects {
        out.push(common::cluster::dry_run_create(&space.client, &space.ns, obj).await);
    }
    space.delete().await;
    Some(out)
}

#[tokio::test]
async fn rejected_at_apply_by_the_schema() {
    let cases = [
        (
            "negative duration",
            "feedsource.yaml",
            "spec.schedule.every",
            json!("-5m"),
        ),
        (
            "duration in words",
            "feedsource.yaml",
            "spec.schedule.jitter",
            json!("5 minutes"),
        ),
        (
            "fractional duration",
            "feedsource.yaml",
            "spec.schedule.catchupWindow",
            json!("1.5h"),
        ),
        (
            "unknown overlap policy",
            "feedsource.yaml",
            "spec.schedule.overlapPolicy",
            json!("Sometimes"),
        ),
        (
            "zero fetch limit",
            "feedsource.yaml",
            "spec.feed.fetchLimit",
            json!(0),
        ),
        (
            "empty cron expression",
            "feedsource.yaml",
            "spec.schedule.cron.[]",
            json!(""),
        ),
        (
            "empty workflow type",
            "feedsource.yaml",
            "spec.workflow.type",
            json!(""),
        ),
        (
            "empty feed id",
            "feedsource.yaml",
            "spec.feed.id",
            json!(""),
        ),
        (
            "unknown deletion policy",
            "feedsource.yaml",
            "spec.deletionPolicy",
            json!("Keep"),
        ),
        (
            "empty worker image",
            "curatorworker.yaml",
            "spec.image",
            json!(""),
        ),
        (
            "negative replicas",
            "curatorworker.yaml",
            "spec.replicas",
            json!(-1),
        ),
        (
            "health port 0",
            "curatorworker.yaml",
            "spec.healthPort",
            json!(0),
        ),
    ];
    let objects: Vec<(&str, Value)> = cases
        .iter()
        .map(|(what, file, path, value)| {
            let mut obj = if *file == "feedsource.yaml" {
                feed_json(&json!({}))
            } else {
                worker_json(&json!({}))
            };
            set_path(&mut obj, path, value.clone());
            (*what, obj)
        })
        .collect();
    let Some(verdicts) = verdicts(&objects).await else {
        return;
    };
    for ((what, _, path, value), verdict) in cases.iter().zip(verdicts) {
        let field = path.replace(".[]", "[0]");
        match verdict {
            Ok(()) => panic!("{what}: {path}={value} was accepted by the API server"),
            Err(e) => assert!(
                e.contains(&field),
                "{what}: rejected for another field: {e}"
            ),
        }
    }
    println!("FIGURES schema-rejected kinds: {}", cases.len());
}

#[tokio::test]
async fn rejected_at_apply_by_cel_rules() {
    let feeds = [
        (
            "zero interval",
            json!({"spec": {"schedule": {"every": "0s"}}}),
            "greater than zero",
        ),
        (
            "startAt after endAt",
            json!({"spec": {"schedule": {"startAt": "2027-02-01T00:00:00Z", "endAt": "2027-01-01T00:00:00Z"}}}),
            "startAt must be before endAt",
        ),
        (
            "no schedule at all",
            json!({"spec": {"schedule": {"every": null}}}),
            "at least one of every, cron or calendars",
        ),
        (
            "offset without every",
            json!({"spec": {"schedule": {"every": null, "cron": ["0 * * * *"], "offset": "5m"}}}),
            "offset is only meaningful",
        ),
        (
            "extraInput repeats a typed field",
            json!({"spec": {"feed": {"extraInput": [{"name": "feedUrl", "value": "x"}]}}}),
            "must not repeat a typed feed field",
        ),
        (
            "extraInput fixes etag",
            json!({"spec": {"feed": {"extraInput": [{"name": "etag", "value": "W/1"}]}}}),
            "etag",
        ),
        (
            "feed url without http(s)",
            json!({"spec": {"feed": {"url": "feeds.example.com/rss"}}}),
            "http",
        ),
    ];

    let workers = [
        (
            "replicas with autoscaling",
            json!({"spec": {"replicas": 2, "autoscaling": {"maxReplicas": 4}}}),
            "either replicas",
        ),
        (
            "minReplicas > maxReplicas",
            json!({"spec": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}),
            "minReplicas must not exceed",
        ),
        (
            "address with a scheme",
            json!({"spec": {"temporal": {"address": "https://t:7233"}}}),
            "host:port",
        ),
        (
            "PDB with both fields",
            json!({"spec": {"disruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}}}),
            "exactly one",
        ),
        (
            "zero poll interval",
            json!({"spec": {"autoscaling": {"maxReplicas": 2, "pollInterval": "0s"}}}),
            "at least 5s",
        ),
    ];
    let objects: Vec<(&str, Value)> = feeds
        .iter()
        .map(|(what, patch, _)| (*what, feed_json(patch)))
        .chain(
            workers
                .iter()
                .map(|(what, patch, _)| (*what, worker_json(patch))),
        )
        .collect();
    let Some(verdicts) = verdicts(&objects).await else {
        return;
    };
    let messages = feeds.iter().chain(workers.iter()).map(|(_, _, m)| *m);
    for (((what, _), msg), verdict) in objects.iter().zip(messages).zip(verdicts) {
        match verdict {
            Ok(()) => panic!("{what}: accepted by the API server"),
            Err(e) => assert!(e.contains(msg), "{what}: {e}"),
        }
    }
    println!(
        "FIGURES cel-rejected kinds: {}",
        feeds.len() + workers.len()
    );
}

fn context(fake: &Arc<FakeKube>) -> Arc<FeedContext> {
    let pool = Pool::new("bad-input", Duration::from_secs(3));
    let shared = Shared::new(fake.client(), pool, Duration::from_secs(300))
        .with_backoff(Duration::from_millis(50), Duration::from_secs(1));
    Arc::new(FeedContext::new(
        Arc::new(shared),
        BuildOptions::new("bad", "bad-input"),
    ))
}

/// Reconciles `name` twice (the first adds the finalizer) and returns the second result.
async fn reconcile_feed(
    fake: &Arc<FakeKube>,
    ctx: &Arc<FeedContext>,
    name: &str,
) -> Result<Action, String> {
    for _ in 0..2 {
        let f: FeedSource =
            serde_json::from_value(fake.get(&feed_path("bad", name)).expect("feed")).expect("feed");
        let r = feedsource::reconcile(Arc::new(f), ctx.clone())
            .await
            .map_err(|e| e.to_string());
        if fake
            .get(&feed_path("bad", name))
            .and_then(|o| o["status"].as_object().cloned())
            .is_some()
        {
            return r;
        }
    }
    Err("no status written".into())
}

fn ready_of(fake: &FakeKube, name: &str) -> (String, String, String) {
    let o = fake.get(&feed_path("bad", name)).expect("feed");
    let c = o["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .expect("ready");
    (
        c["status"].as_str().unwrap_or_default().into(),
        c["reason"].as_str().unwrap_or_default().into(),
        c["message"].as_str().unwrap_or_default().into(),
    )
}

fn warnings(fake: &FakeKube, reason: &str) -> usize {
    fake.seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| {
            s.path.contains("/events") && s.body["type"] == "Warning" && s.body["reason"] == reason
        })
        .count()
}

#[tokio::test]
async fn rejected_by_the_controller_without_a_retry_loop() {
    let server = common::shared();
    let fake = Arc::new(FakeKube::default());
    let mut w = CuratorWorker::test("bad", &server.address);
    w.metadata.uid = Some("uid-w".into());
    fake.put(
        &worker_path("bad", "curator"),
        serde_json::to_value(&w).expect("json"),
    );
    let mut secretive = CuratorWorker::test("bad", &server.address);
    secretive.metadata.name = Some("secretive".into());
    secretive.metadata.uid = Some("uid-s".into());
    secretive.spec.temporal.tls = Some(curator_operator::crd::curatorworker::TemporalTls {
        secret_name: "no-such-secret".into(),
        server_name: None,
    });
    fake.put(
        &worker_path("bad", "secretive"),
        serde_json::to_value(&secretive).expect("json"),
    );
    let mut keyless = CuratorWorker::test("bad", &server.address);
    keyless.metadata.name = Some("keyless".into());
    keyless.metadata.uid = Some("uid-k".into());
    keyless.spec.temporal.api_key_secret_ref =
        Some(curator_operator::crd::curatorworker::SecretKeyRef {
            name: "cloud".into(),
            key: "missing".into(),
        });
    fake.put(
        &worker_path("bad", "keyless"),
        serde_json::to_value(&keyless).expect("json"),
    );
    fake.put("/api/v1/namespaces/bad/secrets/cloud", json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloud"}, "data": {"other": "eA=="}}));

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "missing worker",
            json!({"spec": {"workerRef": {"name": "ghost"}}}),
            "WorkerNotFound",
            "not found",
        ),
        (
            "missing TLS Secret",
            json!({"spec": {"workerRef": {"name": "secretive"}}}),
            "SecretNotFound",
            "no-such-secret",
        ),
        (
            "missing Secret key",
            json!({"spec": {"workerRef": {"name": "keyless"}}}),
            "SecretNotFound",
            "has no key",
        ),
        (
            "URL without a host",
            json!({"spec": {"feed": {"url": "http://"}}}),
            "InvalidSpec",
            "feed.url",
        ),
        (
            "input over 2 MiB",
            json!({"spec": {"feed": {"extraInput": [{"name": "blob", "value": "x".repeat(2 * 1024 * 1024 + 1)}]}}}),
            "InvalidSpec",
            "payload limit",
        ),
        (
            "offset not shorter than every",
            json!({"spec": {"schedule": {"every": "10m", "offset": "10m"}}}),
            "InvalidSpec",
            "offset",
        ),
        (
            "invalid cron",
            json!({"spec": {"schedule": {"every": null, "cron": ["61 25 * * *"]}}}),
            "TemporalRejectedSpec",
            "not in range",
        ),
        (
            "unknown time zone",
            json!({"spec": {"schedule": {"every": null, "cron": ["0 9 * * *"], "timezone": "Mars/Olympus"}}}),
            "TemporalRejectedSpec",
            "",
        ),
    ];
    let ctx = context(&fake);
    for (i, (what, patch, reason, msg)) in cases.iter().enumerate() {
        let name = format!("bad-{i}");
        let mut v = feed_json(patch);
        v["metadata"]["name"] = json!(name);
        v["metadata"]["uid"] = json!(format!("uid-bad-{i}"));
        v["metadata"]["namespace"] = json!("bad");
        fake.put(&feed_path("bad", &name), v);
        let result = reconcile_feed(&fake, &ctx, &name).await;
        let action = result
            .unwrap_or_else(|e| panic!("{what}: a bad spec is not retried with backoff: {e}"));
        // A change, or the resync sweep, brings it back.
        assert_eq!(action, Action::await_change(), "{what}");
        let (status, got_reason, message) = ready_of(&fake, &name);
        assert_eq!(
            (status.as_str(), got_reason.as_str()),
            ("False", *reason),
            "{what}: {message}"
        );
        assert!(
            message.to_lowercase().contains(&msg.to_lowercase()),
            "{what}: message {message:?} should mention {msg:?}"
        );
        // Reconciling it again changes nothing and warns no more.
        let before = warnings(&fake, reason);
        reconcile_feed(&fake, &ctx, &name).await.ok();
        assert_eq!(
            warnings(&fake, reason),
            before,
            "{what}: one Warning, not one per retry"
        );
    }
    assert!(
        cases.iter().all(|(_, _, r, _)| warnings(&fake, r) >= 1),
        "a Warning per kind"
    );
    // The good one next to them is unaffected.
    let mut good = feed_json(&json!({}));
    good["metadata"]["name"] = json!("good");
    good["metadata"]["uid"] = json!("uid-good");
    fake.put(&feed_path("bad", "good"), good);
    reconcile_feed(&fake, &ctx, "good")
        .await
        .expect("good reconciles");
    assert_eq!(ready_of(&fake, "good").0, "True");
    println!("FIGURES controller-rejected kinds: {}", cases.len());
}

#[tokio::test]
async fn a_worker_env_that_shadows_the_operators_is_reported() {
    let server = common::shared();
    let fake = Arc::new(FakeKube::default());
    let mut w = CuratorWorker::test("bad", &server.address).with_finalizer();
    w.metadata.uid = Some("uid-w".into());
    w.spec.env = vec![k8s_openapi::api::core::v1::EnvVar {
        name: "TEMPORAL_TASK_QUEUE".into(),
        value: Some("other".into()),
        value_from: None,
    }];
    fake.put(
        &worker_path("bad", "curator"),
        serde_json::to_value(&w).expect("json"),
    );
    let ctx = Arc::new(WorkerContext::new(
        context(&fake).shared.clone(),
        reflector::store().0,
    ));
    let action = curatorworker::reconcile(Arc::new(w), ctx)
        .await
        .expect("not retried");
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    let st = fake.get(&worker_path("bad", "curator")).expect("worker")["status"].clone();
    let ready = st["conditions"]
        .as_array()
        .expect("c")
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .expect("ready");
    assert_eq!(ready["reason"], "InvalidSpec");
    assert!(
        ready["message"]
            .as_str()
            .expect("msg")
            .contains("TEMPORAL_TASK_QUEUE")
    );
    let stalled = st["conditions"]
        .as_array()
        .expect("c")
        .iter()
        .find(|c| c["type"] == "Stalled")
        .cloned()
        .expect("stalled");
    assert_eq!(stalled["status"], "True");
    assert!(
        fake.seen
            .lock()
            .expect("lock")
            .iter()
            .any(|s| s.body["type"] == "Warning" && s.body["reason"] == "InvalidSpec")
    );
    assert!(
        fake.get("/apis/apps/v1/namespaces/bad/deployments/curator")
            .is_none(),
        "no Deployment from an invalid spec"
    );
}
