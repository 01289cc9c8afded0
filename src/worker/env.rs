//! The worker container's environment: what the operator sets from the spec, then the user's.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use sha2::{Digest, Sha256};

use crate::crd::{CuratorWorker, CuratorWorkerSpec, SpecError, curatorworker::TemporalConnection};

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
/// Variables the operator sets with a default of its own unless the user's `env` sets them:
/// `ENVIRONMENT` (anything but `development` makes buun-curator log JSON instead of coloured
/// console text) and `HOME` (a writable emptyDir: crawl4ai creates `~/.crawl4ai` on import, and
/// the root filesystem is read-only).
pub const DEFAULTED_ENV: &[(&str, &str)] = &[("ENVIRONMENT", "production"), ("HOME", HOME_MOUNT)];

/// The worker's writable home (an emptyDir), its `HOME` unless the user's env sets one.
pub const HOME_MOUNT: &str = "/home/worker";

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

/// The operator's env, in a fixed order, then its [`DEFAULTED_ENV`] the user does not set, then
/// the user's.
pub fn container_env(w: &CuratorWorker) -> Result<Vec<EnvVar>, SpecError> {
    let s = &w.spec;
    check_user_env(s)?;
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
    out.extend(tls_env(t));
    if let Some(api) = &s.curator_api {
        out.push(env("BUUN_CURATOR_API_URL", &api.url));
        out.push(secret_env("INTERNAL_API_TOKEN", &api.token_secret_ref));
    }
    for (name, value) in DEFAULTED_ENV {
        if !s.env.iter().any(|e| e.name == *name) {
            out.push(env(name, *value));
        }
    }
    out.extend(s.env.iter().cloned());
    Ok(out)
}

/// The user's `env` may not set what the operator sets from the spec.
fn check_user_env(s: &CuratorWorkerSpec) -> Result<(), SpecError> {
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
    Ok(())
}

/// How the worker reaches Temporal over TLS, by the `temporal` CLI's and the SDKs'
/// environment names, so a worker that learns TLS reads what every Temporal tool reads. An API
/// key implies TLS.
fn tls_env(t: &TemporalConnection) -> Vec<EnvVar> {
    let mut out = Vec::new();
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
    out
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
