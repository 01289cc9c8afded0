//! The chart runs the operator's image in a Pod on a real node (`../shared/k8s`, `--node`):
//! the Pod becomes Ready through its probes; with nothing but the chart's ServiceAccount and
//! RBAC it makes a CuratorWorker (whose worker Pod runs the contract worker, with a
//! `podOverrides` volume and hostNetwork) and FeedSources Ready; the leader's Pod deleted, the
//! replacement holds the Lease after the old Pod released it, and no schedule is written again;
//! `replicaCount: 2` renders a second replica that stays Pending on one node; `helm upgrade`
//! with a changed value rolls the Pod; `helm uninstall` leaves no object of the release.
//!
//! Measurements are printed (`cargo test --test node_operator -- --nocapture`), not asserted.

mod common;

use std::time::{Duration, Instant};

use common::{
    cluster::eventually,
    node::{self, Node, POD_WAIT},
    pods::{self, ready},
};
use curator_operator::{
    crd::{CuratorWorker, FeedSource},
    temporal::ScheduleApi,
};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Namespace, Pod},
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;

const NS: &str = "curator-system";
const SELECTOR: &str = "app.kubernetes.io/instance=curator-operator";

/// The operator's Pods that are not being deleted.
async fn operator_pods(client: &Client) -> Vec<Pod> {
    pods::live(client, NS, SELECTOR).await
}

