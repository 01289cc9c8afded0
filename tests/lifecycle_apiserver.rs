//! The API server goes away for about 10 s and comes back on the same data, on a control plane
//! of this test's own: a running operator keeps running, reconciles afterwards without a
//! restart and without a burst of writes; SIGTERM ends a leader and a starting replica
//! promptly while the API server is unreachable.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use common::{
    cluster::{self, eventually},
    namespace::TestNamespace,
    operator::{Operator, Options, assert_clean_exit, lease_holder},
};
use curator_operator::{
    crd::{CuratorWorker, FeedSource},
    temporal::ScheduleApi,
};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Event};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const FEEDS: [&str; 3] = ["hn", "lobsters", "heise"];

/// Every object the operator writes in `ns`, by kind/name, with its resourceVersion: any
/// write (status, spec, finalizer) changes it.
async fn versions(client: &Client, ns: &str) -> BTreeMap<String, String> {
    let lp = ListParams::default();
    let mut out = BTreeMap::new();
    for f in Api::<FeedSource>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("feeds")
    {
        out.insert(
            format!("FeedSource/{}", f.name_any()),
            f.resource_version().unwrap_or_default(),
        );
    }
    for w in Api::<CuratorWorker>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("workers")
    {
        out.insert(
            format!("CuratorWorker/{}", w.name_any()),
            w.resource_version().unwrap_or_default(),
        );
    }
    for d in Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("deployments")
    {
        out.insert(
            format!("Deployment/{}", d.name_any()),
            d.resource_version().unwrap_or_default(),
        );
    }
    out
}

async fn event_count(client: &Client, ns: &str) -> usize {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .iter()
        .map(|e| usize::try_from(e.count.unwrap_or(1)).unwrap_or(1))
        .sum()
}

/// Temporal calls that write.
async fn temporal_writes(op: &Operator) -> f64 {
    let mut n = 0.0;
    for method in [
        "CreateSchedule",
        "UpdateSchedule",
        "DeleteSchedule",
        "PatchSchedule",
    ] {
        n += op
            .metric_sum(
                "curator_temporal_requests_total",
                &[&format!("method=\"{method}\"")],
            )
            .await;
    }
    n
}

