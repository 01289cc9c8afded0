//! End to end on a real API server (see `common::cluster` for where it comes from): the
//! controllers run in-process against it and a local Temporal dev server, each test in its own
//! namespace, and every check goes through the API server or Temporal.

mod common;

use std::time::Duration;

use common::{
    cluster::{self, eventually},
    env::ClusterEnv,
    namespace::WAIT,
};
use curator_operator::{
    crd::{CuratorWorker, FeedSource},
    temporal::ScheduleApi,
};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Secret};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};

/// The interval of schedule `id` in seconds, as Temporal describes it.
async fn every_seconds(api: &impl ScheduleApi, id: &str) -> Option<i64> {
    let d = api.describe(id).await.ok().flatten()?;
    let spec = d.schedule.spec?;
    spec.interval.first()?.interval.as_ref().map(|i| i.seconds)
}

#[tokio::test]
async fn feedsource_lifecycle_on_a_real_cluster() {
    let Some(env) = ClusterEnv::start("lifecycle").await else {
        return;
    };
    let feeds: Api<FeedSource> = env.api();
    env.create_worker(|_| {}).await;
    env.create_feed("hn").await;
    let id = env.schedule_id("hn");
    let api = common::schedules(&env.temporal.address).await;
    let started = std::time::Instant::now();
    let ready = env.wait_ready("hn").await;
    println!("Ready after {:?}", started.elapsed());
    assert!(
        ready
            .finalizers()
            .iter()
            .any(|f| f == "curator.buun.dev/schedule")
    );
    assert!(api.describe(&id).await.expect("describe").is_some());

    let patch = serde_json::json!({"spec": {"schedule": {"every": "2h"}}});
    feeds
        .patch("hn", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("edit");
    eventually("the schedule to follow the edit", WAIT, || async {
        every_seconds(&api, &id).await == Some(7200)
    })
    .await;

    feeds
        .delete("hn", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the FeedSource to be gone", WAIT, || async {
        feeds.get_opt("hn").await.ok().flatten().is_none()
    })
    .await;
    assert!(
        api.describe(&id).await.expect("describe").is_none(),
        "schedule deleted with the resource"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_new_feedsource_shows_its_next_run_within_seconds() {
    // The operator's default resync interval, so the follow-up runs at its production pace.
    let Some(env) = ClusterEnv::start_with_resync("nextrun", Duration::from_secs(300)).await else {
        return;
    };
    env.create_worker(|_| {}).await;
    env.create_feed("soon").await;
    let started = std::time::Instant::now();
    env.wait_next_runs("soon", Duration::from_secs(15)).await;
    println!("next run shown {:?} after the create", started.elapsed());
    env.stop().await;
}

/// Nothing changes on the FeedSource: only the resync sweep can bring it back, and it puts the
/// schedule edited in Temporal back in line with the spec.
// Multi-threaded: the CLI blocks its thread while the controllers run on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resync_sweep_puts_back_a_schedule_edited_in_temporal() {
    let Some(env) = ClusterEnv::start_with_resync("sweep", Duration::from_secs(4)).await else {
        return;
    };
    let feeds: Api<FeedSource> = env.api();
    env.create_worker(|_| {}).await;
    env.create_feed("swept").await;
    let id = env.schedule_id("swept");
    let api = common::schedules(&env.temporal.address).await;
    env.wait_ready("swept").await;
    // The follow-up that records the server's form of the new schedule is over.
    env.wait_next_runs("swept", WAIT).await;
    assert_eq!(
        every_seconds(&api, &id).await,
        Some(3600),
        "the spec's hour"
    );
    let before = feeds.get("swept").await.expect("get");
    let address = env.temporal.address.clone();
    let edit = id.clone();
    tokio::task::spawn_blocking(move || {
        common::cli(
            &address,
            &[
                "schedule",
                "update",
                "--schedule-id",
                &edit,
                "--interval",
                "7m",
                "--workflow-id",
                "edited",
                "--task-queue",
                "elsewhere",
                "--type",
                "SingleFeedIngestionWorkflow",
            ],
        )
    })
    .await
    .expect("cli");
    assert_eq!(
        every_seconds(&api, &id).await,
        Some(420),
        "edited outside the operator"
    );
    eventually("the sweep to put the hour back", WAIT, || async {
        every_seconds(&api, &id).await == Some(3600)
    })
    .await;
    let after = feeds.get("swept").await.expect("get");
    assert_eq!(
        (after.metadata.generation, after.spec),
        (before.metadata.generation, before.spec),
        "the FeedSource itself did not change"
    );
    env.stop().await;
}

// Multi-threaded: kubectl blocks its thread while the controllers run on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_get_and_wait_work_as_the_readme_says() {
    let Some(env) = ClusterEnv::start("kubectl").await else {
        return;
    };
    let c = env.cluster;
    let explain = c.kubectl_ok(&["explain", "feedsource.spec.schedule"]);
    assert!(
        explain.contains("KIND:       FeedSource") || explain.contains("KIND:     FeedSource"),
        "{explain}"
    );
    for field in [
        "every",
        "cron",
        "calendars",
        "timezone",
        "catchupWindow",
        "pauseOnFailure",
    ] {
        assert!(explain.contains(field), "explain lacks {field}: {explain}");
    }
    assert!(
        explain.contains("At least one of `every`, `cron` or `calendars` is required"),
        "{explain}"
    );
    let explain = c.kubectl_ok(&["explain", "curatorworker.spec.temporal"]);
    assert!(explain.contains("apiKeySecretRef"), "{explain}");

    env.create_worker(|_| {}).await;
    env.create_feed("hn").await;
    let wait = c.kubectl(&[
        "wait",
        "-n",
        &env.ns,
        "--for=condition=Ready",
        "feedsource/hn",
        "--timeout=60s",
    ]);
    assert!(
        wait.status.success(),
        "{}",
        String::from_utf8_lossy(&wait.stderr)
    );
    assert!(String::from_utf8_lossy(&wait.stdout).contains("condition met"));
    // The next run appears within seconds; then every column has a value.
    let feeds: Api<FeedSource> = env.api();
    eventually("nextRuns", Duration::from_secs(15), || async {
        feeds
            .get("hn")
            .await
            .ok()
            .and_then(|f| f.status)
            .is_some_and(|s| !s.next_runs.is_empty())
    })
    .await;
    let wide = c.kubectl_ok(&["get", "feed", "-n", &env.ns, "-o", "wide"]);
    println!("$ kubectl get feed -o wide\n{wide}");
    let mut lines = wide.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("header")
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "WORKER",
            "SCHEDULE",
            "SUSPENDED",
            "NEXT RUN",
            "READY",
            "INGESTING",
            "LAST RESULT",
            "LAST RUN",
            "REASON",
            "INGESTION",
            "FEED ID",
            "SCHEDULE ID",
            "AGE"
        ]
    );
    let row = lines.next().expect("row");
    // The next run as the time it is (a `date` column would print a future time as `<invalid>`).
    let next_run = feeds
        .get("hn")
        .await
        .expect("hn")
        .status
        .expect("status")
        .next_runs[0]
        .clone();
    let next_run = serde_json::to_value(next_run).expect("time");
    let next_run = next_run.as_str().expect("an RFC 3339 string");
    assert!(!row.contains("<invalid>"), "{row}");
    for want in [
        next_run,
        "hn",
        "curator",
        "every 1h",
        "false",
        "True",
        "Synced",
        "feed-hn",
        &env.schedule_id("hn"),
    ] {
        assert!(row.contains(want), "row lacks {want}: {row}");
    }
    let narrow = c.kubectl_ok(&["get", "cw", "-n", &env.ns]);
    assert!(
        narrow
            .lines()
            .next()
            .is_some_and(|h| h.contains("QUEUE") && h.contains("DESIRED")),
        "{narrow}"
    );
    env.stop().await;
}