/// Waits until one operator Pod other than `except` is Ready; returns its name.
async fn ready_pod(client: &Client, except: &[String]) -> String {
    let except: Vec<&str> = except.iter().map(String::as_str).collect();
    pods::wait_ready(client, NS, SELECTOR, &except).await
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("curator-operator")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// The sum of the operator's `/metrics` samples whose line starts with `prefix`.
async fn metric(port: u16, prefix: &str) -> f64 {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("metrics")
        .text()
        .await
        .expect("body");
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Whether the custom resource `name` is `Ready=True`.
async fn cr_ready<K>(api: &Api<K>, name: &str) -> bool
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|o| serde_json::to_value(o).ok())
        .and_then(|v| v["status"]["conditions"].as_array().cloned())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

#[tokio::test]
async fn the_chart_runs_the_operator_in_a_pod() {
    let Some((operator_image, worker_image)) = node::images() else {
        return;
    };
    let Some(node) = Node::start() else {
        return;
    };
    node.load(&operator_image);
    node.load(&worker_image);
    let temporal = common::TemporalServer::start();
    let client = node.client().await;

    // helm install → the Pod Ready through its probes (/readyz; /livez keeps it running).
    let started = Instant::now();
    let release = node::helm_install(&node, &operator_image, &[]);
    let first = ready_pod(&client, &[]).await;
    println!(
        "helm install → operator Pod Ready: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let pod = Api::<Pod>::namespaced(client.clone(), NS)
        .get(&first)
        .await
        .expect("pod");
    let spec = pod.spec.expect("spec");
    assert_eq!(
        spec.host_network,
        Some(true),
        "the test values' hostNetwork"
    );
    assert_eq!(
        spec.service_account_name.as_deref(),
        Some("curator-operator"),
        "the chart's ServiceAccount"
    );
    let c = &spec.containers[0];
    assert_eq!(c.image.as_deref(), Some(operator_image.reference.as_str()));
    let sc = c.security_context.as_ref().expect("securityContext");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(
        spec.security_context.as_ref().and_then(|s| s.run_as_user),
        Some(65532)
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    eventually("the first Pod to hold the Lease", POD_WAIT, || async {
        holder(&leases).await.as_deref() == Some(first.as_str())
    })
    .await;

    // A CuratorWorker (the contract worker, with a podOverrides volume and hostNetwork) and
    // two FeedSources, reconciled by the operator in the Pod with the chart's RBAC alone.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut n = Namespace::default();
    n.metadata.name = Some("news".into());
    namespaces
        .create(&PostParams::default(), &n)
        .await
        .expect("namespace");
    let workers: Api<CuratorWorker> = Api::namespaced(client.clone(), "news");
    let w: CuratorWorker = serde_json::from_value(json!({
        "apiVersion": "curator.buun.dev/v1alpha1", "kind": "CuratorWorker",
        "metadata": {"name": "curator", "namespace": "news"},
        "spec": {
            "image": worker_image.reference, "imagePullPolicy": "Never",
            "temporal": {"address": temporal.address, "taskQueue": "node-operator"},
            "replicas": 1, "healthPort": common::free_port(),
            // The contract worker needs neither OPENAI_API_KEY nor INTERNAL_API_TOKEN to start.
            "requiredEnv": [],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1001, "runAsGroup": 1001},
            "podOverrides": {"spec": {
                "hostNetwork": true,
                "volumes": [{"name": "cache", "emptyDir": {}}],
                "containers": [{"name": "worker",
                    "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
            }},
        },
    }))
    .expect("worker");
    let created = Instant::now();
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("create worker");
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), "news");
    for name in ["hn", "lobsters"] {
        feeds
            .create(
                &PostParams::default(),
                &FeedSource::test("news", name).unsaved(),
            )
            .await
            .expect("feed");
    }
    eventually("CuratorWorker Ready", POD_WAIT, || {
        cr_ready(&workers, "curator")
    })
    .await;
    println!(
        "CuratorWorker created → Ready (its worker Pod Ready): {:.1} s",
        created.elapsed().as_secs_f64()
    );
    for name in ["hn", "lobsters"] {
        eventually(&format!("FeedSource {name} Ready"), POD_WAIT, || {
            cr_ready(&feeds, name)
        })
        .await;
    }
    // The podOverrides are in the running worker Pod.
    let worker_pods = Api::<Pod>::namespaced(client.clone(), "news")
        .list(&ListParams::default().labels("app.kubernetes.io/instance=curator"))
        .await
        .expect("worker pods");
    let running: Vec<&Pod> = worker_pods.items.iter().filter(|p| ready(p)).collect();
    assert_eq!(running.len(), 1, "one worker Pod Ready");
    let wspec = running[0].spec.as_ref().expect("spec");
    assert_eq!(wspec.host_network, Some(true));
    assert!(
        wspec
            .volumes
            .iter()
            .flatten()
            .any(|v| v.name == "cache" && v.empty_dir.is_some())
    );
    let touched = node.kubectl_ok(&[
        "exec",
        "-n",
        "news",
        &running[0].name_any(),
        "--",
        "/bin/sh",
        "-c",
        "touch /cache/written && ls /cache",
    ]);
    assert_eq!(
        touched.trim(),
        "written",
        "the podOverrides volume is mounted"
    );

    // The schedules as the first leader left them.
    let api = common::schedules(&temporal.address).await;
    let mut tokens = Vec::new();
    for name in ["hn", "lobsters"] {
        let d = api
            .describe(&format!("curator/news/{name}"))
            .await
            .expect("describe")
            .expect("schedule exists");
        tokens.push(d.conflict_token);
    }

    // The leader's Pod deleted: its replacement holds the Lease after the old one released it.
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let lease_watch = watcher(
        leases.clone(),
        watcher::Config::default().fields("metadata.name=curator-operator"),
    )
    .applied_objects();
    let watching = tokio::spawn(async move {
        let mut s = lease_watch.boxed();
        while let Ok(Some(l)) = s.try_next().await {
            let h = l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
            if seen_tx.send(h).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deleted = Instant::now();
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete(&first, &DeleteParams::default())
        .await
        .expect("delete leader pod");
    let second = ready_pod(&client, std::slice::from_ref(&first)).await;
    eventually("the replacement to hold the Lease", POD_WAIT, || async {
        holder(&leases).await.as_deref() == Some(second.as_str())
    })
    .await;
    println!(
        "leader Pod deleted → replacement holds the Lease: {:.1} s (lease duration 15 s)",
        deleted.elapsed().as_secs_f64()
    );
    watching.abort();
    let mut holders = Vec::new();
    while let Ok(h) = seen_rx.try_recv() {
        if holders.last() != Some(&h) {
            holders.push(h);
        }
    }
    let released = holders.iter().position(String::is_empty);
    let taken = holders.iter().position(|h| *h == second);
    assert!(
        released.is_some_and(|r| taken.is_some_and(|t| r < t)),
        "the old leader released the Lease before the new one took it: {holders:?}"
    );
    // The new leader has reconciled both feeds and written nothing to Temporal.
    eventually(
        "the new leader to reconcile both FeedSources",
        POD_WAIT,
        || async {
            metric(
                release.http_port,
                "curator_reconciles_total{kind=\"FeedSource\",result=\"success\"}",
            )
            .await
                >= 2.0
        },
    )
    .await;
    for method in ["CreateSchedule", "UpdateSchedule", "DeleteSchedule"] {
        let n = metric(
            release.http_port,
            &format!("curator_temporal_requests_total{{method=\"{method}\""),
        )
        .await;
        assert_eq!(n, 0.0, "{method} calls of the new leader");
    }
    for (name, token) in ["hn", "lobsters"].iter().zip(&tokens) {
        let d = api
            .describe(&format!("curator/news/{name}"))
            .await
            .expect("describe")
            .expect("schedule");
        assert_eq!(&d.conflict_token, token, "schedule {name} written again");
    }

    // helm upgrade with a changed value rolls the Pod.
    node.helm_ok(&[
        "upgrade",
        "curator-operator",
        &format!("{}/charts/curator-operator", env!("CARGO_MANIFEST_DIR")),
        "-n",
        NS,
        "--reuse-values",
        "--set",
        "logLevel=debug",
    ]);
    let third = ready_pod(&client, &[first.clone(), second.clone()]).await;
    let pod = Api::<Pod>::namespaced(client.clone(), NS)
        .get(&third)
        .await
        .expect("pod");
    let env = pod.spec.expect("spec").containers[0]
        .env
        .clone()
        .unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "CURATOR_LOG_LEVEL" && e.value.as_deref() == Some("debug")),
        "the rolled Pod has the new value"
    );
    eventually("the old Pod to be gone", POD_WAIT, || async {
        operator_pods(&client).await.len() == 1
    })
    .await;

    // replicaCount: 2 renders two replicas (and a PodDisruptionBudget and spreading); on one
    // node the second hostNetwork replica cannot bind the same port: it stays Pending.
    node.helm_ok(&[
        "upgrade",
        "curator-operator",
        &format!("{}/charts/curator-operator", env!("CARGO_MANIFEST_DIR")),
        "-n",
        NS,
        "--reuse-values",
        "--set",
        "replicaCount=2",
    ]);
    let deployment = node.kubectl_ok(&[
        "get", "deployment", "curator-operator", "-n", NS, "-o",
        "jsonpath={.spec.replicas} {.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey}",
    ]);
    assert_eq!(deployment, "2 kubernetes.io/hostname");
    node.kubectl_ok(&["get", "pdb", "curator-operator", "-n", NS]);
    eventually(
        "one replica Ready, one Pending (no free port on the node)",
        POD_WAIT,
        || async {
            let pods = operator_pods(&client).await;
            let ready_n = pods.iter().filter(|p| ready(p)).count();
            let unschedulable = pods.iter().filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            c.type_ == "PodScheduled"
                                && c.status == "False"
                                && c.message
                                    .as_deref()
                                    .is_some_and(|m| m.contains("free ports"))
                        })
                    })
            });
            pods.len() == 2 && ready_n == 1 && unschedulable.count() == 1
        },
    )
    .await;

    // helm uninstall leaves none of the release's objects.
    node.helm_ok(&["uninstall", "curator-operator", "-n", NS, "--wait"]);
    eventually("no object of the release left", POD_WAIT, || async {
        let ns_left = node.kubectl_ok(&[
            "get",
            "all,sa,role,rolebinding,lease,pdb,cm,secret",
            "-n",
            NS,
            "-l",
            SELECTOR,
            "-o",
            "name",
        ]);
        let cluster_left = node.kubectl_ok(&[
            "get",
            "clusterrole,clusterrolebinding",
            "-l",
            SELECTOR,
            "-o",
            "name",
        ]);
        let lease_left = node.kubectl(&["get", "lease", "curator-operator", "-n", NS]);
        ns_left.trim().is_empty() && cluster_left.trim().is_empty() && !lease_left.status.success()
    })
    .await;
}
