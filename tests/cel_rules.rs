//! The CRDs' CEL rules, evaluated without a cluster (kube's `cel` feature): every cross-field
//! rule rejects what it should and accepts the examples.

use curator_operator::{
    crd::{CuratorWorker, FeedSource},
    fixtures,
};
use serde_json::{Value, json};

fn feed_with(patch: Value) -> FeedSource {
    let mut v = serde_json::to_value(fixtures::feed("news", "hn")).expect("to json");
    merge(&mut v, patch);
    serde_json::from_value(v).expect("still deserializes")
}

fn worker_with(patch: Value) -> CuratorWorker {
    let mut v = serde_json::to_value(fixtures::worker("news", "t:7233")).expect("to json");
    merge(&mut v, patch);
    serde_json::from_value(v).expect("still deserializes")
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(&k);
                } else {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (a, b) => *a = b,
    }
}

fn rejected_feed(patch: Value) -> String {
    let fs = feed_with(patch.clone());
    match fs.validate_cel() {
        Ok(()) => panic!("accepted: {patch}"),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn fixtures_and_examples_are_valid() {
    fixtures::feed("news", "hn")
        .validate_cel()
        .expect("feed fixture");
    fixtures::worker("news", "t:7233")
        .validate_cel()
        .expect("worker fixture");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let docs = curator_operator::sync_cli::read_documents(&[dir], "default");
    assert!(docs.errors.is_empty(), "{:?}", docs.errors);
    assert_eq!(docs.feeds.len(), 3);
    assert_eq!(docs.workers.len(), 1);
}

#[test]
fn a_schedule_needs_every_cron_or_calendars() {
    let e = rejected_feed(json!({"spec": {"schedule": {"every": null}}}));
    assert!(
        e.contains("at least one of every, cron or calendars"),
        "{e}"
    );
    feed_with(json!({"spec": {"schedule": {"every": null, "cron": ["0 * * * *"]}}}))
        .validate_cel()
        .expect("cron alone is enough");
    feed_with(json!({"spec": {"schedule": {"every": null, "calendars": [{"hour": "9"}]}}}))
        .validate_cel()
        .expect("a calendar alone is enough");
}

#[test]
fn offset_needs_every() {
    let e = rejected_feed(
        json!({"spec": {"schedule": {"every": null, "cron": ["0 * * * *"], "offset": "5m"}}}),
    );
    assert!(e.contains("offset is only meaningful with every"), "{e}");
}

#[test]
fn zero_every_is_rejected() {
    for zero in ["0s", "0m", "0h0m"] {
        let e = rejected_feed(json!({"spec": {"schedule": {"every": zero}}}));
        assert!(e.contains("greater than zero"), "{zero}: {e}");
    }
}

#[test]
fn start_must_precede_end() {
    let e = rejected_feed(json!({"spec": {"schedule": {
        "startAt": "2027-01-02T00:00:00Z", "endAt": "2027-01-01T00:00:00Z"}}}));
    assert!(e.contains("startAt must be before endAt"), "{e}");
    feed_with(json!({"spec": {"schedule": {
        "startAt": "2027-01-01T00:00:00Z", "endAt": "2027-01-02T00:00:00Z"}}}))
    .validate_cel()
    .expect("ordered window");
}

#[test]
fn extra_input_cannot_shadow_typed_fields_or_fix_conditional_get() {
    let e = rejected_feed(
        json!({"spec": {"feed": {"extraInput": [{"name": "feedUrl", "value": "x"}]}}}),
    );
    assert!(e.contains("must not repeat a typed feed field"), "{e}");
    let e =
        rejected_feed(json!({"spec": {"feed": {"extraInput": [{"name": "etag", "value": "x"}]}}}));
    assert!(e.contains("etag"), "{e}");
    feed_with(json!({"spec": {"feed": {"extraInput": [{"name": "newField", "value": {"nested": [1, 2]}}]}}}))
        .validate_cel()
        .expect("unknown keys pass through");
}

#[test]
fn feed_url_must_be_http() {
    let e = rejected_feed(json!({"spec": {"feed": {"url": "ftp://example.com/x"}}}));
    assert!(e.contains("http"), "{e}");
}

#[test]
fn worker_replicas_and_autoscaling_are_exclusive() {
    let w = worker_with(json!({"spec": {"replicas": 2, "autoscaling": {"maxReplicas": 3}}}));
    let e = format!("{:?}", w.validate_cel().expect_err("both set"));
    assert!(e.contains("either replicas"), "{e}");
    worker_with(json!({"spec": {"replicas": 2}}))
        .validate_cel()
        .expect("fixed");
    worker_with(json!({"spec": {"autoscaling": {"maxReplicas": 3}}}))
        .validate_cel()
        .expect("autoscaled");
}

#[test]
fn min_replicas_may_not_exceed_max() {
    let w = worker_with(json!({"spec": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}}));
    let e = format!("{:?}", w.validate_cel().expect_err("min > max"));
    assert!(e.contains("minReplicas must not exceed maxReplicas"), "{e}");
}

#[test]
fn disruption_budget_takes_exactly_one_field() {
    for pdb in [json!({}), json!({"minAvailable": 1, "maxUnavailable": 1})] {
        let w = worker_with(json!({"spec": {"disruptionBudget": pdb}}));
        assert!(w.validate_cel().is_err(), "{pdb}");
    }
    worker_with(json!({"spec": {"disruptionBudget": {"maxUnavailable": 1}}}))
        .validate_cel()
        .expect("one field");
}

#[test]
fn temporal_address_is_host_and_port() {
    for bad in ["http://t:7233", "t", "t:port", "a b:1"] {
        let w = worker_with(json!({"spec": {"temporal": {"address": bad}}}));
        assert!(w.validate_cel().is_err(), "{bad}");
    }
    for good in [
        "temporal-frontend.temporal:7233",
        "127.0.0.1:7233",
        "[::1]:7233",
    ] {
        worker_with(json!({"spec": {"temporal": {"address": good}}}))
            .validate_cel()
            .unwrap_or_else(|e| panic!("{good}: {e:?}"));
    }
}
