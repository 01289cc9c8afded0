//! The `curator.buun.dev/v1alpha1` API: one module per kind, plus shared types.

pub mod address;
pub mod api_url;
pub mod condition_list;
pub mod conditions;
pub mod curatorworker;
pub mod curatorworker_status;
pub mod duration;
pub mod error;
pub mod feedclaim;
pub mod feedsource;
pub mod feedsource_status;
pub mod fingerprint;

pub use curatorworker::{CuratorWorker, CuratorWorkerSpec, CuratorWorkerStatus};
pub use duration::GoDuration;
pub use error::SpecError;
pub use feedsource::{FeedSource, FeedSourceSpec, FeedSourceStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every kind.
pub const GROUP: &str = "curator.buun.dev";

/// Every CRD this operator serves, with the file name it is generated into under `crds/`.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("curatorworker.yaml", CuratorWorker::crd()),
        ("feedsource.yaml", FeedSource::crd()),
        ("feedclaim.yaml", feedclaim::FeedClaim::crd()),
    ]
}

/// Renders one CRD as the YAML document checked in under `crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(crd)
}
