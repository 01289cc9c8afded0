//! The worker's pod template as the operator generates it: one container with the operator's
//! env, probes, hardened security context, stop hook and writable directories.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{
        Capabilities, Container, ContainerPort, EmptyDirVolumeSource, ExecAction, HTTPGetAction,
        Lifecycle, LifecycleHandler, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
        SecretVolumeSource, SecurityContext, Volume, VolumeMount,
    },
    apimachinery::pkg::{apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};

pub use super::env::HOME_MOUNT;
use super::env::{TLS_MOUNT, config_hash, container_env};
use crate::crd::{CuratorWorker, SpecError, curatorworker::StopSignal};

/// Pod-template annotation with a hash of the referenced configuration: a changed Secret name,
/// connection or env rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "curator.buun.dev/config-hash";
/// Name of the worker's container (the one `podOverrides` merges into by this name).
pub const WORKER_CONTAINER: &str = "worker";
/// The preStop hook of `stopSignal: SIGINT`: the worker (PID 1) ignores SIGTERM but stops on
/// SIGINT, which Python turns into KeyboardInterrupt.
pub const SIGINT_HOOK: [&str; 3] = ["/bin/sh", "-c", "kill -INT 1"];
/// Seconds the liveness probe waits for `/health`: the worker's own Temporal check inside it
/// takes up to 5 s, so the probe gets twice that.
pub const LIVENESS_TIMEOUT: i32 = 10;

/// Labels that select the worker's pods (immutable once the Deployment exists).
pub fn selector_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "buun-curator-worker".to_owned(),
        ),
        ("app.kubernetes.io/instance".to_owned(), name.to_owned()),
    ])
}

/// All labels of the operator's objects.
pub fn labels(name: &str) -> BTreeMap<String, String> {
    let mut l = selector_labels(name);
    l.insert("app.kubernetes.io/component".into(), "worker".into());
    l.insert("app.kubernetes.io/part-of".into(), "buun-curator".into());
    l.insert(
        "app.kubernetes.io/managed-by".into(),
        "curator-operator".into(),
    );
    l
}

fn probe(path: &str, period: i32, initial_delay: i32, timeout: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("health".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(timeout),
        failure_threshold: Some(3),
        initial_delay_seconds: Some(initial_delay),
        ..Default::default()
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// The volumes and mounts: a writable home and `/tmp` (the root filesystem is read-only), and
/// the TLS Secret when the connection uses one.
fn volumes(w: &CuratorWorker) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = vec![empty_dir("home"), empty_dir("tmp")];
    let mut mounts = vec![
        mount("home", HOME_MOUNT, false),
        mount("tmp", "/tmp", false),
    ];
    if let Some(tls) = &w.spec.temporal.tls {
        volumes.push(Volume {
            name: "temporal-tls".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(tls.secret_name.clone()),
                optional: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(mount("temporal-tls", TLS_MOUNT, true));
    }
    (volumes, mounts)
}

/// The container's hooks: the SIGINT preStop hook, or none.
fn lifecycle(stop: StopSignal) -> Option<Lifecycle> {
    match stop {
        StopSignal::Sigint => Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(SIGINT_HOOK.iter().map(|s| (*s).to_owned()).collect()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        StopSignal::Sigterm => None,
    }
}

/// The worker container.
fn container(w: &CuratorWorker, mounts: Vec<VolumeMount>) -> Result<Container, SpecError> {
    let s = &w.spec;
    Ok(Container {
        name: WORKER_CONTAINER.into(),
        image: Some(s.image.clone()),
        image_pull_policy: s
            .image_pull_policy
            .map(|p| {
                serde_json::to_value(p)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            })
            .unwrap_or_default(),
        env: Some(container_env(w)?),
        env_from: (!s.env_from.is_empty()).then(|| s.env_from.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("health".into()),
            container_port: s.health_port,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        liveness_probe: Some(probe("/health", 20, 10, LIVENESS_TIMEOUT)),
        readiness_probe: Some(probe("/ready", 10, 5, 5)),
        lifecycle: lifecycle(s.stop_signal),
        resources: s.resources.clone(),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        volume_mounts: Some(mounts),
        ..Default::default()
    })
}

/// The pod template of worker `name`, before `podOverrides`.
pub fn template(w: &CuratorWorker, name: &str) -> Result<PodTemplateSpec, SpecError> {
    let s = &w.spec;
    let mut pod_labels = s.pod_labels.clone();
    pod_labels.extend(labels(name));
    let mut pod_annotations = s.pod_annotations.clone();
    pod_annotations.insert(CONFIG_HASH_ANNOTATION.into(), config_hash(w));
    let (volumes, mounts) = volumes(w);
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(pod_annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container(w, mounts)?],
            termination_grace_period_seconds: Some(s.termination_grace_period_seconds),
            service_account_name: s.service_account_name.clone(),
            // The worker never calls the Kubernetes API (podOverrides can turn it back on).
            automount_service_account_token: Some(false),
            image_pull_secrets: (!s.image_pull_secrets.is_empty())
                .then(|| s.image_pull_secrets.clone()),
            node_selector: (!s.node_selector.is_empty()).then(|| s.node_selector.clone()),
            tolerations: (!s.tolerations.is_empty()).then(|| s.tolerations.clone()),
            affinity: s.affinity.clone(),
            security_context: s.security_context.clone(),
            volumes: Some(volumes),
            ..Default::default()
        }),
    })
}
