//! Tests of the Deployment and PDB builders.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use serde_json::json;

use super::*;
use crate::crd::CuratorWorker;

fn worker_with(patch: serde_json::Value) -> CuratorWorker {
    let mut v = serde_json::to_value(CuratorWorker::test("news", "temporal:7233")).expect("json");
    merge(&mut v, patch);
    serde_json::from_value(v).expect("worker")
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn owner(w: &CuratorWorker) -> OwnerReference {
    w.controller_owner_ref(&()).expect("owner ref")
}

fn build(w: &CuratorWorker, r: Replicas) -> serde_json::Value {
    serde_json::to_value(deployment(w, owner(w), r).expect("builds")).expect("json")
}

fn env_names(d: &serde_json::Value) -> Vec<String> {
    d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn env_comes_from_the_spec_in_a_fixed_order_then_the_users() {
    let w = worker_with(json!({"spec": {
        "concurrency": {"maxConcurrentActivities": 20, "maxConcurrentLocalActivities": 5},
        "env": [{"name": "LOG_LEVEL", "value": "debug"}],
        "envFrom": [{"secretRef": {"name": "curator-secrets"}}],
    }}));
    let d = build(&w, Replicas::Set(1));
    assert_eq!(
        env_names(&d),
        [
            "TEMPORAL_HOST",
            "TEMPORAL_NAMESPACE",
            "TEMPORAL_TASK_QUEUE",
            "HEALTH_PORT",
            "MAX_CONCURRENT_ACTIVITIES",
            "MAX_CONCURRENT_LOCAL_ACTIVITIES",
            "ENVIRONMENT",
            "HOME",
            "LOG_LEVEL",
        ]
    );
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["env"][0]["value"], "temporal:7233");
    assert_eq!(c["env"][1]["value"], "default");
    assert_eq!(c["env"][2]["value"], "buun-curator");
    assert_eq!(c["env"][3]["value"], "8080");
    assert_eq!(c["env"][4]["value"], "20");
    assert_eq!(c["env"][6]["value"], "production", "JSON logs");
    assert_eq!(c["env"][7]["value"], "/home/worker");
    assert_eq!(c["envFrom"][0]["secretRef"]["name"], "curator-secrets");
}

#[test]
fn the_users_environment_and_home_win_over_the_operators_defaults() {
    let w = worker_with(json!({"spec": {"env": [
        {"name": "ENVIRONMENT", "value": "development"},
        {"name": "HOME", "value": "/home/pwuser"},
    ]}}));
    let d = build(&w, Replicas::Set(1));
    let names = env_names(&d);
    assert_eq!(names.iter().filter(|n| *n == "ENVIRONMENT").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == "HOME").count(), 1);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    let value = |n: &str| {
        c["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == n)
            .map(|e| e["value"].clone())
    };
    assert_eq!(value("ENVIRONMENT"), Some(json!("development")));
    assert_eq!(value("HOME"), Some(json!("/home/pwuser")));
}

#[test]
fn a_user_env_that_shadows_the_operators_is_rejected() {
    let w =
        worker_with(json!({"spec": {"env": [{"name": "TEMPORAL_TASK_QUEUE", "value": "other"}]}}));
    let err = deployment(&w, owner(&w), Replicas::Set(1)).expect_err("clash");
    assert!(err.to_string().contains("TEMPORAL_TASK_QUEUE"), "{err}");
}

#[test]
fn tls_and_api_key_are_references_never_values() {
    let w = worker_with(json!({"spec": {"temporal": {
        "tls": {"secretName": "temporal-mtls", "serverName": "temporal.example.com"},
        "apiKeySecretRef": {"name": "temporal-cloud", "key": "api-key"},
    }}}));
    let d = build(&w, Replicas::Set(1));
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][2]["secret"]["secretName"], "temporal-mtls");
    let c = &pod["containers"][0];
    assert_eq!(c["volumeMounts"][2]["mountPath"], TLS_MOUNT);
    assert_eq!(c["volumeMounts"][2]["readOnly"], true);
    let env = c["env"].as_array().expect("env");
    let get = |n: &str| env.iter().find(|e| e["name"] == n).cloned().expect(n);
    // The names of the `temporal` CLI (`temporal options`) and the SDKs' env config.
    assert_eq!(get("TEMPORAL_TLS")["value"], "true");
    assert_eq!(
        get("TEMPORAL_TLS_CLIENT_CERT_PATH")["value"],
        "/etc/temporal/tls/tls.crt"
    );
    assert_eq!(
        get("TEMPORAL_TLS_CLIENT_KEY_PATH")["value"],
        "/etc/temporal/tls/tls.key"
    );
    assert_eq!(
        get("TEMPORAL_TLS_SERVER_CA_CERT_PATH")["value"],
        "/etc/temporal/tls/ca.crt"
    );
    for old in ["TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"] {
        assert!(env.iter().all(|e| e["name"] != old), "{old} is gone");
    }
    assert_eq!(
        get("TEMPORAL_TLS_SERVER_NAME")["value"],
        "temporal.example.com"
    );
    let key = get("TEMPORAL_API_KEY");
    assert!(key.get("value").is_none(), "{key}");
    assert_eq!(
        key["valueFrom"]["secretKeyRef"],
        json!({"name": "temporal-cloud", "key": "api-key", "optional": false})
    );
}

