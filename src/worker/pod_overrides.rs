//! `podOverrides`: the user's partial pod template merged over the one the operator generates,
//! in the style of Stackable's operators. PURE.
//!
//! The merge is k8s-openapi's [`DeepMerge`], which follows the API's own list types: containers,
//! init containers, volumes, env, volume mounts and ports merge by their key (name, or port),
//! atomic lists (`args`, `command`, `tolerations`) are replaced, maps and objects merge field by
//! field, and a scalar set in the override wins. The operator keeps a few fields for itself and
//! rejects an override of them, so that the worker can never silently drift from what the
//! operator schedules for (see [`check`]).

use k8s_openapi::{
    DeepMerge,
    api::core::v1::{Container, PodTemplateSpec},
};
use serde_json::Value;

use super::{
    env::{CURATOR_API_ENV, RESERVED_ENV},
    pod::{CONFIG_HASH_ANNOTATION, WORKER_CONTAINER, selector_labels},
};
use crate::crd::{CuratorWorker, SpecError};

fn invalid(message: String) -> SpecError {
    SpecError::Invalid {
        field: "podOverrides",
        message,
    }
}

/// Merges the worker's `podOverrides` (if any) over `template`, the operator's pod template of
/// worker `name`.
pub fn merge(
    template: &mut PodTemplateSpec,
    w: &CuratorWorker,
    name: &str,
) -> Result<(), SpecError> {
    let Some(raw) = &w.spec.pod_overrides else {
        return Ok(());
    };
    let overrides = parse(raw)?;
    check(&overrides, w, name)?;
    template.merge_from(overrides);
    Ok(())
}

/// Parses the override as a pod template, refusing fields the API does not have (a typo such
/// as `hostNetwrok` would otherwise be dropped without a word).
pub fn parse(raw: &Value) -> Result<PodTemplateSpec, SpecError> {
    let parsed: PodTemplateSpec = serde_json::from_value(raw.clone())
        .map_err(|e| invalid(format!("not a pod template: {e}")))?;
    let back = serde_json::to_value(&parsed).unwrap_or(Value::Null);
    if let Some(path) = unknown_field(raw, &back, String::new()) {
        return Err(invalid(format!("{path}: unknown field")));
    }
    Ok(parsed)
}

/// The first path of `raw` that the parsed form `back` does not hold.
fn unknown_field(raw: &Value, back: &Value, path: String) -> Option<String> {
    match (raw, back) {
        (Value::Object(r), Value::Object(b)) => r.iter().find_map(|(k, v)| {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match b.get(k) {
                _ if v.is_null() => None,
                Some(bv) => unknown_field(v, bv, at),
                None => Some(at),
            }
        }),
        (Value::Array(r), Value::Array(b)) => r
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (rv, bv))| unknown_field(rv, bv, format!("{path}[{i}]"))),
        _ => None,
    }
}

/// What the operator keeps for itself:
/// - the selector labels: a Deployment's selector is immutable and must match its pods;
/// - the config-hash annotation: it rolls the pods when referenced configuration changes;
/// - the worker container's `image` (from `spec.image`) and the env variables the operator
///   sets from the spec: the operator schedules for that Temporal address, namespace and task
///   queue, so a worker polling elsewhere would leave every run waiting.
///
/// And an added container or init container needs a name and an image.
pub fn check(o: &PodTemplateSpec, w: &CuratorWorker, name: &str) -> Result<(), SpecError> {
    let meta = o.metadata.as_ref();
    for (k, v) in selector_labels(name) {
        if let Some(theirs) = meta.and_then(|m| m.labels.as_ref()).and_then(|l| l.get(&k))
            && *theirs != v
        {
            return Err(invalid(format!(
                "metadata.labels.{k}: the operator keeps this selector label ({v})"
            )));
        }
    }
    if meta
        .and_then(|m| m.annotations.as_ref())
        .is_some_and(|a| a.contains_key(CONFIG_HASH_ANNOTATION))
    {
        return Err(invalid(format!(
            "metadata.annotations.{CONFIG_HASH_ANNOTATION}: the operator keeps this annotation"
        )));
    }
    let Some(spec) = &o.spec else {
        return Ok(());
    };
    for c in &spec.containers {
        if c.name == WORKER_CONTAINER {
            check_worker(c, w)?;
        } else {
            check_added(c, "containers")?;
        }
    }
    for c in spec.init_containers.iter().flatten() {
        check_added(c, "initContainers")?;
    }
    Ok(())
}

fn check_worker(c: &Container, w: &CuratorWorker) -> Result<(), SpecError> {
    if c.image.is_some() {
        return Err(invalid(format!(
            "spec.containers[{WORKER_CONTAINER}].image: set spec.image"
        )));
    }
    let api = w.spec.curator_api.is_some();
    if let Some(e) = c.env.iter().flatten().find(|e| {
        RESERVED_ENV.contains(&e.name.as_str())
            || (api && CURATOR_API_ENV.contains(&e.name.as_str()))
    }) {
        return Err(invalid(format!(
            "spec.containers[{WORKER_CONTAINER}].env: {} is set by the operator from the spec; set it there",
            e.name
        )));
    }
    Ok(())
}

fn check_added(c: &Container, list: &str) -> Result<(), SpecError> {
    if c.name.is_empty() {
        return Err(invalid(format!("spec.{list}: every entry needs a name")));
    }
    if c.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
        return Err(invalid(format!(
            "spec.{list}[{}].image: an added container needs an image",
            c.name
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "pod_overrides_tests.rs"]
mod tests;
