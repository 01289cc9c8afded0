//! A missing CRD, on a control plane of this test's own (the CRDs come and go): the real
//! operator binary says it once in the log, in `/readyz` and in a metric; the other kind keeps
//! working; when the CRD appears its controller starts without a restart, and a CRD deleted
//! while the operator runs is handled the same way. SIGTERM ends the process promptly with a
//! CRD missing (the state of issue 15: leader election on, only the CuratorWorker CRD), and the
//! Lease is given up.

mod common;

use std::time::{Duration, Instant};

use common::{
    cluster::{self, eventually},
    operator::{Operator, Options, assert_clean_exit, lease_holder},
};
use curator_operator::crd::{CuratorWorker, FeedSource};
use k8s_openapi::{
    api::apps::v1::Deployment,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, CustomResourceExt, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::wait::{await_condition, conditions},
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const FEEDS_CRD: &str = "feedsources.curator.buun.dev";
const WORKERS_CRD: &str = "curatorworkers.curator.buun.dev";

async fn install(client: &Client, crd: CustomResourceDefinition) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.name_any();
    crds.patch(
        &name,
        &PatchParams::apply("curator-operator-test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("apply CRD");
    tokio::time::timeout(
        WAIT,
        await_condition(crds, &name, conditions::is_crd_established()),
    )
    .await
    .expect("CRD established in time")
    .expect("watch");
}

/// Deletes a CRD (its objects go first, through the operator's finalizer) and waits until the
/// API server no longer serves it.
async fn uninstall(client: &Client, name: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete(name, &DeleteParams::default())
        .await
        .expect("delete CRD");
    eventually(&format!("CRD {name} gone"), WAIT, || async {
        crds.get_opt(name).await.ok().flatten().is_none()
    })
    .await;
}

async fn replicas(deployments: &Api<Deployment>, name: &str) -> Option<i32> {
    deployments
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|d| d.spec)
        .and_then(|s| s.replicas)
}

fn operator(c: &cluster::TestCluster, ns: &str, id: &str) -> Operator {
    Operator::start(Options {
        kubeconfig: &c.kubeconfig,
        pod_name: id,
        lease: Some((ns, "curator-operator")),
        args: vec!["--schedule-id-prefix".into(), "crd-test".into()],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_crd_is_said_once_and_its_controller_starts_when_it_appears() {
    let Some(c) = cluster::private() else {
        return;
    };
    let client = c.client().await;
    let temporal = common::shared();
    let ns = cluster::namespace(&client, "crd").await;
    let workers: Api<CuratorWorker> = Api::namespaced(client.clone(), &ns);
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);

    // No CRD at all: each is named once, in the log, /readyz and the metric.
    let a = operator(&c, &ns, "replica-a");
    for crd in [FEEDS_CRD, WORKERS_CRD] {
        a.wait_log(&format!("CRD {crd} is not installed"), WAIT)
            .await;
    }
    eventually("/readyz naming both CRDs", WAIT, || async {
        let (code, body) = a.get("/readyz").await;
        code == 200 && body.contains(FEEDS_CRD) && body.contains(WORKERS_CRD)
    })
    .await;
    for crd in [FEEDS_CRD, WORKERS_CRD] {
        assert_eq!(
            a.metric(&format!("curator_crd_installed{{crd=\"{crd}\"}}"))
                .await,
            Some(0.0)
        );
    }
    // The CuratorWorker CRD appears: its controller starts, without a restart.
    let installed = Instant::now();
    install(&client, CuratorWorker::crd()).await;
    let mut w = CuratorWorker::test(&ns, &temporal.address).unsaved();
    w.spec.replicas = Some(1);
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("worker");
    eventually("the worker's Deployment", WAIT, || async {
        replicas(&deployments, "curator").await == Some(1)
    })
    .await;
    println!(
        "CuratorWorker CRD installed → its Deployment applied: {:.1} s",
        installed.elapsed().as_secs_f64()
    );
    a.wait_log(&format!("CRD {WORKERS_CRD} installed"), WAIT)
        .await;
    // The state of issue 15: leader, only the CuratorWorker CRD. Still one line about the
    // FeedSource CRD after many retries, and /readyz says it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let line = format!("CRD {FEEDS_CRD} is not installed");
    assert_eq!(
        a.lines_with(&line),
        1,
        "one line, not a flood:\n{}",
        a.log()
    );
    let (code, body) = a.get("/readyz").await;
    println!("/readyz with the FeedSource CRD missing: {code}\n{body}");
    assert_eq!(code, 200, "a missing CRD does not hold readiness: {body}");
    assert!(body.contains(&format!(
        "CRD {FEEDS_CRD} is not installed: the FeedSource controller waits for it"
    )));
    assert!(!body.contains(WORKERS_CRD), "{body}");
    println!(
        "the log line: {}",
        a.log()
            .lines()
            .find(|l| l.contains(&line))
            .unwrap_or_default()
    );
    let exit = a.terminate().await;
    assert_clean_exit(
        "leader with the FeedSource CRD missing",
        &exit,
        Duration::from_secs(2),
    );
    assert_eq!(lease_holder(&client, &ns, "curator-operator").await, None);

    // A second replica takes the released Lease at once.
    let b = operator(&c, &ns, "replica-b");
    let started = Instant::now();
    eventually("replica-b to lead", WAIT, || async {
        b.metric("curator_leader").await == Some(1.0)
    })
    .await;
    println!(
        "the next replica leads after {:.1} s (Lease released, not expired)",
        started.elapsed().as_secs_f64()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    b.wait_log(&format!("CRD {FEEDS_CRD} is not installed"), WAIT)
        .await;

    // The FeedSource CRD appears while it runs: its controller starts.
    let installed = Instant::now();
    install(&client, FeedSource::crd()).await;
    let fs = FeedSource::test(&ns, "hn").unsaved();
    feeds
        .create(&PostParams::default(), &fs)
        .await
        .expect("feed");
    eventually("hn Ready", WAIT, || {
        common::cluster::feed_ready(&feeds, "hn")
    })
    .await;
    println!(
        "FeedSource CRD installed → first FeedSource Ready: {:.1} s",
        installed.elapsed().as_secs_f64()
    );
    b.wait_log(&format!("CRD {FEEDS_CRD} installed"), WAIT)
        .await;
    let schedules = common::schedules(&temporal.address).await;
    let id = format!("crd-test/{ns}/hn");
    use curator_operator::temporal::ScheduleApi;
    assert!(schedules.describe(&id).await.expect("describe").is_some());

    // Deleted while it runs: the FeedSources go through the finalizer (the schedule is
    // deleted), then the CRD is said missing, once.
    let deleted = Instant::now();
    uninstall(&client, FEEDS_CRD).await;
    println!(
        "FeedSource CRD deleted (its FeedSources cleaned up first) in {:.1} s",
        deleted.elapsed().as_secs_f64()
    );
    assert!(
        schedules.describe(&id).await.expect("describe").is_none(),
        "the finalizer ran before the CRD went"
    );
    eventually("the metric to say the CRD is gone", WAIT, || async {
        b.metric(&format!("curator_crd_installed{{crd=\"{FEEDS_CRD}\"}}"))
            .await
            == Some(0.0)
    })
    .await;
    let (code, body) = b.get("/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(FEEDS_CRD), "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        b.lines_with(&format!("CRD {FEEDS_CRD} is not installed")),
        2,
        "one line at the start, one when it was deleted:\n{}",
        b.log()
    );
    // The other kind keeps working meanwhile.
    workers
        .patch(
            "curator",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .expect("scale");
    eventually("the Deployment scaled to 2", WAIT, || async {
        replicas(&deployments, "curator").await == Some(2)
    })
    .await;

    // And back: the controller starts again, without a restart.
    install(&client, FeedSource::crd()).await;
    let fs = FeedSource::test(&ns, "lobsters").unsaved();
    feeds
        .create(&PostParams::default(), &fs)
        .await
        .expect("feed");
    eventually("lobsters Ready", WAIT, || {
        common::cluster::feed_ready(&feeds, "lobsters")
    })
    .await;
    let exit = b.terminate().await;
    assert_clean_exit("leader, both CRDs installed", &exit, Duration::from_secs(2));
    assert_eq!(lease_holder(&client, &ns, "curator-operator").await, None);
}
