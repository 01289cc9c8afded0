//! `CuratorWorker`: a buun-curator Temporal worker Deployment and the Temporal connection it uses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvFromSource, EnvVar, LocalObjectReference, PodSecurityContext,
    ResourceRequirements, Toleration,
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::curatorworker_status::{CuratorWorkerStatus, TemporalLocation};
use super::duration::GoDuration;

/// The CuratorWorker's finalizer: what the operator did outside the worker's own children (a
/// pause of buun-curator's global schedule) is undone, and FeedSources that still need the
/// worker's connection remove their schedules, before the worker goes away.
pub const FINALIZER: &str = "curator.buun.dev/worker";

/// Desired state of a buun-curator worker: its Deployment, its Temporal connection, and how many
/// replicas it runs.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) entries repeat the same keys by design"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "curator.buun.dev",
    version = "v1alpha1",
    kind = "CuratorWorker",
    plural = "curatorworkers",
    namespaced,
    cel,
    validation = Rule::new("size(self.metadata.name) <= 63")
        .message("metadata.name must be at most 63 characters: it is used as a label value"),
    status = "CuratorWorkerStatus",
    shortname = "cw",
    category = "curator",
    doc = "A buun-curator Temporal worker: its Deployment, Temporal connection and scaling.",
    printcolumn(
        name = "Queue",
        type_ = "string",
        json_path = ".spec.temporal.taskQueue"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredReplicas"
    ),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Backlog", type_ = "integer", json_path = ".status.backlog"),
    printcolumn(name = "Feeds", type_ = "integer", json_path = ".status.feeds"),
    // A string, not a date: kubectl prints a date column as an age, and a future time as
    // `<invalid>`.
    printcolumn(
        name = "Next Run",
        type_ = "string",
        description = "The earliest next run among the FeedSources it serves (RFC 3339, UTC).",
        json_path = ".status.nextRun"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        priority = 1,
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    cel,
    validation = Rule::new("!(has(self.replicas) && has(self.autoscaling))").message("set either replicas (fixed) or autoscaling, not both; set neither to let an external autoscaler own replicas")
)]
#[serde(rename_all = "camelCase")]
pub struct CuratorWorkerSpec {
    /// Container image of the buun-curator worker (`python -m buun_curator.worker`).
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
    /// Image pull policy (`Always`, `IfNotPresent`, `Never`); Kubernetes' default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Secrets used to pull the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// How the worker, and the operator on its behalf, reach Temporal.
    pub temporal: TemporalConnection,
    /// buun-curator's API, as the worker reads it (`BUUN_CURATOR_API_URL`, and
    /// `INTERNAL_API_TOKEN` from the Secret). With it, the operator registers each FeedSource's
    /// feed there and keeps its name, URL, site URL, content fetching and fetch limit in line
    /// with the spec; without it, FeedSources need `feed.id` and their feeds are not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curator_api: Option<CuratorApi>,
    /// What to do with buun-curator's own schedule `ingest-schedule`, which ingests every feed
    /// again, while this worker's FeedSources ingest theirs: `Leave` (default) only reports it
    /// (condition `GlobalScheduleActive`), `Pause` pauses it when the operator is allowed to
    /// (`--allow-global-schedule-pause`: the schedule serves every namespace), and unpauses it
    /// when this field changes, the worker moves or is deleted, if the operator paused it. It
    /// is never deleted.
    #[serde(default)]
    pub global_ingest_schedule: GlobalIngestSchedule,
    /// Fixed number of replicas. Mutually exclusive with `autoscaling`; when neither is set, the
    /// operator leaves `replicas` to an external autoscaler (HPA, KEDA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    /// Let the operator scale the worker from the task queue backlog, the feeds it serves and
    /// the next scheduled run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Worker slot limits, passed as `MAX_CONCURRENT_*` (0 or unset: the SDK default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// Extra environment variables of the worker container (after the operator's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Environment from ConfigMaps and Secrets (for API tokens and LLM keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Environment variables the worker cannot start without. The operator follows each one
    /// through what it sets itself (`INTERNAL_API_TOKEN` from `curatorApi`), `env` and
    /// `envFrom`, to the Secret or ConfigMap key it comes from, and reports one that is
    /// missing in the condition `SettingsProvided` and as `Ready=False`, reason
    /// `MissingSettings` (it looks again at every reconcile, every 30s while one is missing).
    /// The default is what buun-curator's worker requires at start: `OPENAI_API_KEY` (even when
    /// no run calls an LLM) and `INTERNAL_API_TOKEN`. A fork of the worker may need others, or
    /// none (`[]`).
    #[serde(default = "default_required_env")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 253)))]
    pub required_env: Vec<String>,
    /// CPU and memory requests and limits of the worker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the worker pods must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the worker pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Affinity rules of the worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// ServiceAccount the worker pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Annotations added to the worker pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Labels added to the worker pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
    /// Pod-level security context of the worker pods. For Pod Security `restricted`, set
    /// `runAsNonRoot: true` with a numeric `runAsUser` (and `runAsGroup`): the upstream image's
    /// user `pwuser` is not numeric, so the kubelet can only verify it as uid `1001`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Seconds a stopping pod gets to finish in-flight activities; the worker does not drain on
    /// SIGTERM by itself, so this is all the time they get.
    #[serde(default = "default_grace")]
    #[schemars(range(min = 0, max = 86400))]
    pub termination_grace_period_seconds: i64,
    /// Port of the worker's health server (`HEALTH_PORT`): `/health` and `/ready`.
    #[serde(default = "default_health_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub health_port: i32,
    /// PodDisruptionBudget of the worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disruption_budget: Option<DisruptionBudget>,
    /// How a stopping worker pod (rollout, scale-down, eviction, deletion) is told to stop.
    /// buun-curator's worker is PID 1 in its container and installs no SIGTERM handler, so the
    /// kernel drops the kubelet's SIGTERM: the pod would go on taking new work until
    /// `terminationGracePeriodSeconds` ends it with SIGKILL. `SIGINT` (default): a preStop hook
    /// runs `/bin/sh -c 'kill -INT 1'`; Python raises KeyboardInterrupt, the Temporal SDK stops
    /// polling and the worker exits within seconds; activities it was running are cancelled and
    /// Temporal retries them on another worker, so their runs complete there. `SIGTERM`: no hook,
    /// only the kubelet's SIGTERM, for an image whose PID 1 handles it (e.g. under tini).
    #[serde(default)]
    pub stop_signal: StopSignal,
    /// A partial pod template (`metadata` and `spec`, as in a Deployment's `template`) merged
    /// over the one the operator generates: for volumes, sidecars, init containers, a priority
    /// class, topology spread, a runtime class, `hostNetwork`, or any other pod field. Merged
    /// as Kubernetes merges such lists: containers, init containers, volumes, env and volume
    /// mounts by name (the worker's container is named `worker`), other lists replaced, maps
    /// and objects field by field. The operator keeps for itself, and rejects overrides of: the
    /// selector labels `app.kubernetes.io/name` and `app.kubernetes.io/instance` (a
    /// Deployment's selector cannot change), the `curator.buun.dev/config-hash` annotation, and
    /// the worker container's `image` and the env variables it sets from the spec (the
    /// operator schedules for the same Temporal address, namespace and task queue, so the two
    /// must agree: set them in their fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "pod_overrides_schema")]
    pub pod_overrides: Option<serde_json::Value>,
}

