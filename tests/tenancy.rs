//! Tenancy and trust on a real API server with the real operator binary (issue 31): what a
//! tenant who may write CuratorWorkers and FeedSources in their own namespace cannot reach.
//! Listeners on loopback record every connection the operator opens to them.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{
    cluster::eventually,
    curator::{TOKEN, token_secret, worker_with_api},
    global::{namespace_with_global_schedule, paused},
    namespace::{WAIT, with_namespace},
    operator::{Operator, Options},
};
use curator_operator::crd::{CuratorWorker, FeedSource};
use k8s_openapi::api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget};
use kube::{Api, api::PostParams};

/// A loopback listener that counts the connections made to it: its port and the count.
async fn listener() -> (u16, Arc<AtomicUsize>) {
    let (address, seen) = common::black_hole().await;
    let port = address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    (port, seen)
}

fn ready(w: &CuratorWorker) -> Option<(String, String, String)> {
    let c = w
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Item 1: the API server refuses an address outside the strict grammar (the tricks that
/// passed the old text match), and for an address the operator's list refuses nothing is
/// written and nothing is connected to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_temporal_address_gets_no_deployment_and_no_connection() {
    let Some(space) = with_namespace("tenancy-address").await else {
        return;
    };
    let (c, ns) = (space.cluster, space.ns.clone());
    let temporal = common::shared();
    let (port, connections) = listener().await;
    let op = Operator::start(Options {
        kubeconfig: &c.kubeconfig,
        pod_name: "tenancy-address",
        lease: None,
        args: vec![
            "--watch-namespaces".into(),
            ns.clone(),
            "--allowed-temporal-addresses".into(),
            format!("{},*.tmprl.cloud:7233,127.0.0.1:1", temporal.address),
        ],
    });
    let workers: Api<CuratorWorker> = space.api();
    for trick in [
        format!("127.0.0.1#.tmprl.cloud:{port}"),
        format!("127.0.0.1@evil.example:{port}"),
        format!("evil.example?.tmprl.cloud:{port}"),
        format!("127.0.0.1\\.tmprl.cloud:{port}"),
        format!("http://127.0.0.1:{port}"),
    ] {
        let w = CuratorWorker::test(&ns, &trick).unsaved();
        let refused = workers.create(&PostParams::default(), &w).await;
        let Err(kube::Error::Api(e)) = &refused else {
            panic!("the API server admitted address {trick:?}: {refused:?}");
        };
        assert_eq!(e.code, 422, "{trick}: {e:?}");
        assert!(e.message.contains("address must be host:port"), "{e:?}");
    }
    // An address the grammar admits and the operator's list does not: the listener's.
    let refused = format!("localhost:{port}");
    workers
        .create(
            &PostParams::default(),
            &CuratorWorker::test(&ns, &refused).unsaved(),
        )
        .await
        .expect("worker");
    space
        .api::<FeedSource>()
        .create(
            &PostParams::default(),
            &FeedSource::test(&ns, "f").unsaved(),
        )
        .await
        .expect("feed");
    eventually("the worker reports AddressNotAllowed", WAIT, || async {
        let w = workers.get("curator").await.expect("worker");
        ready(&w).is_some_and(|(s, r, _)| s == "False" && r == "AddressNotAllowed")
    })
    .await;
    let w = workers.get("curator").await.expect("worker");
    let (_, _, message) = ready(&w).expect("Ready");
    assert!(message.contains(&refused), "{message}");
    eventually("the FeedSource reports AddressNotAllowed", WAIT, || async {
        let f = space.api::<FeedSource>().get("f").await.expect("feed");
        let c = f.status.and_then(|s| s.conditions.find("Ready"));
        c.is_some_and(|c| c.reason == "AddressNotAllowed")
    })
    .await;
    // Several reconciles of both have passed (each re-checks at once after its first).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        space
            .api::<Deployment>()
            .get_opt("curator")
            .await
            .expect("get")
            .is_none(),
        "no Deployment carries a refused address to pods"
    );
    assert!(
        space
            .api::<PodDisruptionBudget>()
            .get_opt("curator")
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the operator opened a connection to a refused address"
    );
    assert_eq!(
        op.metric_sum("curator_temporal_requests_total", &[]).await,
        0.0,
        "no Temporal call at all"
    );
    drop(op);
    space.delete_releasing_finalizers().await;
}

fn any_condition(f: &FeedSource, reason: &str) -> bool {
    let Some(s) = &f.status else { return false };
    ["Ready", "FeedRegistered"]
        .iter()
        .filter_map(|t| s.conditions.find(t))
        .any(|c| c.reason == reason)
}

