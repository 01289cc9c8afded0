//! The observed state of a CuratorWorker, as its status subresource holds it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Temporal frontend and namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemporalLocation {
    /// Frontend `host:port`.
    pub address: String,
    /// Temporal namespace.
    pub namespace: String,
}

/// Observed state of a CuratorWorker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CuratorWorkerStatus {
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Replicas of the Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Ready replicas of the Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Replicas the operator wants (fixed or autoscaled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Approximate tasks waiting on the task queue at the last poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<i64>,
    /// FeedSources that reference this worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feeds: Option<i32>,
    /// Earliest next scheduled run among those FeedSources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Time>,
    /// When the operator last changed the replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// Since when the autoscaler has wanted fewer replicas than run; it scales down once that
    /// has held for `autoscaling.scaleDownDelay`. Kept here so that a new leader honours it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_since: Option<Time>,
    /// Where the operator paused buun-curator's global schedule for this worker (the Temporal
    /// address and namespace): the pause is lifted there when the worker moves, stops asking,
    /// or goes away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_schedule_paused_at: Option<TemporalLocation>,
    /// Conditions: `Ready`, `SettingsProvided`, `TemporalReachable`, `Scaling`,
    /// `GlobalScheduleActive`, and kstatus' `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
