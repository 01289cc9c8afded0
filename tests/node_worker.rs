//! Worker Pods for real: the operator (installed by the chart) runs a CuratorWorker's Deployment
//! on a node (`../shared/k8s`, `--node`) with the contract worker's image, which behaves as
//! buun-curator's worker does (PID 1, no SIGTERM handler). Checked: the Pod as the operator
//! makes it (read-only root, writable home, JSON logs, no token, Pod Security `restricted` with
//! a numeric user); a scheduled run completes in it; an eviction of the last Pod is refused by
//! the PodDisruptionBudget; a stopping Pod with the SIGINT hook exits within seconds, takes no
//! new work, and the run it had started completes on its successor; without the hook
//! (`stopSignal: SIGTERM`) it lingers until SIGKILL and goes on taking work; a spec change rolls
//! the Pod; backlog autoscaling raises the replicas, and on one node the extra Pods stay Pending.
//!
//! Measurements are printed (`cargo test --test node_worker -- --nocapture`), not asserted.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::{
    cluster::eventually,
    node::{self, Node, POD_WAIT},
    pods::{self, ready, unschedulable_for_ports},
};
use curator_operator::crd::{CuratorWorker, FeedSource};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Namespace, Pod},
};
use kube::{
    Api, Client,
    api::{DeleteParams, EvictParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

const NS: &str = "work";
const QUEUE: &str = "node-worker";

const SELECTOR: &str = "app.kubernetes.io/instance=curator";

/// The worker's Pods that are not being deleted.
async fn worker_pods(client: &Client) -> Vec<Pod> {
    pods::live(client, NS, SELECTOR).await
}

/// Waits until a worker Pod other than `except` is Ready; returns its name.
async fn ready_pod(client: &Client, except: &[&str]) -> String {
    pods::wait_ready(client, NS, SELECTOR, except).await
}

/// Waits until Pod `name` is gone; returns how long that took from `since`.
async fn gone(client: &Client, name: &str, since: Instant) -> Duration {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    eventually(&format!("Pod {name} gone"), POD_WAIT, || async {
        pods.get_opt(name).await.ok().flatten().is_none()
    })
    .await;
    since.elapsed()
}

/// `temporal ARGS --address ADDRESS`, with a limit; stdout.
fn temporal(address: &str, args: &[&str]) -> String {
    let out = Command::new(common::temporal_cli())
        .args(args)
        .args(["--address", address, "--command-timeout", "180s"])
        .output()
        .expect("temporal CLI");
    assert!(
        out.status.success(),
        "temporal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start(address: &str, id: &str) {
    let input =
        json!({"feedId": id, "feedName": id, "feedUrl": format!("https://example.com/{id}")});
    temporal(
        address,
        &[
            "workflow",
            "start",
            "--task-queue",
            QUEUE,
            "--type",
            "SingleFeedIngestionWorkflow",
            "--workflow-id",
            id,
            "--input",
            &input.to_string(),
        ],
    );
}

/// The result of workflow `id`, once it has completed.
fn result(address: &str, id: &str) -> Value {
    let out = temporal(
        address,
        &["workflow", "result", "--workflow-id", id, "-o", "json"],
    );
    let v: Value = serde_json::from_str(&out).expect("result JSON");
    assert_eq!(v["status"], "COMPLETED", "{id}: {v}");
    v["result"].clone()
}

/// Waits until the contract worker in Pod `pod` has started the activity of workflow `id`.
async fn crawling(node: &Node, pod: &str, id: &str) {
    let needle = format!("\"workflowId\": \"{id}\"");
    eventually(&format!("{pod} to start {id}"), POD_WAIT, || async {
        node.logs(NS, pod)
            .lines()
            .any(|l| l.contains("crawl started") && l.contains(&needle))
    })
    .await;
}

async fn patch_worker(workers: &Api<CuratorWorker>, spec: Value) {
    workers
        .patch(
            "curator",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .expect("patch worker");
}

#[tokio::test]
async fn worker_pods_start_run_and_stop_cleanly() {
    let Some((operator_image, worker_image)) = node::images() else {
        return;
    };
    let Some(node) = Node::start() else {
        return;
    };
    node.load(&operator_image);
    node.load(&worker_image);
    let t = common::TemporalServer::start();
    let client = node.client().await;
    node::helm_install(&node, &operator_image, &[]);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, labels) in [
        (NS, json!({})),
        (
            "restricted",
            json!({"pod-security.kubernetes.io/enforce": "restricted"}),
        ),
    ] {
        let n: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                .expect("ns");
        namespaces
            .create(&PostParams::default(), &n)
            .await
            .expect("namespace");
    }

    // The CuratorWorker: one replica, a PDB that keeps it, the SIGINT hook (the default).
    let workers: Api<CuratorWorker> = Api::namespaced(client.clone(), NS);
    let w: CuratorWorker = serde_json::from_value(json!({
        "apiVersion": "curator.buun.dev/v1alpha1", "kind": "CuratorWorker",
        "metadata": {"name": "curator", "namespace": NS},
        "spec": {
            "image": worker_image.reference, "imagePullPolicy": "Never",
            "temporal": {"address": t.address, "taskQueue": QUEUE},
            "replicas": 1, "healthPort": common::free_port(),
            "terminationGracePeriodSeconds": 60,
            "disruptionBudget": {"minAvailable": 1},
            "env": [{"name": "ACTIVITY_SECONDS", "value": "20"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1001, "runAsGroup": 1001},
            "podOverrides": {"spec": {"hostNetwork": true}},
        },
    }))
    .expect("worker");
    let created = Instant::now();
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("create worker");
    let first = ready_pod(&client, &[]).await;
    println!(
        "CuratorWorker created → worker Pod Ready: {:.1} s",
        created.elapsed().as_secs_f64()
    );

    println!("== the Pod from inside");
    // The Pod as the operator made it, seen from inside.
    let sh = |pod: &str, script: &str| {
        node.kubectl(&["exec", "-n", NS, pod, "--", "/bin/sh", "-c", script])
    };
    let pid1 = sh(&first, "tr '\\0' ' ' </proc/1/cmdline");
    assert!(
        String::from_utf8_lossy(&pid1.stdout).starts_with("python3 /app/pod_worker.py"),
        "the worker is PID 1: {pid1:?}"
    );
    assert!(
        !sh(&first, "touch /app/x").status.success(),
        "read-only root"
    );
    assert!(
        sh(
            &first,
            "test -d \"$HOME/.crawl4ai\" && test \"$HOME\" = /home/worker"
        )
        .status
        .success()
    );
    assert!(
        !sh(
            &first,
            "test -e /var/run/secrets/kubernetes.io/serviceaccount/token"
        )
        .status
        .success(),
        "no ServiceAccount token"
    );
    let first_line = node
        .logs(NS, &first)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        serde_json::from_str::<Value>(&first_line).is_ok(),
        "ENVIRONMENT=production: JSON logs, not console text: {first_line}"
    );

    println!("== Pod Security restricted");
    // Pod Security `restricted` admits the template with its numeric user (hostNetwork, which
    // only this node needs, left out), and refuses it without runAsNonRoot.
    let deployment = Api::<Deployment>::namespaced(client.clone(), NS)
        .get("curator")
        .await
        .expect("deployment");
    let mut template =
        serde_json::to_value(deployment.spec.expect("spec").template).expect("template");
    template["spec"]["hostNetwork"] = Value::Null;
    let restricted: Api<Pod> = Api::namespaced(client.clone(), "restricted");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let as_pod = |t: &Value| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "probe"}, "spec": t["spec"]}))
            .expect("pod")
    };
    restricted
        .create(&dry, &as_pod(&template))
        .await
        .expect("restricted admits the worker Pod with runAsNonRoot and runAsUser 1001");
    let mut root = template.clone();
    root["spec"]["securityContext"] = json!({});
    match restricted.create(&dry, &as_pod(&root)).await {
        Err(kube::Error::Api(e)) => assert!(e.message.contains("runAsNonRoot"), "{}", e.message),
        other => panic!("restricted admitted a Pod without runAsNonRoot: {other:?}"),
    }

    println!("== a scheduled run");
    // A scheduled run (run-now on its FeedSource) completes in the Pod.
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), NS);
    feeds
        .create(
            &PostParams::default(),
            &FeedSource::test(NS, "hn").unsaved(),
        )
        .await
        .expect("feed");
    eventually("FeedSource hn Ready", POD_WAIT, || {
        common::cluster::feed_ready(&feeds, "hn")
    })
    .await;
    feeds
        .patch(
            "hn",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"curator.buun.dev/run-now": "1"}}})),
        )
        .await
        .expect("run-now");
    let query = format!("TemporalScheduledById = \"curator/{NS}/hn\"");
    let mut scheduled = String::new();
    eventually("the scheduled run to start", POD_WAIT, || {
        let listed = temporal(
            &t.address,
            &["workflow", "list", "--query", &query, "-o", "json"],
        );
        let ids: Vec<String> = serde_json::from_str::<Vec<Value>>(&listed)
            .unwrap_or_default()
            .iter()
            .filter_map(|w| w["execution"]["workflowId"].as_str().map(str::to_owned))
            .collect();
        let found = ids.first().cloned();
        if let Some(id) = &found {
            scheduled = id.clone();
        }
        async move { found.is_some() }
    })
    .await;
    let r = result(&t.address, &scheduled);
    assert_eq!(r["status"], "completed");
    assert_eq!(
        r["crawledOn"],
        first.as_str(),
        "the run completed in the Pod"
    );

    println!("== eviction");
    // The eviction API refuses to evict the last Pod: the PodDisruptionBudget keeps it.
    match Api::<Pod>::namespaced(node.client_without_retries().await, NS)
        .evict(&first, &EvictParams::default())
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 429, "{}", e.message);
            assert!(e.message.contains("disruption budget"), "{}", e.message);
        }
        other => panic!("the last worker Pod was evicted: {other:?}"),
    }

    println!("== stop with SIGINT");
    // Stopped mid-run with the SIGINT hook: the Pod exits within seconds and takes no new
    // work; the run it had started completes on its successor.
    start(&t.address, "sigint-mid");
    crawling(&node, &first, "sigint-mid").await;
    let deleted = Instant::now();
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete(&first, &DeleteParams::default())
        .await
        .expect("delete");
    tokio::time::sleep(Duration::from_secs(1)).await;
    start(&t.address, "sigint-new");
    let stop_sigint = gone(&client, &first, deleted).await;
    let second = ready_pod(&client, &[&first]).await;
    let mid = result(&t.address, "sigint-mid");
    let new = result(&t.address, "sigint-new");
    assert_eq!(
        mid["crawledOn"],
        second.as_str(),
        "the run completed on the successor"
    );
    assert!(mid["crawlAttempt"].as_i64() >= Some(2), "{mid}");
    assert_eq!(
        new["crawledOn"],
        second.as_str(),
        "the stopping Pod took no new work"
    );

    println!("== spec change rolls");
    // A spec change rolls the Pod: no hook now (SIGTERM only), shorter runs and grace.
    patch_worker(
        &workers,
        json!({"stopSignal": "SIGTERM", "terminationGracePeriodSeconds": 20,
               "env": [{"name": "ACTIVITY_SECONDS", "value": "5"},
                       {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}),
    )
    .await;
    let third = ready_pod(&client, &[&first, &second]).await;
    gone(&client, &second, Instant::now()).await;
    let pod = Api::<Pod>::namespaced(client.clone(), NS)
        .get(&third)
        .await
        .expect("pod");
    assert!(pod.spec.expect("spec").containers[0].lifecycle.is_none());

    println!("== stop with SIGTERM");
    // Stopped mid-run with SIGTERM only: the worker (PID 1) ignores it, finishes the run,
    // takes new work, and is killed when the grace period ends.
    start(&t.address, "sigterm-mid");
    crawling(&node, &third, "sigterm-mid").await;
    let deleted = Instant::now();
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete(&third, &DeleteParams::default())
        .await
        .expect("delete");
    tokio::time::sleep(Duration::from_secs(1)).await;
    start(&t.address, "sigterm-new");
    let stop_sigterm = gone(&client, &third, deleted).await;
    let mid = result(&t.address, "sigterm-mid");
    let new = result(&t.address, "sigterm-new");
    assert_eq!(
        mid["crawledOn"],
        third.as_str(),
        "SIGTERM did not stop the run"
    );
    assert_eq!(
        new["crawledOn"],
        third.as_str(),
        "the stopping Pod took new work"
    );
    println!(
        "stop time: SIGTERM only (grace 20 s) {:.1} s; SIGINT hook (grace 60 s) {:.1} s",
        stop_sigterm.as_secs_f64(),
        stop_sigint.as_secs_f64()
    );
    println!("a SIGTERM mid-run: the run completed on the stopping Pod ({mid})");

    println!("== autoscaling");
    // Backlog autoscaling: one activity at a time, four long runs queued → 3 replicas wanted;
    // on this one node the other two cannot bind the health port and stay Pending.
    patch_worker(
        &workers,
        json!({"replicas": null, "stopSignal": "SIGINT",
               "autoscaling": {"minReplicas": 1, "maxReplicas": 3, "targetBacklogPerReplica": 1,
                               "pollInterval": "5s"},
               "concurrency": {"maxConcurrentActivities": 1},
               "env": [{"name": "ACTIVITY_SECONDS", "value": "120"},
                       {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}),
    )
    .await;
    let fourth = ready_pod(&client, &[&first, &second, &third]).await;
    for i in 0..4 {
        start(&t.address, &format!("backlog-{i}"));
    }
    // The status first: Pods of the roll before (one stopping, one Pending for the port) can
    // look like three replicas for a moment.
    eventually(
        "the worker's status asks for 3 replicas",
        POD_WAIT,
        || async {
            let w = workers.get("curator").await.expect("worker");
            w.status.is_some_and(|s| s.desired_replicas == Some(3))
        },
    )
    .await;
    eventually(
        "3 replicas: 1 Pod Ready, 2 Pending for want of a free port",
        POD_WAIT,
        || async {
            let pods = worker_pods(&client).await;
            let running = pods.iter().filter(|p| ready(p)).count();
            let pending = pods.iter().filter(|p| unschedulable_for_ports(p)).count();
            pods.len() == 3 && running == 1 && pending == 2
        },
    )
    .await;
    let w = workers.get("curator").await.expect("worker");
    let status = w.status.expect("status");
    assert_eq!(status.desired_replicas, Some(3), "{status:?}");
    assert!(status.backlog.is_some_and(|b| b >= 2), "{status:?}");
    println!(
        "autoscaling: backlog {:?} → {:?} replicas; {fourth} runs, 2 Pending (one node, one health port)",
        status.backlog, status.desired_replicas
    );
}