fn operator(c: &cluster::TestCluster, ns: &str, id: &str) -> Operator {
    Operator::start(Options {
        kubeconfig: &c.kubeconfig,
        pod_name: id,
        lease: Some((ns, "curator-operator")),
        args: vec![
            "--watch-namespaces".into(),
            ns.into(),
            "--schedule-id-prefix".into(),
            "restart-test".into(),
        ],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_outlives_an_api_server_restart_and_stops_promptly_without_it() {
    let Some(c) = cluster::private_restartable() else {
        return;
    };
    let space = TestNamespace::on(&c, "restart").await;
    let (client, ns) = (space.client.clone(), space.ns.clone());
    let temporal = common::shared();
    let other_ns = cluster::namespace(&client, "restart-other").await;
    let workers: Api<CuratorWorker> = Api::namespaced(client.clone(), &ns);
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), &ns);
    let mut w = CuratorWorker::test(&ns, &temporal.address).unsaved();
    w.spec.replicas = Some(1);
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("worker");
    for name in FEEDS {
        feeds
            .create(
                &PostParams::default(),
                &FeedSource::test(&ns, name).unsaved(),
            )
            .await
            .expect("feed");
    }
    // `a` works on `ns` throughout; `c` leads in another namespace and is stopped while the API
    // server is away.
    let a = operator(&c, &ns, "replica-a");
    let other = operator(&c, &other_ns, "replica-c");
    for name in FEEDS {
        eventually(&format!("{name} Ready"), WAIT, || {
            common::cluster::feed_ready(&feeds, name)
        })
        .await;
    }
    eventually("both to lead, ready", WAIT, || async {
        a.get("/readyz").await.0 == 200
            && other.get("/readyz").await.0 == 200
            && a.metric("curator_leader").await == Some(1.0)
            && other.metric("curator_leader").await == Some(1.0)
    })
    .await;
    // Settled: past the follow-up reconciles after the creates, and the worker's status has
    // its FeedSources' next run (the worker is not triggered by their status: a change of its
    // Deployment makes it look again).
    tokio::time::sleep(Duration::from_secs(3)).await;
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .patch(
            "curator",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"test/settle": "1"}}})),
        )
        .await
        .expect("nudge");
    eventually("the worker status to show the next run", WAIT, || async {
        workers
            .get("curator")
            .await
            .ok()
            .and_then(|w| w.status)
            .is_some_and(|s| s.next_run.is_some())
    })
    .await;
    // The reconcile rate of the steady state, to compare with the one after the restart.
    let counted = a.metric_sum("curator_reconciles_total", &[]).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let steady = a.metric_sum("curator_reconciles_total", &[]).await - counted;
    let before = versions(&client, &ns).await;
    let events_before = event_count(&client, &ns).await;
    let writes_before = temporal_writes(&a).await;
    let reconciles_before = a.metric_sum("curator_reconciles_total", &[]).await;
    let failed_before = a
        .metric_sum("curator_reconciles_total", &["result=\"error\""])
        .await;

    c.stop_apiserver();
    let stopped = Instant::now();
    // A replica that starts now waits for the API server (it cannot even read its Lease).
    let starting = operator(&c, &ns, "replica-b");
    starting
        .wait_log("cannot read or create the Lease", WAIT)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let exit = starting.terminate().await;
    assert_clean_exit(
        "starting, API server unreachable",
        &exit,
        Duration::from_secs(2),
    );
    let exit = other.terminate().await;
    assert_clean_exit(
        "leader, API server unreachable",
        &exit,
        Duration::from_secs(2),
    );
    assert!(
        exit.log.contains("lease not released"),
        "the failed release is said:\n{}",
        exit.log
    );
    let mut a = a;
    assert!(a.running(), "the operator outlives the outage");
    assert_eq!(a.get("/livez").await.0, 200);
    let outage = Duration::from_secs(10);
    if let Some(rest) = outage.checked_sub(stopped.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let down_for = stopped.elapsed();
    let restarting = Instant::now();
    c.start_apiserver();
    let back = Instant::now();
    println!(
        "API server stopped for {:.1} s, then {:.1} s to answer /readyz again",
        down_for.as_secs_f64(),
        restarting.elapsed().as_secs_f64()
    );
    eventually("the watches to resume", WAIT, || async {
        a.log().contains("watch resumed")
    })
    .await;
    println!(
        "watches resumed {:.1} s after the API server was back",
        back.elapsed().as_secs_f64()
    );
    // A while later: nothing was rewritten, and the retries of the outage are over.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(a.running());
    let after = versions(&client, &ns).await;
    assert_eq!(before, after, "no object was written after the restart");
    let writes_after = temporal_writes(&a).await;
    let events_after = event_count(&client, &ns).await;
    let failed = a
        .metric_sum("curator_reconciles_total", &["result=\"error\""])
        .await
        - failed_before;
    let settled = a.metric_sum("curator_reconciles_total", &[]).await;
    println!(
        "outage and restart: {} Temporal writes, {} events, {} reconciles ({failed} of them \
         failed retries while the API server was away)",
        writes_after - writes_before,
        events_after - events_before,
        settled - reconciles_before,
    );
    assert_eq!(writes_after, writes_before, "no Temporal write");
    assert_eq!(events_after, events_before, "no event");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let quiet = a.metric_sum("curator_reconciles_total", &[]).await - settled;
    println!("reconciles in 10 s: {steady} before the outage, {quiet} after the restart");
    assert!(
        quiet <= steady + 4.0,
        "at most one late retry per object over the steady rate, no burst: {quiet} vs {steady}"
    );
    // And it reconciles: a new FeedSource, an edit.
    let created = Instant::now();
    feeds
        .create(
            &PostParams::default(),
            &FeedSource::test(&ns, "after").unsaved(),
        )
        .await
        .expect("feed");
    eventually("after Ready", WAIT, || {
        common::cluster::feed_ready(&feeds, "after")
    })
    .await;
    println!(
        "a FeedSource created after the restart is Ready in {:.1} s",
        created.elapsed().as_secs_f64()
    );
    let edited = feeds
        .patch(
            "hn",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"schedule": {"every": "2h"}}})),
        )
        .await
        .expect("edit");
    eventually("the edit reconciled", WAIT, || async {
        feeds
            .get("hn")
            .await
            .ok()
            .and_then(|f| f.status)
            .and_then(|s| s.observed_generation)
            == edited.metadata.generation
    })
    .await;
    let schedules = common::schedules(&temporal.address).await;
    assert!(
        schedules
            .describe(&format!("restart-test/{ns}/after"))
            .await
            .expect("describe")
            .is_some()
    );
    let exit = a.terminate().await;
    assert_clean_exit("leader, after the restart", &exit, Duration::from_secs(2));
    assert_eq!(lease_holder(&client, &ns, "curator-operator").await, None);
}
