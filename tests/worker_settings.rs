//! The settings buun-curator's worker cannot start without, checked on a real API server: a
//! CuratorWorker whose container would lack `OPENAI_API_KEY` says so in `SettingsProvided` and
//! `Ready`, and the check runs again once the Secret it names appears.

mod common;

use std::time::Duration;

use common::{cluster::eventually, env::ClusterEnv};
use curator_operator::crd::{CuratorWorker, curatorworker::REQUIRED_ENV};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, api::PostParams};

fn condition(w: &CuratorWorker, type_: &str) -> Option<(String, String, String)> {
    let c = w
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

#[tokio::test]
async fn a_worker_without_openai_api_key_names_it_until_its_secret_appears() {
    let Some(env) = ClusterEnv::start("settings").await else {
        return;
    };
    let workers: Api<CuratorWorker> = env.api();
    // As users write it: requiredEnv left to its default (the API server fills it in), the
    // token as a plain variable, the LLM key from a Secret that does not exist yet.
    let w = serde_json::json!({
        "apiVersion": "curator.buun.dev/v1alpha1",
        "kind": "CuratorWorker",
        "metadata": {"name": "curator", "namespace": env.ns},
        "spec": {
            "image": "ghcr.io/buun-ch/buun-curator-worker:1.0",
            "temporal": {"address": env.temporal.address},
            "env": [{"name": "INTERNAL_API_TOKEN", "value": "t"}],
            "envFrom": [{"secretRef": {"name": "llm"}}],
        },
    });
    // The CRD's default, not serde's: the object goes as it is, without requiredEnv.
    let raw: kube::api::DynamicObject = serde_json::from_value(w).expect("dynamic");
    let ar = kube::api::ApiResource::erase::<CuratorWorker>(&());
    Api::<kube::api::DynamicObject>::namespaced_with(env.client.clone(), &env.ns, &ar)
        .create(&PostParams::default(), &raw)
        .await
        .expect("create worker");
    let stored = workers.get("curator").await.expect("get");
    assert_eq!(
        stored.spec.required_env, REQUIRED_ENV,
        "the API server defaults requiredEnv"
    );
    let limit = Duration::from_secs(90);
    eventually("SettingsProvided=False", limit, || async {
        workers
            .get("curator")
            .await
            .ok()
            .and_then(|w| condition(&w, "SettingsProvided"))
            .is_some_and(|c| c.0 == "False")
    })
    .await;
    let w = workers.get("curator").await.expect("get");
    let (_, reason, message) = condition(&w, "SettingsProvided").expect("condition");
    assert_eq!(reason, "MissingSettings");
    assert!(
        message.contains("OPENAI_API_KEY is not set: no env entry, and Secret llm does not exist"),
        "{message}"
    );
    assert!(!message.contains("INTERNAL_API_TOKEN"), "{message}");
    let (ready, ready_reason, _) = condition(&w, "Ready").expect("Ready");
    assert_eq!(
        (ready.as_str(), ready_reason.as_str()),
        ("False", "MissingSettings")
    );
    let (stalled, _, _) = condition(&w, "Stalled").expect("Stalled");
    assert_eq!(stalled, "True", "only a change helps");

    // The Secret appears, with the key: no change of the worker, and the check runs again.
    let mut secret = Secret::default();
    secret.metadata.name = Some("llm".into());
    secret.string_data = Some([("OPENAI_API_KEY".to_owned(), "sk-test".to_owned())].into());
    Api::<Secret>::namespaced(env.client.clone(), &env.ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let started = std::time::Instant::now();
    eventually("SettingsProvided=True", limit, || async {
        workers
            .get("curator")
            .await
            .ok()
            .and_then(|w| condition(&w, "SettingsProvided"))
            .is_some_and(|c| c.0 == "True")
    })
    .await;
    println!("provided {:?} after the Secret appeared", started.elapsed());
    let w = workers.get("curator").await.expect("get");
    let (_, _, message) = condition(&w, "SettingsProvided").expect("condition");
    assert!(
        message.contains("OPENAI_API_KEY from Secret llm (envFrom), key OPENAI_API_KEY"),
        "{message}"
    );
    let (_, ready_reason, _) = condition(&w, "Ready").expect("Ready");
    assert_ne!(ready_reason, "MissingSettings");
    env.stop().await;
}
