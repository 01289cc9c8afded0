//! buun-curator's own `ingest-schedule` beside a worker's FeedSources, on a real Temporal dev
//! server: reported (condition and one Warning event), paused when the worker asks, and
//! unpaused only when the operator paused it and the worker no longer asks (the field changed,
//! or the worker is deleted). A pause made by someone else is never lifted.

mod common;

use std::sync::Arc;

use common::global::{namespace_with_global_schedule, paused};
use curator_operator::{
    controller::curatorworker::{self, WorkerContext},
    crd::{CuratorWorker, FeedSource},
    temporal::{ScheduleApi, proto::SchedulePatch},
    testing::kube::{FakeKube, worker_path},
};
use kube::runtime::{reflector, watcher};
use serde_json::json;

const TNS: &str = "global-schedule-test";

struct Env {
    kube: Arc<FakeKube>,
    /// `--allow-global-schedule-pause`.
    allowed: std::sync::atomic::AtomicBool,
    store: reflector::Store<FeedSource>,
}

impl Env {
    /// Reconciles the stored worker with a fresh context (nothing cached) and returns it as
    /// stored afterwards.
    async fn reconcile(&self) -> CuratorWorker {
        let w: CuratorWorker =
            serde_json::from_value(self.kube.get(&worker_path("g", "curator")).expect("worker"))
                .expect("worker");
        let mut ctx = WorkerContext::test(self.kube.client(), self.store.clone());
        ctx.global_pause_allowed = self.allowed.load(std::sync::atomic::Ordering::SeqCst);
        ctx.identity = "global-test-operator".into();
        let ctx = Arc::new(ctx);
        curatorworker::reconcile(Arc::new(w), ctx)
            .await
            .expect("reconcile");
        serde_json::from_value(
            self.kube
                .get(&worker_path("g", "curator"))
                .unwrap_or_default(),
        )
        .unwrap_or_else(|_| CuratorWorker::test("g", "gone:1"))
    }

    fn set_policy(&self, policy: &str) {
        self.kube.edit(&worker_path("g", "curator"), |w| {
            w["spec"]["globalIngestSchedule"] = json!(policy);
            let g = w["metadata"]["generation"].as_i64().unwrap_or(1);
            w["metadata"]["generation"] = json!(g + 1);
        });
    }

    fn events(&self, reason: &str) -> usize {
        self.kube
            .seen_since(0)
            .iter()
            .filter(|s| s.path.contains("/events") && s.body["reason"] == reason)
            .count()
    }

    fn condition(w: &CuratorWorker) -> (String, String) {
        let c = w
            .status
            .as_ref()
            .and_then(|s| {
                s.conditions
                    .iter()
                    .find(|c| c.type_ == "GlobalScheduleActive")
            })
            .expect("GlobalScheduleActive");
        (c.status.clone(), c.reason.clone())
    }
}

#[tokio::test]
async fn the_global_schedule_is_reported_paused_and_resumed_only_by_its_pauser() {
    let server = common::shared();
    let api =
        namespace_with_global_schedule(&server.address, TNS, std::time::Duration::from_secs(10))
            .await;
    let kube = Arc::new(FakeKube::default());
    let worker = CuratorWorker::test("g", &server.address)
        .with_spec(json!({"temporal": {"address": server.address, "namespace": TNS}}))
        .with_finalizer();
    kube.put_object(&worker);
    let (store, mut writer) = reflector::store::<FeedSource>();
    let feeds: Vec<FeedSource> = ["a", "b"]
        .iter()
        .map(|name| FeedSource::test("g", name))
        .collect();
    for f in &feeds {
        writer.apply_watcher_event(&watcher::Event::Apply(f.clone()));
    }
    let env = Env {
        kube,
        allowed: false.into(),
        store,
    };

    // Leave: reported, once.
    let w = env.reconcile().await;
    assert_eq!(
        Env::condition(&w),
        ("True".into(), "DoubleIngestion".into())
    );
    env.reconcile().await;
    assert_eq!(env.events("GlobalScheduleActive"), 1, "one Warning event");
    assert!(!paused(&api).await.0, "Leave never pauses");

    // Pause, without the operator's leave: nothing is paused, and the condition says why.
    env.set_policy("Pause");
    let w = env.reconcile().await;
    assert!(
        !paused(&api).await.0,
        "a tenant may not pause what every namespace shares"
    );
    assert_eq!(
        Env::condition(&w),
        ("True".into(), "PauseNotAllowed".into())
    );
    assert_eq!(env.events("GlobalSchedulePaused"), 0);

    // With it: paused with a note naming the worker, signed with the operator's identity.
    env.allowed.store(true, std::sync::atomic::Ordering::SeqCst);
    let w = env.reconcile().await;
    let (is_paused, note) = paused(&api).await;
    assert!(is_paused);
    assert!(note.contains("CuratorWorker g/curator"), "{note}");
    assert!(note.starts_with("global-test-operator: "), "{note}");
    let at = w
        .status
        .as_ref()
        .and_then(|s| s.global_schedule_paused_at.clone());
    assert_eq!(
        at.map(|l| l.namespace).as_deref(),
        Some(TNS),
        "where the pause is, recorded"
    );
    assert_eq!(Env::condition(&w), ("False".into(), "Paused".into()));
    assert_eq!(env.events("GlobalSchedulePaused"), 1);

    // The worker moves to another Temporal namespace: its pause is lifted where it was.
    env.kube.edit(&worker_path("g", "curator"), |w| {
        w["spec"]["temporal"]["namespace"] = json!("default");
    });
    let w = env.reconcile().await;
    assert!(!paused(&api).await.0, "the pause does not outlive the move");
    assert_eq!(w.status.and_then(|s| s.global_schedule_paused_at), None);
    env.kube.edit(&worker_path("g", "curator"), |w| {
        w["spec"]["temporal"]["namespace"] = json!(TNS);
    });
    env.reconcile().await;
    assert!(
        paused(&api).await.0,
        "paused again where the worker is back"
    );

    // Back to Leave: the operator lifts its own pause.
    env.set_policy("Leave");
    env.reconcile().await;
    assert!(!paused(&api).await.0);
    assert_eq!(
        env.events("GlobalScheduleResumed"),
        2,
        "the move, then Leave"
    );

    // Pause, then the worker is deleted: kept (and the pause with it) while its FeedSources
    // still have schedules to remove; lifted on the way out, and the worker released.
    env.set_policy("Pause");
    env.reconcile().await;
    assert!(paused(&api).await.0);
    env.kube.edit(&worker_path("g", "curator"), |w| {
        w["metadata"]["deletionTimestamp"] = json!("2026-11-29T10:00:00Z");
    });
    env.reconcile().await;
    assert!(
        paused(&api).await.0,
        "still paused while FeedSources remain"
    );
    assert!(env.kube.get(&worker_path("g", "curator")).is_some());
    for f in &feeds {
        writer.apply_watcher_event(&watcher::Event::Delete(f.clone()));
    }
    env.reconcile().await;
    assert!(!paused(&api).await.0, "unpaused when the worker goes");
    assert!(
        env.kube.get(&worker_path("g", "curator")).is_none(),
        "finalizer removed"
    );

    // A pause made by a person is never lifted.
    api.patch(
        "ingest-schedule",
        SchedulePatch {
            pause: "paused by hand".into(),
            ..Default::default()
        },
        "by-hand".into(),
    )
    .await
    .expect("pause by hand");
    env.kube.put_object(&worker);
    env.reconcile().await;
    let (is_paused, note) = paused(&api).await;
    assert!(is_paused && note == "paused by hand", "{note}");
}
