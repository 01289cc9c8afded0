//! `/livez` of the real binary fails when a reconcile is wedged, and only then: against the
//! shared control plane, with a Temporal "frontend" that accepts connections and never answers
//! and a stall limit (`--stall-timeout 1s`) far below the Temporal call limit (10 s).

mod common;

use std::time::Duration;

use common::{
    cluster::{self, eventually},
    operator::{Operator, Options},
    wait,
};
use curator_operator::crd::{CuratorWorker, FeedSource};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livez_fails_while_a_reconcile_runs_past_the_stall_limit() {
    let Some(c) = cluster::shared() else {
        return;
    };
    let client = c.client().await;
    cluster::install_crds(&client).await;
    let ns = cluster::namespace(&client, "liveness").await;
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
    cluster::delete_namespace(&client, &ns).await;
    let _ = feeds
        .patch(
            "hn",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await;
}