/// `podOverrides` in the CRD: any object, kept as written (the operator checks it when it
/// builds the Deployment and reports a bad one in the status).
fn pod_overrides_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// How a stopping worker pod is told to stop.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum StopSignal {
    /// A preStop hook sends SIGINT to PID 1 (buun-curator's worker stops at once).
    #[default]
    #[serde(rename = "SIGINT")]
    Sigint,
    /// No hook: only the kubelet's SIGTERM.
    #[serde(rename = "SIGTERM")]
    Sigterm,
}

/// What buun-curator's worker requires at start (`spec.requiredEnv`'s default): it exits
/// without them (`ValueError: Required environment variable 'OPENAI_API_KEY' is not set`).
pub const REQUIRED_ENV: &[&str] = &["OPENAI_API_KEY", "INTERNAL_API_TOKEN"];

fn default_required_env() -> Vec<String> {
    REQUIRED_ENV.iter().map(|s| (*s).to_owned()).collect()
}

fn default_grace() -> i64 {
    300
}

fn default_health_port() -> i32 {
    8080
}

/// Kubernetes image pull policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull only if the image is not on the node.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// The Temporal frontend, namespace and task queue, and how to authenticate.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TemporalConnection {
    /// Temporal frontend as `host:port`, e.g. `temporal-frontend.temporal:7233`: a DNS name
    /// (its last label beginning with a letter), a dotted-quad IPv4 address or a bracketed
    /// IPv6 address, and a port from 1 to 65535; no scheme, user, path or other character. The
    /// operator's `--allowed-temporal-addresses` may restrict it further: a CuratorWorker
    /// whose address is not allowed gets no Deployment.
    #[schemars(length(min = 3, max = 259))]
    #[x_kube(
        validation = Rule::new(super::address::CEL_RULE).message("address must be host:port: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port from 1 to 65535"),
        validation = Rule::new("self.lastIndexOf(':') <= 253").message("the host of address must be at most 253 characters")
    )]
    pub address: String,
    /// Temporal namespace.
    #[serde(default = "default_namespace")]
    #[schemars(length(min = 1, max = 255))]
    pub namespace: String,
    /// Task queue the worker polls and the schedules start workflows on.
    #[serde(default = "default_task_queue")]
    #[schemars(length(min = 1, max = 1000))]
    pub task_queue: String,
    /// mTLS to the frontend; the Secret (same namespace) holds `tls.crt`, `tls.key` and,
    /// optionally, `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TemporalTls>,
    /// API key (e.g. Temporal Cloud), read from a Secret key; implies TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
}

