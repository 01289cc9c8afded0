//! On a real API server: a CuratorWorker writes only the children it controls, and a child the
//! API server refuses (422) is reported as `InvalidSpec` instead of being retried forever.

mod common;

use common::{cluster::eventually, env::ClusterEnv, namespace::WAIT};
use curator_operator::crd::CuratorWorker;
use k8s_openapi::api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget};
use kube::{Api, ResourceExt, api::PostParams};
use serde_json::json;

/// The worker's Ready condition as (status, reason, message), once it has one.
async fn ready(workers: &Api<CuratorWorker>, name: &str) -> Option<(String, String, String)> {
    let w = workers.get(name).await.ok()?;
    let c = w
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status, c.reason, c.message))
}

async fn wait_reason(workers: &Api<CuratorWorker>, name: &str, reason: &str) -> String {
    eventually(&format!("{name} Ready=False {reason}"), WAIT, || async {
        ready(workers, name)
            .await
            .is_some_and(|(s, r, _)| s == "False" && r == reason)
    })
    .await;
    ready(workers, name).await.map(|c| c.2).unwrap_or_default()
}

fn deployment_made_by_hand(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"made-by": "hand"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "by-hand"}},
            "template": {
                "metadata": {"labels": {"app": "by-hand"}},
                "spec": {"containers": [{"name": "w", "image": "by-hand:1"}]}
            }
        }
    }))
    .expect("deployment")
}

#[tokio::test]
async fn a_same_named_deployment_or_pdb_it_did_not_make_is_left_alone() {
    let Some(env) = ClusterEnv::start("owner").await else {
        return;
    };
    let deployments: Api<Deployment> = env.api();
    let workers: Api<CuratorWorker> = env.api();
    deployments
        .create(&PostParams::default(), &deployment_made_by_hand("curator"))
        .await
        .expect("deployment by hand");
    env.create_worker(|w| w.spec.replicas = Some(3)).await;
    let message = wait_reason(&workers, "curator", "NameConflict").await;
    assert!(message.contains("Deployment \"curator\""), "{message}");
    assert!(message.contains("delete the Deployment"), "{message}");
    let live = deployments.get("curator").await.expect("deployment");
    assert_eq!(live.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert!(
        live.managed_fields()
            .iter()
            .all(|m| m.manager.as_deref() != Some("curator-operator")),
        "the operator wrote nothing to it: {:?}",
        live.managed_fields()
    );
    assert!(live.owner_references().is_empty());

    // A Helm release's PDB named like a second worker.
    let pdbs: Api<PodDisruptionBudget> = env.api();
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "release"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "release"}}}
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("pdb");
    let mut w = CuratorWorker::test(&env.ns, &env.temporal.address)
        .unsaved()
        .named("release");
    w.spec.disruption_budget =
        Some(serde_json::from_value(json!({"maxUnavailable": 1})).expect("budget"));
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("worker");
    let message = wait_reason(&workers, "release", "NameConflict").await;
    assert!(message.contains("PodDisruptionBudget"), "{message}");
    let live = pdbs.get("release").await.expect("pdb");
    assert!(live.owner_references().is_empty());
    assert_eq!(
        serde_json::to_value(&live.spec).expect("json")["minAvailable"],
        json!(1)
    );

    // The hand-made Deployment deleted (a migration to the operator): the worker makes its own
    // at its next look, without any change to the CuratorWorker.
    deployments
        .delete("curator", &kube::api::DeleteParams::background())
        .await
        .expect("delete");
    eventually(
        "the worker's own Deployment with 3 replicas",
        WAIT,
        || async {
            deployments
                .get("curator")
                .await
                .ok()
                .and_then(|d| d.spec)
                .and_then(|s| s.replicas)
                == Some(3)
        },
    )
    .await;
    env.stop().await;
}

#[tokio::test]
async fn a_child_the_api_server_refuses_is_an_invalid_spec_not_a_retry_loop() {
    let Some(env) = ClusterEnv::start("refused").await else {
        return;
    };
    let workers: Api<CuratorWorker> = env.api();
    // Accepted by the CRD (ResourceRequirements is Kubernetes' own type), refused by the
    // Deployment's validation: a request above its limit.
    env.create_worker(|w| {
        w.spec.resources = Some(
            serde_json::from_value(json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}))
                .expect("resources"),
        );
    })
    .await;
    let message = wait_reason(&workers, "curator", "InvalidSpec").await;
    assert!(message.contains("cpu"), "{message}");
    env.stop().await;
}