#[tokio::test]
async fn curatorworker_owns_its_deployment_on_a_real_cluster() {
    let Some(env) = ClusterEnv::start("worker").await else {
        return;
    };
    let deployments: Api<Deployment> = env.api();
    env.create_worker(|w| w.spec.replicas = Some(2)).await;
    eventually("the Deployment with 2 replicas", WAIT, || async {
        deployments
            .get_opt("curator")
            .await
            .ok()
            .flatten()
            .is_some_and(|d| {
                d.spec.and_then(|s| s.replicas) == Some(2)
                    && d.metadata
                        .owner_references
                        .is_some_and(|o| o.iter().any(|o| o.kind == "CuratorWorker"))
            })
    })
    .await;
    // A manual scale is reverted.
    let scale = serde_json::json!({"spec": {"replicas": 5}});
    deployments
        .patch("curator", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .expect("scale");
    eventually("the manual scale to be reverted", WAIT, || async {
        deployments
            .get_opt("curator")
            .await
            .ok()
            .flatten()
            .and_then(|d| d.spec)
            .and_then(|s| s.replicas)
            == Some(2)
    })
    .await;
    // Deleting the worker garbage-collects the Deployment (kube-controller-manager's GC).
    env.api::<CuratorWorker>()
        .delete("curator", &DeleteParams::default())
        .await
        .expect("delete worker");
    eventually("the Deployment to be garbage-collected", WAIT, || async {
        deployments
            .get_opt("curator")
            .await
            .ok()
            .flatten()
            .is_none()
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn deleting_the_namespace_finishes_and_removes_the_schedules() {
    let Some(env) = ClusterEnv::start("nsdelete").await else {
        return;
    };
    let secrets: Api<Secret> = env.api();
    let mut s = Secret::default();
    s.metadata.name = Some("worker-env".into());
    s.string_data = Some([("OPENAI_API_KEY".to_owned(), "sk-test".to_owned())].into());
    secrets
        .create(&PostParams::default(), &s)
        .await
        .expect("secret");
    env.create_worker(|w| {
        w.spec.env_from = vec![k8s_openapi::api::core::v1::EnvFromSource {
            secret_ref: Some(k8s_openapi::api::core::v1::SecretEnvSource {
                name: "worker-env".into(),
                optional: None,
            }),
            ..Default::default()
        }];
    })
    .await;
    let names = ["a", "b", "c"];
    for n in names {
        env.create_feed(n).await;
    }
    for n in names {
        env.wait_ready(n).await;
    }
    let took = env.delete_namespace_removes_schedules(&names).await;
    println!("namespace deleted in {took:?}");
    env.stop().await;
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_fail_over() {
    use curator_operator::leader::{LeaseConfig, Released, elect};
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let client = cluster.client().await;
    let name = cluster::unique("lease");
    let cfg = |id: &str| LeaseConfig {
        name: name.clone(),
        namespace: "default".into(),
        identity: id.into(),
        duration: Duration::from_secs(6),
    };
    let (mut a, election_a) = elect(client.clone(), &cfg("replica-a")).await;
    let (mut b, election_b) = elect(client.clone(), &cfg("replica-b")).await;
    eventually("one leader", WAIT, || {
        let (a, b) = (*a.borrow(), *b.borrow());
        async move { a ^ b }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        *a.borrow() ^ *b.borrow(),
        "still exactly one leader after a lease period"
    );
    // Releasing the leader (what SIGTERM does) hands over to the standby.
    let a_led = *a.borrow_and_update();
    let started = std::time::Instant::now();
    let (released, standby) = if a_led {
        (election_a.release(Duration::from_secs(5)).await, &mut b)
    } else {
        (election_b.release(Duration::from_secs(5)).await, &mut a)
    };
    assert!(
        matches!(released, Released::Released),
        "the leader gives the Lease up: {released:?}"
    );
    tokio::time::timeout(Duration::from_secs(8), standby.wait_for(|l| *l))
        .await
        .expect("standby takes over within the lease duration")
        .expect("channel");
    println!("failover took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feedsource_without_an_id_registers_its_feed_and_runs_it() {
    use curator_operator::testing::curator_api::FakeCuratorApi;
    use k8s_openapi::ByteString;
    let Some(env) = ClusterEnv::start("register").await else {
        return;
    };
    let api = FakeCuratorApi::start("cluster-token").await;
    let mut secret = Secret::default();
    secret.metadata.name = Some("curator-api".into());
    secret.data = Some([("token".to_owned(), ByteString(b"cluster-token".to_vec()))].into());
    env.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let queue = format!("register-{}", env.ns);
    env.create_worker(|w| {
        w.spec.temporal.task_queue = queue.clone();
        w.spec.curator_api = Some(curator_operator::crd::curatorworker::CuratorApi {
            url: api.url.clone(),
            token_secret_ref: curator_operator::crd::curatorworker::SecretKeyRef {
                name: "curator-api".into(),
                key: "token".into(),
            },
        });
    })
    .await;
    let mut f = FeedSource::test(&env.ns, "noid").unsaved();
    f.spec.feed.id = None;
    f.metadata.annotations = Some([("curator.buun.dev/run-now".to_owned(), "1".to_owned())].into());
    env.api::<FeedSource>()
        .create(&PostParams::default(), &f)
        .await
        .expect("a FeedSource without feed.id is accepted");
    let ready = env.wait_ready("noid").await;
    let status = ready.status.expect("status");
    let id = status.feed_id.expect("status.feedId");
    assert!(status.feed_created);
    assert_eq!(api.api.count("POST /api/feeds"), 1);
    // The worker sees the registered feed's ID: its Pydantic model accepts the run's input.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/ingestion_worker.py"
    );
    let address = env.temporal.address.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &address, &queue, "60"])
            .output()
            .expect("python3 with temporalio and pydantic (scripts/install-deps.sh)")
    })
    .await
    .expect("worker");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(result["validated"]["feed_id"], id.as_str());
    assert_eq!(result["raw"]["feedId"], id.as_str());
    env.stop().await;
}
