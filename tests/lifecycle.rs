//! SIGTERM ends the real operator binary promptly whatever it is doing, and the Lease is given
//! up on the way out: as a standby, as a leader whose cache cannot sync, in the middle of a
//! reconcile, and while Temporal accepts connections and never answers. Each test runs the
//! binary against the control plane shared by this binary's tests, in a namespace of its own,
//! sends a real SIGTERM and measures the time to the exit against the goal: 2 s plus the
//! longest Temporal call in flight, which `--temporal-timeout` bounds (3 s here).
//!
//! A missing CRD and an API server that goes away change the whole cluster: they are in
//! `lifecycle_crd.rs` and `lifecycle_apiserver.rs`, each on a control plane of its own.

mod common;

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use common::{
    cluster::eventually,
    namespace::with_namespace,
    operator::{Operator, Options, assert_clean_exit, lease_holder},
};
use curator_operator::crd::{CuratorWorker, FeedSource};
use curator_operator::temporal::ScheduleApi;
use k8s_openapi::{
    api::{
        coordination::v1::{Lease, LeaseSpec},
        core::v1::ServiceAccount,
        rbac::v1::{ClusterRole, ClusterRoleBinding},
    },
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, PostParams},
};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

const WAIT: Duration = Duration::from_secs(60);
/// `--temporal-timeout` of these tests (the operator's default in `common::operator`).
const TEMPORAL_TIMEOUT: Duration = Duration::from_secs(3);
/// The goal with nothing in flight.
const QUIET_LIMIT: Duration = Duration::from_secs(2);

async fn create_worker(client: &Client, ns: &str, address: &str) {
    Api::<CuratorWorker>::namespaced(client.clone(), ns)
        .create(
            &PostParams::default(),
            &CuratorWorker::test(ns, address).unsaved(),
        )
        .await
        .expect("worker");
}

async fn create_feed(client: &Client, ns: &str, name: &str) {
    Api::<FeedSource>::namespaced(client.clone(), ns)
        .create(
            &PostParams::default(),
            &FeedSource::test(ns, name).unsaved(),
        )
        .await
        .expect("feed");
}

fn operator(kubeconfig: &std::path::Path, ns: &str, id: &str) -> Operator {
    Operator::start(Options {
        kubeconfig,
        pod_name: id,
        lease: Some((ns, "curator-operator")),
        args: vec![
            "--watch-namespaces".into(),
            ns.into(),
            "--schedule-id-prefix".into(),
            "lifecycle".into(),
        ],
    })
}

