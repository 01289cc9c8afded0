//! `/livez` of the real binary fails when a reconcile is wedged, and only then: against the
//! shared control plane, with a Temporal "frontend" that accepts connections and never answers
//! and a stall limit (`--stall-timeout 1s`) far below the Temporal call limit (10 s).

mod common;

use std::time::Duration;

use common::{
    cluster::eventually,
    namespace::with_namespace,
    operator::{Operator, Options},
    wait,
};
use curator_operator::crd::{CuratorWorker, FeedSource};
use kube::{Api, api::PostParams};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livez_fails_while_a_reconcile_runs_past_the_stall_limit() {
    let Some(space) = with_namespace("liveness").await else {
        return;
    };
    let (c, client, ns) = (space.cluster, space.client.clone(), space.ns.clone());
    let op = Operator::start(Options {
        kubeconfig: &c.kubeconfig,
        pod_name: "liveness",
        lease: None,
        args: vec![
            "--watch-namespaces".into(),
            ns.clone(),
            "--temporal-timeout".into(),
            "10s".into(),
            "--stall-timeout".into(),
            "1s".into(),
        ],
    });
    eventually("the caches to be synced", WAIT, || async {
        op.get("/readyz").await.0 == 200
    })
    .await;
    assert_eq!(
        op.get("/livez").await,
        (200, "ok\n".into()),
        "alive with nothing to do"
    );

    let (address, _) = common::black_hole().await;
    Api::<CuratorWorker>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &CuratorWorker::test(&ns, &address).unsaved(),
        )
        .await
        .expect("worker");
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), &ns);
    feeds
        .create(
            &PostParams::default(),
            &FeedSource::test(&ns, "hn").unsaved(),
        )
        .await
        .expect("feed");
    let seen = wait::until(WAIT, Duration::from_millis(100), async || {
        let (code, body) = op.get("/livez").await;
        (code == 503).then_some(body)
    })
    .await
    .expect("/livez never failed on the wedged reconcile");
    println!("/livez: {}", seen.trim());
    assert!(
        seen.starts_with("stalled: the reconcile of ")
            && seen.contains(&format!(" {ns}/"))
            && seen.contains("(limit 1s)"),
        "names the reconcile and the limit: {seen}"
    );
    assert_eq!(
        op.get("/readyz").await.0,
        200,
        "readiness is another matter"
    );
    drop(op);
    space.delete_releasing_finalizers().await;
}
