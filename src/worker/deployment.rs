//! CuratorWorker → the worker Deployment and PodDisruptionBudget.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, PodSpec,
            PodTemplateSpec, Probe, SeccompProfile, SecretKeySelector, SecretVolumeSource,
            SecurityContext, Volume, VolumeMount,
        },
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference},
        util::intstr::IntOrString,
    },
};
use sha2::{Digest, Sha256};

use crate::crd::{CuratorWorker, SpecError};

/// Pod-template annotation with a hash of the referenced configuration: a changed Secret name,
/// connection or env rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "curator.buun.dev/config-hash";
/// Where the TLS Secret is mounted.
pub const TLS_MOUNT: &str = "/etc/temporal/tls";
/// Environment variables the operator sets; a user `env` entry may not use these names.
pub const RESERVED_ENV: &[&str] = &[
    "TEMPORAL_HOST",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_TASK_QUEUE",
    "HEALTH_PORT",
    "MAX_CONCURRENT_ACTIVITIES",
    "MAX_CONCURRENT_WORKFLOW_TASKS",
    "MAX_CONCURRENT_LOCAL_ACTIVITIES",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_API_KEY",
];

/// Environment variables the operator sets from `spec.curatorApi`, when it is set.
pub const CURATOR_API_ENV: &[&str] = &["BUUN_CURATOR_API_URL", "INTERNAL_API_TOKEN"];

/// Metadata of a child object: the worker's name and namespace, the operator's labels, and a
/// controller owner reference so that deleting the worker garbage-collects it.
fn child_meta(w: &CuratorWorker, name: &str, owner: OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: w.metadata.namespace.clone(),
        labels: Some(labels(name)),
        owner_references: Some(vec![owner]),
        ..Default::default()
    }
}

/// Who owns `replicas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replicas {
    /// The operator sets this count (fixed, or its autoscaler's decision).
    Set(i32),
    /// An external autoscaler owns the field: the operator does not claim it.
    External,
}

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

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// A variable from a Secret key: the value is never copied into the Deployment.
fn secret_env(name: &str, r: &crate::crd::curatorworker::SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: r.name.clone(),
                key: r.key.clone(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
    }
}

/// The operator's env, in a fixed order, followed by the user's.
pub fn container_env(w: &CuratorWorker) -> Result<Vec<EnvVar>, SpecError> {
    let s = &w.spec;
    if let Some(e) = s
        .env
        .iter()
        .find(|e| RESERVED_ENV.contains(&e.name.as_str()))
    {
        return Err(SpecError::Invalid {
            field: "env",
            message: format!(
                "{} is set by the operator from spec.temporal, spec.concurrency or spec.healthPort; set it there",
                e.name
            ),
        });
    }
    if s.curator_api.is_some()
        && let Some(e) = s
            .env
            .iter()
            .find(|e| CURATOR_API_ENV.contains(&e.name.as_str()))
    {
        return Err(SpecError::Invalid {
            field: "env",
            message: format!(
                "{} is set by the operator from spec.curatorApi; set it there, so the worker and the operator use the same API",
                e.name
            ),
        });
    }
    let t = &s.temporal;
    let mut out = vec![
        env("TEMPORAL_HOST", &t.address),
        env("TEMPORAL_NAMESPACE", &t.namespace),
        env("TEMPORAL_TASK_QUEUE", &t.task_queue),
        env("HEALTH_PORT", s.health_port.to_string()),
    ];
    if let Some(c) = &s.concurrency {
        for (name, v) in [
            ("MAX_CONCURRENT_ACTIVITIES", c.max_concurrent_activities),
            (
                "MAX_CONCURRENT_WORKFLOW_TASKS",
                c.max_concurrent_workflow_tasks,
            ),
            (
                "MAX_CONCURRENT_LOCAL_ACTIVITIES",
                c.max_concurrent_local_activities,
            ),
        ] {
            if let Some(v) = v {
                out.push(env(name, v.to_string()));
            }
        }
    }
    // The `temporal` CLI's and the SDKs' environment names, so a worker that learns TLS reads
    // what every Temporal tool reads. An API key implies TLS.
    if t.tls.is_some() || t.api_key_secret_ref.is_some() {
        out.push(env("TEMPORAL_TLS", "true"));
    }
    if let Some(tls) = &t.tls {
        out.push(env(
            "TEMPORAL_TLS_CLIENT_CERT_PATH",
            format!("{TLS_MOUNT}/tls.crt"),
        ));
        out.push(env(
            "TEMPORAL_TLS_CLIENT_KEY_PATH",
            format!("{TLS_MOUNT}/tls.key"),
        ));
        out.push(env(
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
            format!("{TLS_MOUNT}/ca.crt"),
        ));
        if let Some(sn) = &tls.server_name {
            out.push(env("TEMPORAL_TLS_SERVER_NAME", sn));
        }
    }
    if let Some(r) = &t.api_key_secret_ref {
        out.push(secret_env("TEMPORAL_API_KEY", r));
    }
    if let Some(api) = &s.curator_api {
        out.push(env("BUUN_CURATOR_API_URL", &api.url));
        out.push(secret_env("INTERNAL_API_TOKEN", &api.token_secret_ref));
    }
    out.extend(s.env.iter().cloned());
    Ok(out)
}