/// Waits until the operator leads and its caches are synced.
async fn leading(op: &Operator) {
    eventually("the operator to lead, ready", WAIT, || async {
        op.metric("curator_leader").await == Some(1.0) && op.get("/readyz").await.0 == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_stops_at_once_and_leaves_the_lease_alone() {
    let Some(space) = with_namespace("lc-standby").await else {
        return;
    };
    let (c, client, ns) = (space.cluster, space.client.clone(), space.ns.clone());
    let now = MicroTime(jiff::Timestamp::now());
    let lease = Lease {
        metadata: kube::core::ObjectMeta {
            name: Some("curator-operator".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("the-other-replica".into()),
            lease_duration_seconds: Some(3600),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..Default::default()
        }),
    };
    Api::<Lease>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &lease)
        .await
        .expect("lease");
    let op = operator(&c.kubeconfig, &ns, "replica-under-test");
    op.wait_log("starting", WAIT).await;
    eventually("a ready standby", WAIT, || async {
        op.get("/readyz").await == (200, "ok: standby\n".into())
    })
    .await;
    assert_eq!(op.metric("curator_leader").await, Some(0.0));
    let exit = op.terminate().await;
    assert_clean_exit("standby", &exit, QUIET_LIMIT);
    assert_eq!(
        lease_holder(&client, &ns, "curator-operator")
            .await
            .as_deref(),
        Some("the-other-replica"),
        "a standby never touches the leader's Lease"
    );
    space.delete().await;
}

/// A kubeconfig for the same API server that authenticates with `token` only.
fn token_kubeconfig(
    admin: &std::path::Path,
    token: &str,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let admin: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(admin).expect("kubeconfig")).expect("yaml");
    let kc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": admin["clusters"][0]["cluster"].clone()}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "sa"}}],
        "current-context": "c",
    });
    let path = dir.join("sa.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kc).expect("yaml")).expect("write");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_cache_cannot_sync_says_why_and_stops_at_once() {
    let Some(space) = with_namespace("lc-caches").await else {
        return;
    };
    let (c, client, ns) = (space.cluster, space.client.clone(), space.ns.clone());
    // Everything the operator needs, except listing and watching FeedSources.
    let name = format!("curator-lifecycle-{ns}");
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({"apiGroups": groups, "resources": resources, "verbs": verbs});
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": name},
        "rules": [
            rule(&["curator.buun.dev"], &["feedsources"], &["get", "patch"]),
            rule(&["curator.buun.dev"], &["curatorworkers"], &["get", "list", "watch", "patch"]),
            rule(&["curator.buun.dev"], &["curatorworkers/status", "feedsources/status"], &["get", "patch"]),
            rule(&["apps"], &["deployments"], &["get", "list", "watch", "create", "patch"]),
            rule(&["policy"], &["poddisruptionbudgets"], &["get", "list", "watch", "create", "patch", "delete"]),
            rule(&[""], &["secrets"], &["get"]),
            rule(&["", "events.k8s.io"], &["events"], &["create", "patch"]),
            rule(&["coordination.k8s.io"], &["leases"], &["get", "create", "patch", "update"]),
        ],
    }))
    .expect("role");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .create(&PostParams::default(), &role)
        .await
        .expect("cluster role");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "limited"}})).expect("sa");
    Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("service account");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "limited", "namespace": ns}],
    }))
    .expect("binding");
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    let token = c.kubectl_ok(&["create", "token", "limited", "-n", &ns, "--duration=1h"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = token_kubeconfig(&c.kubeconfig, token.trim(), dir.path());

    let op = operator(&kubeconfig, &ns, "limited-replica");
    eventually("the leader to say why it is not ready", WAIT, || async {
        let (code, body) = op.get("/readyz").await;
        op.metric("curator_leader").await == Some(1.0)
            && code == 503
            && body.contains("FeedSource cache")
            && body.contains("Forbidden")
    })
    .await;
    let (_, body) = op.get("/readyz").await;
    println!("/readyz of a leader whose FeedSource list is forbidden:\n{body}");
    // Several retries later, the reason is still said once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        op.lines_with("watch failed; retrying with backoff"),
        1,
        "one warning, not one per retry:\n{}",
        op.log()
    );
    assert!(
        op.metric_sum("curator_watch_errors_total", &["reason=\"Forbidden\""])
            .await
            >= 3.0
    );
    let exit = op.terminate().await;
    assert_clean_exit("leader waiting for caches", &exit, QUIET_LIMIT);
    assert_eq!(
        lease_holder(&client, &ns, "curator-operator").await,
        None,
        "the Lease is given up on the way out"
    );
    let _ = bindings.delete(&name, &DeleteParams::default()).await;
    let _ = roles.delete(&name, &DeleteParams::default()).await;
    space.delete().await;
}

/// A TCP proxy to Temporal that can hold the server's answers back.
struct HoldingProxy {
    address: String,
    hold: Arc<tokio::sync::watch::Sender<bool>>,
}