fn default_namespace() -> String {
    "default".to_owned()
}

fn default_task_queue() -> String {
    "buun-curator".to_owned()
}

/// buun-curator's API.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CuratorApi {
    /// Base URL of buun-curator (the Next.js app), e.g. `https://buun-curator.news:3000`:
    /// `http://` or `https://`, a DNS name, IPv4 or bracketed IPv6 host, an optional port and
    /// path; no user, query or fragment. The operator sends the token only to a URL its
    /// `--allowed-curator-api-urls` allows, and in cleartext (`http://`) only to loopback or
    /// to an `http://` URL that list names; a CuratorWorker whose URL is refused gets no
    /// Deployment.
    #[schemars(length(min = 8, max = 2048))]
    #[x_kube(validation = Rule::new(super::api_url::CEL_RULE).message("curatorApi.url must be http:// or https://, a host, an optional port and path; no user, query or fragment"))]
    pub url: String,
    /// The Secret key holding buun-curator's internal API token (`INTERNAL_API_TOKEN`).
    pub token_secret_ref: SecretKeyRef,
}

/// buun-curator's global ingestion schedule, while FeedSources ingest feeds one by one.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum GlobalIngestSchedule {
    /// Leave it as it is; report when it runs (default).
    #[default]
    Leave,
    /// Pause it while this worker serves FeedSources.
    Pause,
}

/// TLS settings for the Temporal connection.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemporalTls {
    /// Secret (same namespace) with `tls.crt`, `tls.key` and optionally `ca.crt`.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// Server name to verify instead of the address's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// A key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The operator's autoscaler settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    cel,
    validation = Rule::new("self.minReplicas <= self.maxReplicas").message("minReplicas must not exceed maxReplicas").field_path(".minReplicas")
)]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    /// Fewest replicas (0 allows scale to zero when nothing is queued, running or due).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000))]
    pub min_replicas: i32,
    /// Most replicas.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Queued tasks one replica is expected to work through; backlog / this = replicas.
    #[serde(default = "default_target_backlog")]
    #[schemars(range(min = 1, max = 1000000))]
    pub target_backlog_per_replica: i32,
    /// Feeds one replica serves; feeds / this = replicas. Unset: feeds do not drive scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub feeds_per_replica: Option<i32>,
    /// Start a replica this long before the next scheduled run, so runs never cold-start.
    #[serde(default = "default_prewarm")]
    pub prewarm: GoDuration,
    /// A lower replica count must hold this long before the operator scales down.
    #[serde(default = "default_scale_down_delay")]
    pub scale_down_delay: GoDuration,
    /// How often the task queue is polled (each poll is one Kubernetes read and up to three
    /// Temporal calls). At least 5s.
    #[serde(default = "default_poll_interval")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('5s')").message("pollInterval must be at least 5s"))]
    pub poll_interval: GoDuration,
}

fn default_target_backlog() -> i32 {
    10
}

fn default_prewarm() -> GoDuration {
    GoDuration::new("2m")
}

fn default_scale_down_delay() -> GoDuration {
    GoDuration::new("5m")
}

fn default_poll_interval() -> GoDuration {
    GoDuration::new("15s")
}

/// Worker slot limits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Concurrency {
    /// `MAX_CONCURRENT_ACTIVITIES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub max_concurrent_activities: Option<i32>,
    /// `MAX_CONCURRENT_WORKFLOW_TASKS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub max_concurrent_workflow_tasks: Option<i32>,
    /// `MAX_CONCURRENT_LOCAL_ACTIVITIES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub max_concurrent_local_activities: Option<i32>,
}

/// PodDisruptionBudget settings: set one of the two.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    cel,
    validation = Rule::new("has(self.minAvailable) != has(self.maxUnavailable)").message("set exactly one of minAvailable and maxUnavailable")
)]
#[serde(rename_all = "camelCase")]
pub struct DisruptionBudget {
    /// Pods that must stay available during voluntary disruptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub min_available: Option<i32>,
    /// Pods that may be unavailable during voluntary disruptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub max_unavailable: Option<i32>,
}
