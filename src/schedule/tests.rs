//! Unit tests of the schedule builder and the workflow input.

use serde_json::json;

use super::{
    desired::{BuildOptions, SUSPEND_NOTE, build, schedule_id, summary},
    fingerprint,
    input::{MAX_PAYLOAD_BYTES, encode_input, workflow_input},
};
use crate::{
    crd::{
        FeedSource, GoDuration, SpecError,
        curatorworker::TemporalConnection,
        feedsource::{CalendarSpec, InputField, OverlapPolicy, RetryPolicySpec},
    },
    temporal::proto::{Action, ScheduleOverlapPolicy, TaskQueueKind},
};

fn opts() -> BuildOptions {
    BuildOptions::new("curator", "curator-operator")
}

fn input_of(fs: &crate::crd::FeedSource) -> serde_json::Value {
    serde_json::Value::Object(workflow_input(&fs.spec.feed, "feed-hn").expect("valid input"))
}

#[test]
fn minimal_input_has_only_the_required_fields() {
    let fs = FeedSource::test("news", "hn");
    assert_eq!(
        input_of(&fs),
        json!({"feedId": "feed-hn", "feedName": "Feed hn", "feedUrl": "https://example.com/hn.xml"})
    );
}

#[test]
fn every_typed_field_maps_to_its_camel_case_key() {
    let mut fs = FeedSource::test("news", "hn");
    let f = &mut fs.spec.feed;
    f.fetch_limit = Some(30);
    f.auto_distill = Some(false);
    f.enable_content_fetch = Some(false);
    f.target_language = Some("ja".into());
    f.enable_thumbnail = Some(true);
    f.domain_fetch_delay = Some(GoDuration::new("1500ms"));
    f.max_entry_age_days = Some(7);
    f.distillation_batch_size = Some(10);
    f.extra_input = vec![InputField {
        name: "summaryStyle".into(),
        value: json!("short"),
    }];
    assert_eq!(
        input_of(&fs),
        json!({
            "feedId": "feed-hn", "feedName": "Feed hn", "feedUrl": "https://example.com/hn.xml",
            "fetchLimit": 30, "autoDistill": false,
            "enableContentFetch": false, "targetLanguage": "ja", "enableThumbnail": true,
            "domainFetchDelay": 1.5, "maxEntryAgeDays": 7, "distillationBatchSize": 10,
            "summaryStyle": "short"
        })
    );
}

#[test]
fn extra_input_may_not_repeat_typed_or_forbidden_fields() {
    for key in ["feedUrl", "fetchLimit", "etag", "lastModified"] {
        let mut fs = FeedSource::test("news", "hn");
        fs.spec.feed.extra_input = vec![InputField {
            name: key.into(),
            value: json!("x"),
        }];
        assert!(
            matches!(workflow_input(&fs.spec.feed, "feed-hn"), Err(SpecError::ExtraInputKey(k, _)) if k == key),
            "{key}"
        );
    }
}

#[test]
fn feed_url_must_be_absolute_http() {
    for url in [
        "not a url",
        "ftp://example.com/feed",
        "/relative/feed.xml",
        "https://",
    ] {
        let mut fs = FeedSource::test("news", "hn");
        fs.spec.feed.url = url.into();
        assert!(
            matches!(
                workflow_input(&fs.spec.feed, "feed-hn"),
                Err(SpecError::InvalidUrl(_))
            ),
            "{url}"
        );
    }
}

#[test]
fn input_over_two_mebibytes_is_rejected() {
    let mut fs = FeedSource::test("news", "hn");
    fs.spec.feed.extra_input = vec![InputField {
        name: "blob".into(),
        value: json!("x".repeat(MAX_PAYLOAD_BYTES)),
    }];
    let input = workflow_input(&fs.spec.feed, "feed-hn").expect("input builds");
    assert!(matches!(
        encode_input(&input),
        Err(SpecError::InputTooLarge {
            limit: MAX_PAYLOAD_BYTES,
            ..
        })
    ));
}

#[test]
fn schedule_ids_are_readable_and_injective() {
    assert_eq!(schedule_id("curator", "news", "hn"), "curator/news/hn");
    assert_eq!(schedule_id("", "news", "hn"), "news/hn");
    // Names with dashes and dots cannot collide across the namespace boundary.
    assert_ne!(schedule_id("p", "a-b", "c"), schedule_id("p", "a", "b-c"));
    assert_ne!(schedule_id("p", "a", "b.c"), schedule_id("p", "a.b", "c"));
}