impl HoldingProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let hold = Arc::new(tokio::sync::watch::Sender::new(false));
        let h = hold.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let mut held = h.subscribe();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if held.wait_for(|h| !*h).await.is_err() {
                            return;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { address, hold }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_reconcile_the_call_in_flight_finishes_then_the_process_exits() {
    let Some(space) = with_namespace("lc-midway").await else {
        return;
    };
    let (c, client, ns) = (space.cluster, space.client.clone(), space.ns.clone());
    let temporal = common::shared();
    let proxy = HoldingProxy::start(temporal.address.clone()).await;
    create_worker(&client, &ns, &proxy.address).await;
    let op = operator(&c.kubeconfig, &ns, "midway-replica");
    leading(&op).await;
    // The worker's first Temporal calls are over (its load is then cached for the resync
    // interval), so that the only call held below is the FeedSource's.
    let workers: Api<CuratorWorker> = Api::namespaced(client.clone(), &ns);
    eventually("the worker to have asked Temporal", WAIT, || async {
        let asked = workers
            .get("curator")
            .await
            .ok()
            .and_then(|w| w.status)
            .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "TemporalReachable"));
        asked
            && op
                .metric("curator_reconciles_in_flight{kind=\"CuratorWorker\"}")
                .await
                .unwrap_or(0.0)
                == 0.0
    })
    .await;

    // Temporal's answers are held; a new FeedSource's first reconcile (after the one that
    // adds the finalizer) waits on one.
    proxy.hold.send_replace(true);
    create_feed(&client, &ns, "hn").await;
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), &ns);
    eventually("hn to carry the finalizer", WAIT, || async {
        feeds
            .get("hn")
            .await
            .is_ok_and(|f| !f.finalizers().is_empty())
    })
    .await;
    let in_flight = "curator_reconciles_in_flight{kind=\"FeedSource\"}";
    eventually(
        "a FeedSource reconcile waiting on Temporal",
        WAIT,
        || async {
            let held = || async { op.metric(in_flight).await.is_some_and(|n| n >= 1.0) };
            held().await && {
                tokio::time::sleep(Duration::from_millis(300)).await;
                held().await
            }
        },
    )
    .await;
    let generation = feeds.get("hn").await.expect("get").metadata.generation;
    // The call in flight gets its answer 1.5 s after SIGTERM.
    let held_for = Duration::from_millis(1500);
    let hold = proxy.hold.clone();
    tokio::spawn(async move {
        tokio::time::sleep(held_for).await;
        hold.send_replace(false);
    });
    let exit = op.terminate().await;
    assert_clean_exit(
        "mid-reconcile (Temporal answers 1.5 s after SIGTERM)",
        &exit,
        QUIET_LIMIT + held_for,
    );
    for line in exit
        .log
        .lines()
        .skip_while(|l| !l.contains("shutdown requested"))
    {
        println!("  {line}");
    }
    assert!(
        exit.took >= held_for - Duration::from_millis(100),
        "the reconcile in flight was waited for, not cut: {:?}",
        exit.took
    );
    assert!(
        common::cluster::feed_ready(&feeds, "hn").await,
        "the reconcile in flight finished"
    );
    let fs = feeds.get("hn").await.expect("get");
    assert_eq!(
        fs.status.and_then(|s| s.observed_generation),
        generation,
        "the status records the generation"
    );
    let id = format!("lifecycle/{ns}/hn");
    assert!(
        common::schedules(&temporal.address)
            .await
            .describe(&id)
            .await
            .expect("describe")
            .is_some(),
        "its schedule exists"
    );
    assert_eq!(
        lease_holder(&client, &ns, "curator-operator").await,
        None,
        "the Lease is given up on the way out"
    );
    // The finalizers need an operator; this test's is gone.
    space.delete_releasing_finalizers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporal_that_never_answers_holds_the_exit_no_longer_than_the_temporal_timeout() {
    let Some(space) = with_namespace("lc-blackhole").await else {
        return;
    };
    let (c, client, ns) = (space.cluster, space.client.clone(), space.ns.clone());
    let (address, accepted) = common::black_hole().await;
    create_worker(&client, &ns, &address).await;
    for name in ["a", "b", "c"] {
        create_feed(&client, &ns, name).await;
    }
    let op = operator(&c.kubeconfig, &ns, "blackhole-replica");
    leading(&op).await;
    eventually("a reconcile waiting on Temporal", WAIT, || async {
        op.metric_sum("curator_reconciles_in_flight", &[]).await >= 1.0
            && accepted.load(Ordering::SeqCst) >= 1
    })
    .await;
    let started = Instant::now();
    let exit = op.terminate().await;
    assert_clean_exit(
        "Temporal accepts and never answers",
        &exit,
        QUIET_LIMIT + TEMPORAL_TIMEOUT,
    );
    println!(
        "  ({} connections accepted by the black hole; measured from SIGTERM {:?})",
        accepted.load(Ordering::SeqCst),
        started.elapsed()
    );
    assert_eq!(
        lease_holder(&client, &ns, "curator-operator").await,
        None,
        "the Lease is given up on the way out"
    );
    space.delete_releasing_finalizers().await;
}