#[test]
fn an_api_key_alone_turns_tls_on_without_certificate_paths() {
    let w = worker_with(json!({"spec": {"temporal": {
        "apiKeySecretRef": {"name": "temporal-cloud", "key": "api-key"},
    }}}));
    let d = build(&w, Replicas::Set(1));
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone();
    let names: Vec<&str> = env.iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(names.contains(&"TEMPORAL_TLS") && names.contains(&"TEMPORAL_API_KEY"));
    assert!(!names.iter().any(|n| n.ends_with("_PATH")), "{names:?}");
    let plain = build(&worker_with(json!({})), Replicas::Set(1));
    let plain_env = plain["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(!plain_env.contains("TEMPORAL_TLS"), "{plain_env}");
}

#[test]
fn probes_ports_grace_and_rollout() {
    let w =
        worker_with(json!({"spec": {"healthPort": 9000, "terminationGracePeriodSeconds": 600}}));
    let d = build(&w, Replicas::Set(2));
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(
        c["ports"][0],
        json!({"name": "health", "containerPort": 9000, "protocol": "TCP"})
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(pod["terminationGracePeriodSeconds"], 600);
    assert_eq!(
        d["spec"]["strategy"]["rollingUpdate"],
        json!({"maxUnavailable": 0, "maxSurge": 1})
    );
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    // The worker's own /health check of Temporal takes up to 5 s: the probe waits 10.
    assert_eq!(c["livenessProbe"]["timeoutSeconds"], 10);
    assert_eq!(c["readinessProbe"]["timeoutSeconds"], 5);
    assert_eq!(
        CuratorWorker::test("n", "t:1")
            .spec
            .termination_grace_period_seconds,
        300,
        "generous default"
    );
}

#[test]
fn owner_reference_and_labels() {
    let w =
        worker_with(json!({"spec": {"podLabels": {"team": "news"}, "podAnnotations": {"a": "b"}}}));
    let d = build(&w, Replicas::Set(1));
    let o = &d["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            o["kind"].as_str(),
            o["name"].as_str(),
            o["controller"].as_bool()
        ),
        (Some("CuratorWorker"), Some("curator"), Some(true))
    );
    assert_eq!(o["apiVersion"], "curator.buun.dev/v1alpha1");
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "curator-operator"
    );
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/instance"],
        "curator"
    );
    assert_eq!(
        d["spec"]["selector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "buun-curator-worker", "app.kubernetes.io/instance": "curator"})
    );
    let t = &d["spec"]["template"]["metadata"];
    assert_eq!(t["labels"]["team"], "news");
    assert_eq!(t["labels"]["app.kubernetes.io/instance"], "curator");
    assert_eq!(t["annotations"]["a"], "b");
    assert_eq!(
        t["annotations"][CONFIG_HASH_ANNOTATION]
            .as_str()
            .map(str::len),
        Some(16)
    );
}

#[test]
fn the_config_hash_rolls_pods_when_referenced_config_changes() {
    let base = config_hash(&worker_with(json!({})));
    assert_eq!(base, config_hash(&worker_with(json!({}))));
    for change in [
        json!({"spec": {"temporal": {"tls": {"secretName": "other"}}}}),
        json!({"spec": {"env": [{"name": "X", "value": "1"}]}}),
        json!({"spec": {"envFrom": [{"secretRef": {"name": "s2"}}]}}),
        json!({"spec": {"temporal": {"taskQueue": "q2"}}}),
    ] {
        assert_ne!(base, config_hash(&worker_with(change.clone())), "{change}");
    }
    assert_eq!(
        base,
        config_hash(&worker_with(json!({"spec": {"image": "x:2"}}))),
        "the image rolls pods by itself"
    );
}

#[test]
fn the_three_replica_ownership_modes() {
    let w = worker_with(json!({}));
    assert_eq!(build(&w, Replicas::Set(3))["spec"]["replicas"], 3);
    assert_eq!(build(&w, Replicas::Set(0))["spec"]["replicas"], 0);
    let external = build(&w, Replicas::External);
    assert!(
        external["spec"].get("replicas").is_none(),
        "the applied body must not claim replicas: {}",
        external["spec"]
    );
}

#[test]
fn an_empty_image_is_rejected() {
    let w = worker_with(json!({"spec": {"image": " "}}));
    assert!(deployment(&w, owner(&w), Replicas::Set(1)).is_err());
}