#[test]
fn builds_the_full_schedule_request() {
    let mut fs = FeedSource::test("news", "hn");
    let s = &mut fs.spec.schedule;
    s.every = Some(GoDuration::new("30m"));
    s.offset = Some(GoDuration::new("5m"));
    s.cron = vec!["0 9 * * MON-FRI".into()];
    s.calendars = vec![CalendarSpec {
        hour: Some("8,20".into()),
        ..Default::default()
    }];
    s.timezone = Some("Europe/Berlin".into());
    s.jitter = Some(GoDuration::new("30s"));
    s.overlap_policy = OverlapPolicy::BufferOne;
    s.catchup_window = GoDuration::new("10m");
    s.pause_on_failure = true;
    fs.spec.workflow.id_prefix = Some("ingest-hn".into());
    fs.spec.workflow.execution_timeout = Some(GoDuration::new("1h"));
    fs.spec.workflow.retry_policy = Some(Box::new(RetryPolicySpec {
        maximum_attempts: Some(3),
        initial_interval: Some(GoDuration::new("10s")),
        ..Default::default()
    }));
    let d = build(
        "news",
        "hn",
        "u1",
        &fs.spec,
        &TemporalConnection::test("t:7233"),
        &opts(),
    )
    .expect("builds");
    assert_eq!(d.id, "curator/news/hn");
    assert_eq!(d.namespace, "default");
    assert_eq!(d.task_queue, "buun-curator");
    let spec = d.schedule.spec.as_ref().expect("spec");
    assert_eq!(
        spec.interval[0].interval.as_ref().map(|d| d.seconds),
        Some(1800)
    );
    assert_eq!(
        spec.interval[0].phase.as_ref().map(|d| d.seconds),
        Some(300)
    );
    assert_eq!(spec.cron_string, vec!["0 9 * * MON-FRI"]);
    assert_eq!(spec.calendar[0].hour, "8,20");
    assert_eq!(
        spec.calendar[0].minute, "",
        "unset calendar fields take Temporal's defaults"
    );
    assert_eq!(spec.timezone_name, "Europe/Berlin");
    assert_eq!(spec.jitter.as_ref().map(|d| d.seconds), Some(30));
    let pol = d.schedule.policies.as_ref().expect("policies");
    assert_eq!(pol.overlap_policy, ScheduleOverlapPolicy::BufferOne as i32);
    assert_eq!(pol.catchup_window.as_ref().map(|d| d.seconds), Some(600));
    assert!(pol.pause_on_failure);
    let Some(Action::StartWorkflow(wf)) =
        d.schedule.action.as_ref().and_then(|a| a.action.as_ref())
    else {
        panic!("start workflow action")
    };
    assert_eq!(
        wf.workflow_id, "ingest-hn/news/hn",
        "made unique by the FeedSource's namespace and name"
    );
    assert_eq!(
        wf.workflow_type.as_ref().map(|t| t.name.as_str()),
        Some("SingleFeedIngestionWorkflow")
    );
    let tq = wf.task_queue.as_ref().expect("task queue");
    assert_eq!(
        (tq.name.as_str(), tq.kind),
        ("buun-curator", TaskQueueKind::Normal as i32)
    );
    assert_eq!(
        wf.workflow_execution_timeout.as_ref().map(|d| d.seconds),
        Some(3600)
    );
    assert!(wf.workflow_run_timeout.is_none());
    let rp = wf.retry_policy.as_ref().expect("retry policy");
    assert_eq!(rp.maximum_attempts, 3);
    let payload = &wf.input.as_ref().expect("input").payloads[0];
    assert_eq!(payload.metadata["encoding"], b"json/plain");
    let v: serde_json::Value = serde_json::from_slice(&payload.data).expect("json");
    assert_eq!(v["feedId"], "feed-hn");
    let state = d.schedule.state.as_ref().expect("state");
    assert!(!state.paused);
    assert_eq!(d.owner.uid, "u1");
    assert_eq!(d.fingerprint, fingerprint::of(&d.schedule));
}

#[test]
fn catchup_window_is_always_sent_with_its_default() {
    let fs = FeedSource::test("news", "hn");
    let d = build(
        "news",
        "hn",
        "u",
        &fs.spec,
        &TemporalConnection::test("t:1"),
        &opts(),
    )
    .expect("builds");
    let cw = d
        .schedule
        .policies
        .and_then(|p| p.catchup_window)
        .expect("catchup window");
    assert_eq!(cw.seconds, 300);
    // The workflow ID prefix defaults to the schedule ID.
    let Some(Action::StartWorkflow(wf)) = d.schedule.action.and_then(|a| a.action) else {
        panic!("action")
    };
    assert_eq!(wf.workflow_id, "curator/news/hn");
}

