//! Tests of the `podOverrides` merge.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{Value, json};

use super::*;
use crate::{crd::CuratorWorker, worker::pod};

fn worker(overrides: Value) -> CuratorWorker {
    CuratorWorker::test("news", "temporal:7233").with_spec(json!({ "podOverrides": overrides }))
}

/// The operator's template of `w` with its overrides merged, as JSON.
fn merged(w: &CuratorWorker) -> Value {
    let mut t = pod::template(w, "curator").expect("template");
    merge(&mut t, w, "curator").expect("merges");
    serde_json::to_value(t).expect("json")
}

fn rejected(overrides: Value) -> String {
    let w = worker(overrides);
    let mut t = pod::template(&w, "curator").expect("template");
    merge(&mut t, &w, "curator")
        .expect_err("rejected")
        .to_string()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect()
}

#[test]
fn no_overrides_leave_the_template_as_generated() {
    let w = CuratorWorker::test("news", "temporal:7233");
    let generated = serde_json::to_value(pod::template(&w, "curator").expect("t")).expect("json");
    assert_eq!(merged(&w), generated);
    assert_eq!(merged(&worker(json!({}))), generated);
}

#[test]
fn volumes_sidecars_and_init_containers_are_added_by_name() {
    let w = worker(json!({"spec": {
        "volumes": [{"name": "browser-cache", "emptyDir": {"sizeLimit": "1Gi"}}],
        "containers": [
            {"name": "worker", "volumeMounts": [{"name": "browser-cache", "mountPath": "/cache"}],
             "env": [{"name": "CRAWL4AI_CACHE", "value": "/cache"}]},
            {"name": "log-shipper", "image": "fluent/fluent-bit:3"},
        ],
        "initContainers": [{"name": "warm", "image": "busybox:1", "command": ["true"]}],
    }}));
    let t = merged(&w);
    let spec = &t["spec"];
    assert_eq!(names(&spec["volumes"]), ["home", "tmp", "browser-cache"]);
    assert_eq!(names(&spec["containers"]), ["worker", "log-shipper"]);
    assert_eq!(names(&spec["initContainers"]), ["warm"]);
    let worker = &spec["containers"][0];
    // Merged into the operator's container, not replacing it.
    assert_eq!(worker["image"], "ghcr.io/buun-ch/buun-curator-worker:1.0");
    assert_eq!(worker["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(
        names(&worker["volumeMounts"]),
        ["home", "tmp", "browser-cache"]
    );
    let env = names(&worker["env"]);
    assert_eq!(env[0], "TEMPORAL_HOST");
    assert_eq!(env.last(), Some(&"CRAWL4AI_CACHE"));
}

#[test]
fn scalar_and_object_fields_are_set_or_merged() {
    let w = worker(json!({
        "metadata": {"labels": {"team": "news"}, "annotations": {"a": "b"}},
        "spec": {
            "hostNetwork": true,
            "priorityClassName": "batch-low",
            "runtimeClassName": "gvisor",
            "automountServiceAccountToken": true,
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "curator"}}}],
            "containers": [{"name": "worker",
                "securityContext": {"readOnlyRootFilesystem": false},
                "resources": {"limits": {"memory": "2Gi"}}}],
        }
    }));
    let t = merged(&w);
    let spec = &t["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["priorityClassName"], "batch-low");
    assert_eq!(spec["runtimeClassName"], "gvisor");
    assert_eq!(spec["automountServiceAccountToken"], true);
    assert_eq!(
        spec["topologySpreadConstraints"][0]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let sc = &spec["containers"][0]["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], false, "overridden");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "kept");
    assert_eq!(
        spec["containers"][0]["resources"]["limits"]["memory"],
        "2Gi"
    );
    let labels = &t["metadata"]["labels"];
    assert_eq!(labels["team"], "news");
    assert_eq!(labels["app.kubernetes.io/instance"], "curator");
    assert_eq!(t["metadata"]["annotations"]["a"], "b");
    assert!(
        t["metadata"]["annotations"][pod::CONFIG_HASH_ANNOTATION].is_string(),
        "the operator's annotation stays"
    );
}

#[test]
fn atomic_lists_are_replaced() {
    let w = CuratorWorker::test("news", "temporal:7233").with_spec(json!({
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "podOverrides": {"spec": {
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "containers": [{"name": "worker", "args": ["--fast"]}],
        }},
    }));
    let t = merged(&w);
    assert_eq!(
        t["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    assert_eq!(t["spec"]["containers"][0]["args"], json!(["--fast"]));
}

#[test]
fn the_fields_the_operator_keeps_are_refused() {
    for (overrides, says) in [
        (
            json!({"metadata": {"labels": {"app.kubernetes.io/instance": "other"}}}),
            "selector label",
        ),
        (
            json!({"metadata": {"annotations": {"curator.buun.dev/config-hash": "x"}}}),
            "keeps this annotation",
        ),
        (
            json!({"spec": {"containers": [{"name": "worker", "image": "other:1"}]}}),
            "set spec.image",
        ),
        (
            json!({"spec": {"containers": [{"name": "worker",
                "env": [{"name": "TEMPORAL_TASK_QUEUE", "value": "elsewhere"}]}]}}),
            "TEMPORAL_TASK_QUEUE is set by the operator",
        ),
    ] {
        let msg = rejected(overrides.clone());
        assert!(msg.contains(says), "{overrides}: {msg}");
        assert!(msg.starts_with("podOverrides: "), "{msg}");
    }
    // The selector label with the operator's own value is no override at all.
    let w = worker(json!({"metadata": {"labels": {"app.kubernetes.io/instance": "curator"}}}));
    assert_eq!(
        merged(&w)["metadata"]["labels"]["app.kubernetes.io/instance"],
        "curator"
    );
}

#[test]
fn malformed_overrides_are_refused_with_the_path() {
    for (overrides, says) in [
        (
            json!({"spec": {"hostNetwrok": true}}),
            "spec.hostNetwrok: unknown field",
        ),
        (
            json!({"spec": {"containers": [{"name": "worker", "volumeMount": []}]}}),
            "spec.containers[0].volumeMount: unknown field",
        ),
        (
            json!({"spec": {"hostNetwork": "yes"}}),
            "not a pod template",
        ),
        (
            json!({"spec": {"containers": [{"name": "sidecar"}]}}),
            "an added container needs an image",
        ),
        (
            json!({"spec": {"initContainers": [{"image": "busybox"}]}}),
            "every entry needs a name",
        ),
    ] {
        let msg = rejected(overrides.clone());
        assert!(msg.contains(says), "{overrides}: {msg}");
    }
}

#[test]
fn parse_keeps_what_it_was_given() {
    let raw = json!({"spec": {"containers": [], "volumes": [{"name": "v", "emptyDir": {}}]}});
    let t: PodTemplateSpec = parse(&raw).expect("parses");
    assert_eq!(t.spec.expect("spec").volumes.expect("volumes")[0].name, "v");
}
