//! Deletion never hangs without a reason and a way out: a cleanup that only a change can fix is
//! reported and can be released; a FeedSource moved elsewhere removes its old schedule before
//! its status forgets it; a CuratorWorker stays while FeedSources need its connection.

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
    temporal::{ScheduleApi, pool::Pool},
    testing::kube::{FakeKube, feed_path, worker_path},
};
use kube::runtime::{reflector, watcher};
use serde_json::json;

fn context(kube: &Arc<FakeKube>) -> Arc<FeedContext> {
    let shared = Shared::new(
        kube.client(),
        Pool::new("deletion-test", Duration::from_secs(3)),
        Duration::from_secs(300),
    )
    .with_backoff(Duration::from_millis(50), Duration::from_secs(1));
    Arc::new(FeedContext::new(
        Arc::new(shared),
        BuildOptions::new("del", "deletion-test"),
    ))
}

fn feed(kube: &FakeKube, ns: &str, name: &str) -> Option<FeedSource> {
    kube.get(&feed_path(ns, name))
        .map(|v| serde_json::from_value(v).expect("feed"))
}

async fn reconcile(
    kube: &FakeKube,
    ctx: &Arc<FeedContext>,
    ns: &str,
    name: &str,
) -> Result<(), String> {
    let mut last = Ok(());
    for _ in 0..2 {
        let Some(fs) = feed(kube, ns, name) else {
            return last;
        };
        last = feedsource::reconcile(Arc::new(fs), ctx.clone())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    last
}

fn ready(kube: &FakeKube, ns: &str, name: &str) -> (String, String, String) {
    let c = feed(kube, ns, name)
        .and_then(|f| f.status)
        .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
        .expect("Ready");
    (c.status, c.reason, c.message)
}

fn warnings(kube: &FakeKube, reason: &str) -> usize {
    kube.seen_since(0)
        .iter()
        .filter(|s| s.path.contains("/events") && s.body["reason"] == reason)
        .count()
}

#[tokio::test]
async fn a_cleanup_only_a_change_can_fix_is_reported_and_the_annotation_releases_it() {
    let server = common::shared();
    let kube = Arc::new(FakeKube::default());
    kube.put_object(&CuratorWorker::test("blocked", &server.address));
    kube.put_object(&FeedSource::test("blocked", "hn"));
    let ctx = context(&kube);
    reconcile(&kube, &ctx, "blocked", "hn")
        .await
        .expect("synced");
    // The Temporal namespace the schedule was made in is gone.
    let mut fs = feed(&kube, "blocked", "hn").expect("feed").deleting();
    if let Some(s) = fs.status.as_mut() {
        s.temporal_namespace = Some("a-namespace-that-is-gone".into());
    }
    kube.put_object(&fs);
    for _ in 0..3 {
        let r = reconcile(&kube, &ctx, "blocked", "hn").await;
        assert!(r.is_err(), "kept in deletion, retried with backoff");
    }
    let (status, reason, message) = ready(&kube, "blocked", "hn");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "CleanupBlocked")
    );
    assert!(
        message.contains("curator.buun.dev/skip-cleanup"),
        "{message}"
    );
    assert_eq!(
        warnings(&kube, "CleanupBlocked"),
        1,
        "one event, not one per retry"
    );
    assert!(
        feed(&kube, "blocked", "hn").is_some(),
        "not released by itself"
    );
    // A person lets it go: the schedule is left, and that is said.
    kube.edit(&feed_path("blocked", "hn"), |f| {
        f["metadata"]["annotations"] = json!({"curator.buun.dev/skip-cleanup": "true"});
    });
    reconcile(&kube, &ctx, "blocked", "hn")
        .await
        .expect("released");
    assert!(feed(&kube, "blocked", "hn").is_none());
    assert_eq!(warnings(&kube, "CleanupSkipped"), 1);
    let skipped = ctx
        .shared
        .metrics
        .cleanups_skipped
        .get_or_create(&curator_operator::metrics::Namespace {
            namespace: "blocked".into(),
        })
        .get();
    assert_eq!(skipped, 1, "counted");
    assert_eq!(
        ctx.remembered(),
        0,
        "nothing kept about a FeedSource that is gone"
    );
}

#[tokio::test]
async fn the_skip_annotation_leaves_nothing_behind_where_the_cleanup_can_be_done() {
    let server = common::shared();
    let kube = Arc::new(FakeKube::default());
    kube.put_object(&CuratorWorker::test("skip-early", &server.address));
    kube.put_object(&FeedSource::test("skip-early", "hn"));
    let ctx = context(&kube);
    reconcile(&kube, &ctx, "skip-early", "hn")
        .await
        .expect("synced");
    let schedules = common::schedules(&server.address).await;
    let id = "del/skip-early/hn";
    assert!(schedules.describe(id).await.expect("describe").is_some());
    // Set before anything is blocked: the schedule is still removed.
    let mut fs = feed(&kube, "skip-early", "hn").expect("feed").deleting();
    fs.metadata.annotations = Some(
        [(
            "curator.buun.dev/skip-cleanup".to_owned(),
            "true".to_owned(),
        )]
        .into(),
    );
    kube.put_object(&fs);
    reconcile(&kube, &ctx, "skip-early", "hn")
        .await
        .expect("cleaned up");
    assert!(feed(&kube, "skip-early", "hn").is_none());
    assert!(
        schedules.describe(id).await.expect("describe").is_none(),
        "a schedule that could be removed was left running"
    );
    assert_eq!(warnings(&kube, "CleanupSkipped"), 0);
}