#[test]
fn suspend_pauses_with_the_operator_note() {
    let mut fs = FeedSource::test("news", "hn");
    fs.spec.suspend = true;
    let d = build(
        "news",
        "hn",
        "u",
        &fs.spec,
        &TemporalConnection::test("t:1"),
        &opts(),
    )
    .expect("builds");
    assert!(d.suspended());
    assert_eq!(
        d.schedule.state.as_ref().map(|s| s.notes.as_str()),
        Some(SUSPEND_NOTE)
    );
    // Suspending does not change the fingerprint: pausing is a patch, not an update.
    let unsuspended = build(
        "news",
        "hn",
        "u",
        &FeedSource::test("news", "hn").spec,
        &TemporalConnection::test("t:1"),
        &opts(),
    )
    .expect("builds");
    assert_eq!(d.fingerprint, unsuspended.fingerprint);
}

#[test]
fn invalid_schedules_are_spec_errors() {
    let t = TemporalConnection::test("t:1");
    type Mutator = Box<dyn Fn(&mut crate::crd::FeedSource)>;
    let cases: Vec<(&str, Mutator)> = vec![
        (
            "offset >= every",
            Box::new(|f| f.spec.schedule.offset = Some(GoDuration::new("1h"))),
        ),
        (
            "zero every",
            Box::new(|f| f.spec.schedule.every = Some(GoDuration::new("0s"))),
        ),
        (
            "bad duration",
            Box::new(|f| f.spec.schedule.jitter = Some(GoDuration::new("5 minutes"))),
        ),
        ("no spec", Box::new(|f| f.spec.schedule.every = None)),
        (
            "zero catchup",
            Box::new(|f| f.spec.schedule.catchup_window = GoDuration::new("0s")),
        ),
        (
            "zero timeout",
            Box::new(|f| f.spec.workflow.run_timeout = Some(GoDuration::new("0m"))),
        ),
        (
            "empty workflow type",
            Box::new(|f| f.spec.workflow.type_ = " ".into()),
        ),
        (
            "start after end",
            Box::new(|f| {
                let t0 = jiff::Timestamp::from_second(2_000_000_000).expect("ts");
                let t1 = jiff::Timestamp::from_second(1_000_000_000).expect("ts");
                f.spec.schedule.start_at =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t0));
                f.spec.schedule.end_at =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t1));
            }),
        ),
    ];
    for (what, change) in cases {
        let mut fs = FeedSource::test("news", "hn");
        change(&mut fs);
        assert!(
            build("news", "hn", "u", &fs.spec, &t, &opts()).is_err(),
            "{what} must be rejected"
        );
    }
}

#[test]
fn fingerprint_follows_the_spec() {
    let t = TemporalConnection::test("t:1");
    let a = build(
        "news",
        "hn",
        "u",
        &FeedSource::test("news", "hn").spec,
        &t,
        &opts(),
    )
    .expect("builds");
    let again = build(
        "news",
        "hn",
        "u",
        &FeedSource::test("news", "hn").spec,
        &t,
        &opts(),
    )
    .expect("builds");
    assert_eq!(a.fingerprint, again.fingerprint);
    let mut fs = FeedSource::test("news", "hn");
    fs.spec.feed.fetch_limit = Some(5);
    let b = build("news", "hn", "u", &fs.spec, &t, &opts()).expect("builds");
    assert_ne!(a.fingerprint, b.fingerprint);
    let mut other_queue = t.clone();
    other_queue.task_queue = "other".into();
    let c = build(
        "news",
        "hn",
        "u",
        &FeedSource::test("news", "hn").spec,
        &other_queue,
        &opts(),
    )
    .expect("builds");
    assert_ne!(a.fingerprint, c.fingerprint);
}

#[test]
fn summaries_are_short_and_human() {
    let mut fs = FeedSource::test("news", "hn");
    assert_eq!(summary(&fs.spec.schedule), "every 1h");
    fs.spec.schedule.offset = Some(GoDuration::new("5m"));
    assert_eq!(summary(&fs.spec.schedule), "every 1h offset 5m");
    fs.spec.schedule.every = None;
    fs.spec.schedule.offset = None;
    fs.spec.schedule.cron = vec!["0 9 * * *".into()];
    fs.spec.schedule.timezone = Some("Asia/Tokyo".into());
    assert_eq!(summary(&fs.spec.schedule), "cron 0 9 * * * (Asia/Tokyo)");
    fs.spec.schedule.cron.push("0 18 * * *".into());
    fs.spec.schedule.calendars.push(CalendarSpec::default());
    assert_eq!(
        summary(&fs.spec.schedule),
        "2 cron, 1 calendar (Asia/Tokyo)"
    );
}
