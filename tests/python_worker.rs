//! A fired schedule starts a workflow whose input buun-curator's Pydantic model accepts: a
//! Python worker (Temporal Python SDK) validates it with `SingleFeedIngestionInput`.

mod common;

use std::process::Command;

use curator_operator::{
    crd::{FeedSource, GoDuration, curatorworker::TemporalConnection, feedsource::InputField},
    schedule::{
        BuildOptions,
        desired::build,
        sync::{self, Recorded},
    },
};
use serde_json::{Value, json};

#[tokio::test]
async fn pydantic_accepts_the_scheduled_input() {
    let server = common::TemporalServer::start();
    let mut fs = FeedSource::test("news", "pydantic");
    let f = &mut fs.spec.feed;
    f.fetch_limit = Some(30);
    f.auto_distill = Some(false);
    f.enable_content_fetch = Some(false);
    f.target_language = Some("ja".into());
    f.enable_thumbnail = Some(true);
    f.domain_fetch_delay = Some(GoDuration::new("1500ms"));
    f.max_entry_age_days = Some(7);
    f.distillation_batch_size = Some(3);
    f.extra_input = vec![InputField {
        name: "futureField".into(),
        value: json!({"x": 1}),
    }];
    let mut temporal = TemporalConnection::test(&server.address);
    temporal.task_queue = "pydantic-check".into();
    let d = build(
        "news",
        "pydantic",
        "uid-p",
        &fs.spec,
        &temporal,
        &BuildOptions::new("py", "test"),
    )
    .expect("valid");
    let api = common::schedules(&server.address).await;
    let synced = sync::sync(
        &api,
        &d,
        &Recorded {
            run_now: Some("1".into()),
            ..Default::default()
        },
    )
    .await
    .expect("create and trigger");
    assert!(synced.triggered);

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/ingestion_worker.py"
    );
    let out = Command::new("python3")
        .args([script, &server.address, "pydantic-check", "60"])
        .output()
        .expect("python3 with temporalio and pydantic (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "worker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("worker prints JSON");
    let v = &result["validated"];
    assert_eq!(v["feed_id"], "feed-pydantic");
    assert_eq!(v["feed_name"], "Feed pydantic");
    assert_eq!(v["feed_url"], "https://example.com/pydantic.xml");
    assert_eq!(v["fetch_limit"], 30);
    // extractionRules are the feed's in buun-curator: never in the input, the model's default.
    assert_eq!(v["extraction_rules"], Value::Null);
    assert_eq!(v["auto_distill"], false);
    assert_eq!(v["enable_content_fetch"], false);
    assert_eq!(v["target_language"], "ja");
    assert_eq!(v["enable_thumbnail"], true);
    assert_eq!(v["domain_fetch_delay"], 1.5);
    assert_eq!(v["max_entry_age_days"], 7);
    assert_eq!(v["distillation_batch_size"], 3);
    // Left out of the schedule, so the worker's defaults apply.
    assert_eq!(v["etag"], "");
    assert_eq!(v["last_modified"], "");
    assert_eq!(v["parent_workflow_id"], "");
    // The raw input is exactly camelCase and carries the extra field for newer workers.
    let raw = result["raw"].as_object().expect("raw object");
    assert!(raw.keys().all(|k| !k.contains('_')), "{raw:?}");
    assert_eq!(raw["futureField"], json!({"x": 1}));
    assert!(!raw.contains_key("etag"));
}