#[tokio::test]
async fn a_moved_feedsource_removes_its_old_schedule_before_forgetting_it() {
    let server = common::shared();
    common::cli(
        &server.address,
        &["operator", "namespace", "create", "--namespace", "moved-to"],
    );
    let kube = Arc::new(FakeKube::default());
    kube.put_object(&CuratorWorker::test("move", &server.address));
    let target = CuratorWorker::test("move", &server.address)
        .named("target")
        .with_spec(json!({"temporal": {"address": server.address, "namespace": "moved-to"}}));
    kube.put_object(&target);
    kube.put_object(&FeedSource::test("move", "hn"));
    let ctx = context(&kube);
    reconcile(&kube, &ctx, "move", "hn").await.expect("synced");
    let old = common::schedules(&server.address).await;
    assert!(old.describe("del/move/hn").await.expect("d").is_some());

    // The old place does not answer for now: the move waits, and the status keeps it.
    let (hole, _task) = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let a = l.local_addr().expect("addr").to_string();
        (
            a,
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((s, _)) = l.accept().await {
                    held.push(s);
                }
            }),
        )
    };
    let mut fs = feed(&kube, "move", "hn")
        .expect("feed")
        .with_worker("target");
    fs.metadata.generation = Some(2);
    let real_address = fs.status.as_ref().and_then(|s| s.temporal_address.clone());
    if let Some(s) = fs.status.as_mut() {
        s.temporal_address = Some(hole.clone());
    }
    kube.put_object(&fs);
    let r = reconcile(&kube, &ctx, "move", "hn").await;
    assert!(r.is_err(), "retried: {r:?}");
    let st = feed(&kube, "move", "hn")
        .and_then(|f| f.status)
        .expect("status");
    assert_eq!(
        st.temporal_address.as_deref(),
        Some(hole.as_str()),
        "old place kept"
    );
    assert_eq!(st.temporal_namespace.as_deref(), Some("default"));

    // It answers again: the old schedule goes first, then the new one is made.
    kube.edit(&feed_path("move", "hn"), |f| {
        f["status"]["temporalAddress"] = json!(real_address);
    });
    let ctx = context(&kube);
    reconcile(&kube, &ctx, "move", "hn").await.expect("moved");
    assert!(
        old.describe("del/move/hn").await.expect("d").is_none(),
        "old schedule gone"
    );
    let new = Pool::new("deletion-test", Duration::from_secs(3))
        .schedules(&server.address, "moved-to", &Default::default())
        .await
        .expect("connect");
    assert!(new.describe("del/move/hn").await.expect("d").is_some());
    let st = feed(&kube, "move", "hn")
        .and_then(|f| f.status)
        .expect("status");
    assert_eq!(st.temporal_namespace.as_deref(), Some("moved-to"));
    assert_eq!(st.worker.as_deref(), Some("target"));
    assert_eq!(warnings(&kube, "ScheduleMoved"), 1);
}

#[tokio::test]
async fn a_worker_stays_while_feedsources_need_its_connection() {
    let server = common::shared();
    let kube = Arc::new(FakeKube::default());
    let w = CuratorWorker::test("keep", &server.address)
        .with_finalizer()
        .with_spec(json!({"replicas": 1}));
    kube.put_object(&w);
    let (store, mut writer) = reflector::store::<FeedSource>();
    writer.apply_watcher_event(&watcher::Event::Apply(FeedSource::test("keep", "hn")));
    kube.edit(&worker_path("keep", "curator"), |w| {
        w["metadata"]["deletionTimestamp"] = json!("2026-11-29T10:00:00Z");
    });
    let ctx = Arc::new(WorkerContext::test(kube.client(), store.clone()));
    let stored = |kube: &FakeKube| -> Option<CuratorWorker> {
        kube.get(&worker_path("keep", "curator"))
            .map(|v| serde_json::from_value(v).expect("worker"))
    };
    let action = curatorworker::reconcile(Arc::new(stored(&kube).expect("w")), ctx.clone())
        .await
        .expect("reconcile");
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(Duration::from_secs(2))
    );
    let w = stored(&kube).expect("kept");
    let c = w
        .status
        .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
        .expect("Ready");
    assert_eq!(c.reason, "WaitingForFeedSources");
    assert!(c.message.contains("1 FeedSources"), "{}", c.message);
    // The last FeedSource is gone: the worker goes.
    writer.apply_watcher_event(&watcher::Event::Delete(FeedSource::test("keep", "hn")));
    curatorworker::reconcile(Arc::new(stored(&kube).expect("w")), ctx.clone())
        .await
        .expect("reconcile");
    assert!(stored(&kube).is_none(), "finalizer removed");
    assert_eq!(ctx.shared.remembered_workers(), 0);
}
