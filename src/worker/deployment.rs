//! CuratorWorker → the worker Deployment and PodDisruptionBudget.

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference},
        util::intstr::IntOrString,
    },
};

pub use super::{
    env::{CURATOR_API_ENV, RESERVED_ENV, TLS_MOUNT, config_hash, container_env},
    pod::{CONFIG_HASH_ANNOTATION, labels, selector_labels},
};
use super::{pod, pod_overrides};
use crate::crd::{CuratorWorker, SpecError};

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

/// Builds the Deployment: the operator's pod template with the worker's `podOverrides` merged
/// over it. `replicas` says whether the operator claims the field.
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
    let mut template = pod::template(w, &name)?;
    pod_overrides::merge(&mut template, w, &name)?;
    // A new pod starts before an old one stops (no gap in polling), except with hostNetwork:
    // the old pod holds the health port on its node, so a surge pod could not start beside it
    // there, and pods are replaced one at a time.
    let host_network = template
        .spec
        .as_ref()
        .is_some_and(|p| p.host_network == Some(true));
    let (max_surge, max_unavailable) = if host_network { (0, 1) } else { (1, 0) };
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
                    max_unavailable: Some(IntOrString::Int(max_unavailable)),
                    max_surge: Some(IntOrString::Int(max_surge)),
                }),
            }),
            template,
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