/// Item 2: with `--allowed-curator-api-urls`, a URL the list does not name gets no token, no
/// request and no Deployment; the one it names works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_curator_api_url_gets_no_token_no_request_and_no_deployment() {
    let Some(space) = with_namespace("tenancy-api").await else {
        return;
    };
    let (c, ns) = (space.cluster, space.ns.clone());
    let fake = curator_operator::testing::curator_api::FakeCuratorApi::start(TOKEN).await;
    let (port, connections) = listener().await;
    let op = Operator::start(Options {
        kubeconfig: &c.kubeconfig,
        pod_name: "tenancy-api",
        lease: None,
        args: vec![
            "--watch-namespaces".into(),
            ns.clone(),
            "--allowed-curator-api-urls".into(),
            fake.url.clone(),
        ],
    });
    token_secret(&space).await;
    let workers: Api<CuratorWorker> = space.api();
    let feeds: Api<FeedSource> = space.api();
    let unlisted = format!("http://localhost:{port}");
    for w in [
        worker_with_api(&ns, "curator", &fake.url),
        worker_with_api(&ns, "other", &unlisted),
    ] {
        workers
            .create(&PostParams::default(), &w)
            .await
            .expect("worker");
    }
    for (name, worker) in [("listed", "curator"), ("unlisted", "other")] {
        let mut f = FeedSource::test(&ns, name).unsaved();
        f.spec.feed.id = None;
        f.spec.worker_ref.name = worker.into();
        feeds
            .create(&PostParams::default(), &f)
            .await
            .expect("feed");
    }
    eventually("the unlisted URL is refused on both", WAIT, || async {
        let w = workers.get("other").await.expect("worker");
        let f = feeds.get("unlisted").await.expect("feed");
        ready(&w).is_some_and(|(_, r, _)| r == "CuratorApiNotAllowed")
            && any_condition(&f, "CuratorApiNotAllowed")
    })
    .await;
    space.wait_ready("listed").await;
    let (_, _, message) = ready(&workers.get("other").await.expect("worker")).expect("Ready");
    assert!(message.contains("--allowed-curator-api-urls"), "{message}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deployments = space.api::<Deployment>();
    assert!(deployments.get_opt("curator").await.expect("get").is_some());
    assert!(
        deployments.get_opt("other").await.expect("get").is_none(),
        "no worker pod gets the token and the unlisted URL"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no request to the unlisted URL"
    );
    assert_eq!(
        fake.api.count("POST /api/feeds"),
        1,
        "the listed API registered its feed"
    );
    drop(op);
    space.delete_releasing_finalizers().await;
}

fn global_condition(w: &CuratorWorker) -> Option<String> {
    let c = w
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "GlobalScheduleActive")?;
    Some(c.reason.clone())
}

/// Item 6: a tenant's worker may pause buun-curator's shared global schedule only when the
/// operator is allowed to; the pause is signed with `--identity`, and lifted when the worker's
/// namespace is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_global_schedule_is_paused_only_with_leave_and_not_past_its_namespace() {
    let Some(space) = with_namespace("tenancy-global").await else {
        return;
    };
    let (c, ns) = (space.cluster, space.ns.clone());
    let tns = common::cluster::unique("tenancy-global");
    let global = namespace_with_global_schedule(&common::shared().address, &tns, WAIT).await;
    let start = |extra: &[&str]| {
        let mut args = vec!["--watch-namespaces".to_owned(), ns.clone()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Operator::start(Options {
            kubeconfig: &c.kubeconfig,
            pod_name: "tenancy-global",
            lease: None,
            args,
        })
    };
    let mut w = CuratorWorker::test(&ns, &common::shared().address).unsaved();
    w.spec.temporal.namespace = tns.clone();
    w.spec.global_ingest_schedule =
        curator_operator::crd::curatorworker::GlobalIngestSchedule::Pause;
    let workers: Api<CuratorWorker> = space.api();
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("worker");
    space
        .api::<FeedSource>()
        .create(
            &PostParams::default(),
            &FeedSource::test(&ns, "f").unsaved(),
        )
        .await
        .expect("feed");
    // Without the operator's leave: reported, not paused.
    let op = start(&[]);
    eventually("PauseNotAllowed", WAIT, || async {
        let w = workers.get("curator").await.expect("worker");
        global_condition(&w).as_deref() == Some("PauseNotAllowed")
    })
    .await;
    assert!(
        !paused(&global).await.0,
        "a tenant paused the shared schedule"
    );
    drop(op);
    // With it: paused, signed with the operator's identity, and recorded.
    let op = start(&[
        "--allow-global-schedule-pause",
        "--identity",
        "tenancy-operator",
    ]);
    eventually("paused", WAIT, || async { paused(&global).await.0 }).await;
    let (_, note) = paused(&global).await;
    assert!(
        note.starts_with("tenancy-operator: paused for CuratorWorker"),
        "{note}"
    );
    eventually("the pause recorded in status", WAIT, || async {
        let w = workers.get("curator").await.expect("worker");
        w.status
            .and_then(|s| s.global_schedule_paused_at)
            .is_some_and(|l| l.namespace == tns)
    })
    .await;
    // The namespace goes: the pause goes with it.
    space.delete().await;
    eventually("unpaused when the namespace is deleted", WAIT, || async {
        !paused(&global).await.0
    })
    .await;
    drop(op);
    space.delete_releasing_finalizers().await;
}