/// Hash of everything the pods take from the spec besides the image and scheduling fields.
pub fn config_hash(w: &CuratorWorker) -> String {
    let s = &w.spec;
    let mut v = serde_json::json!({
        "temporal": s.temporal, "concurrency": s.concurrency, "env": s.env,
        "envFrom": s.env_from, "healthPort": s.health_port,
    });
    // Only when set, so that workers without it keep their hash (and their pods) as before.
    if let Some(api) = &s.curator_api {
        v["curatorApi"] = serde_json::json!(api);
    }
    let digest = Sha256::digest(v.to_string().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn probe(path: &str, period: i32, initial_delay: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("health".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(3),
        initial_delay_seconds: Some(initial_delay),
        ..Default::default()
    }
}

/// Builds the Deployment. `replicas` says whether the operator claims the field.
pub fn deployment(
    w: &CuratorWorker,
    owner: OwnerReference,
    replicas: Replicas,
) -> Result<Deployment, SpecError> {
    let s = &w.spec;
    let name = w.metadata.name.clone().unwrap_or_default();
    if s.image.trim().is_empty() {
        return Err(SpecError::Invalid {
            field: "image",
            message: "must not be empty".into(),
        });
    }
    let mut pod_labels = s.pod_labels.clone();
    pod_labels.extend(labels(&name));
    let mut pod_annotations = s.pod_annotations.clone();
    pod_annotations.insert(CONFIG_HASH_ANNOTATION.into(), config_hash(w));
    let (volumes, mounts) = match &s.temporal.tls {
        Some(tls) => (
            vec![Volume {
                name: "temporal-tls".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(tls.secret_name.clone()),
                    optional: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            vec![VolumeMount {
                name: "temporal-tls".into(),
                mount_path: TLS_MOUNT.into(),
                read_only: Some(true),
                ..Default::default()
            }],
        ),
        None => (vec![], vec![]),
    };
    let container = Container {
        name: "worker".into(),
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
        liveness_probe: Some(probe("/health", 20, 10)),
        readiness_probe: Some(probe("/ready", 10, 5)),
        resources: s.resources.clone(),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
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
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Default::default()
    };
    Ok(Deployment {
        metadata: child_meta(w, &name, owner),
        spec: Some(DeploymentSpec {
            replicas: match replicas {
                Replicas::Set(n) => Some(n),
                Replicas::External => None,
            },
            selector: LabelSelector {
                match_labels: Some(selector_labels(&name)),
                match_expressions: None,
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    termination_grace_period_seconds: Some(s.termination_grace_period_seconds),
                    service_account_name: s.service_account_name.clone(),
                    image_pull_secrets: (!s.image_pull_secrets.is_empty())
                        .then(|| s.image_pull_secrets.clone()),
                    node_selector: (!s.node_selector.is_empty()).then(|| s.node_selector.clone()),
                    tolerations: (!s.tolerations.is_empty()).then(|| s.tolerations.clone()),
                    affinity: s.affinity.clone(),
                    security_context: s.security_context.clone(),
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    })
}

/// Builds the PodDisruptionBudget, if the worker gets one: when `disruptionBudget` is set, or
/// by default (`maxUnavailable: 1`) when the worker may run more than one replica.
pub fn pdb(w: &CuratorWorker, owner: OwnerReference) -> Option<PodDisruptionBudget> {
    let s = &w.spec;
    let name = w.metadata.name.clone().unwrap_or_default();
    let (min_available, max_unavailable) = match &s.disruption_budget {
        Some(b) => (b.min_available, b.max_unavailable),
        None => {
            let may_exceed_one = match (&s.replicas, &s.autoscaling) {
                (Some(n), _) => *n > 1,
                (None, Some(a)) => a.max_replicas > 1,
                (None, None) => true,
            };
            if !may_exceed_one {
                return None;
            }
            (None, Some(1))
        }
    };
    Some(PodDisruptionBudget {
        metadata: child_meta(w, &name, owner),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: min_available.map(IntOrString::Int),
            max_unavailable: max_unavailable.map(IntOrString::Int),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(&name)),
                match_expressions: None,
            }),
            ..Default::default()
        }),
        status: None,
    })
}

#[cfg(test)]
#[path = "deployment_tests.rs"]
mod tests;