#[test]
fn disruption_budget_rules() {
    let fixed1 = worker_with(json!({"spec": {"replicas": 1}}));
    assert!(
        pdb(&fixed1, owner(&fixed1)).is_none(),
        "one fixed replica: no PDB"
    );
    let fixed3 = worker_with(json!({"spec": {"replicas": 3}}));
    let p = serde_json::to_value(pdb(&fixed3, owner(&fixed3)).expect("pdb")).expect("json");
    assert_eq!(p["spec"]["maxUnavailable"], 1);
    assert_eq!(
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
        "curator"
    );
    let external = worker_with(json!({}));
    assert!(
        pdb(&external, owner(&external)).is_some(),
        "external autoscaler may scale out"
    );
    let explicit =
        worker_with(json!({"spec": {"replicas": 1, "disruptionBudget": {"minAvailable": 1}}}));
    let p = serde_json::to_value(pdb(&explicit, owner(&explicit)).expect("pdb")).expect("json");
    assert_eq!(p["spec"]["minAvailable"], 1);
    assert!(p["spec"].get("maxUnavailable").is_none());
}

#[test]
fn the_curator_api_reaches_the_worker_as_url_and_secret_reference() {
    let api = json!({"spec": {"curatorApi": {
        "url": "http://buun-curator.news:3000",
        "tokenSecretRef": {"name": "curator-api", "key": "token"}
    }}});
    let w = worker_with(api.clone());
    let d = build(&w, Replicas::Set(1));
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone();
    let var = |n: &str| env.iter().find(|e| e["name"] == n).cloned().expect(n);
    assert_eq!(
        var("BUUN_CURATOR_API_URL")["value"],
        "http://buun-curator.news:3000"
    );
    let token = var("INTERNAL_API_TOKEN");
    assert!(token.get("value").is_none(), "never the value: {token}");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "curator-api");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["key"], "token");
    // The same names in spec.env would make the worker and the operator disagree.
    let mut clash = worker_with(api);
    clash.spec.env = vec![k8s_openapi::api::core::v1::EnvVar {
        name: "BUUN_CURATOR_API_URL".into(),
        value: Some("http://elsewhere".into()),
        value_from: None,
    }];
    let e = deployment(&clash, owner(&clash), Replicas::Set(1)).expect_err("clash");
    assert!(e.to_string().contains("spec.curatorApi"), "{e}");
    // Without curatorApi the worker's env may set them itself, as before.
    let mut own = worker_with(json!({}));
    own.spec.env = clash.spec.env.clone();
    assert!(deployment(&own, owner(&own), Replicas::Set(1)).is_ok());
    assert_ne!(
        config_hash(&w),
        config_hash(&own),
        "a new API rolls the pods"
    );
}

#[test]
fn a_read_only_root_with_a_writable_home_and_tmp_and_no_token() {
    let d = build(&worker_with(json!({})), Replicas::Set(1));
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(
        pod["volumes"],
        json!([{"name": "home", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}])
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "home", "mountPath": "/home/worker"}, {"name": "tmp", "mountPath": "/tmp"}])
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
}

#[test]
fn the_stop_signal_decides_the_pre_stop_hook() {
    let default = build(&worker_with(json!({})), Replicas::Set(1));
    assert_eq!(
        default["spec"]["template"]["spec"]["containers"][0]["lifecycle"],
        json!({"preStop": {"exec": {"command": ["/bin/sh", "-c", "kill -INT 1"]}}}),
        "SIGINT by default: the worker (PID 1) ignores SIGTERM"
    );
    let term = build(
        &worker_with(json!({"spec": {"stopSignal": "SIGTERM"}})),
        Replicas::Set(1),
    );
    assert!(
        term["spec"]["template"]["spec"]["containers"][0]
            .get("lifecycle")
            .is_none()
    );
}

#[test]
fn pod_overrides_reach_the_deployment_and_bad_ones_fail_the_build() {
    let w = worker_with(
        json!({"spec": {"podOverrides": {"spec": {"hostNetwork": true,
        "volumes": [{"name": "cache", "emptyDir": {}}]}}}}),
    );
    let d = build(&w, Replicas::Set(1));
    assert_eq!(d["spec"]["template"]["spec"]["hostNetwork"], true);
    assert_eq!(d["spec"]["template"]["spec"]["volumes"][2]["name"], "cache");
    // The old pod holds the health port on its node: replaced one at a time, no surge.
    assert_eq!(
        d["spec"]["strategy"]["rollingUpdate"],
        json!({"maxUnavailable": 1, "maxSurge": 0})
    );
    assert_eq!(
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
        "curator"
    );
    let bad = worker_with(json!({"spec": {"podOverrides": {"spec": {"hostNetwrok": true}}}}));
    let err = deployment(&bad, owner(&bad), Replicas::Set(1)).expect_err("bad");
    assert!(err.to_string().contains("hostNetwrok"), "{err}");
}
