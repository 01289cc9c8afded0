//! `FeedSource`: one buun-curator feed, ingested on a Temporal Schedule.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::duration::GoDuration;
pub use super::feedsource_status::{FeedSourceStatus, LastRun, RunOutcome, RunResult};

/// Input fields the operator writes from typed `feed` fields; `extraInput` may not repeat them.
pub const TYPED_INPUT_KEYS: &[&str] = &[
    "feedId",
    "feedName",
    "feedUrl",
    "fetchLimit",
    "autoDistill",
    "enableContentFetch",
    "targetLanguage",
    "enableThumbnail",
    "domainFetchDelay",
    "maxEntryAgeDays",
    "distillationBatchSize",
];

/// Input fields that must never be fixed in a schedule: a constant value disables the worker's
/// conditional GET (see buun-curator's contract).
pub const FORBIDDEN_INPUT_KEYS: &[&str] = &["etag", "lastModified"];

/// Input fields the worker never reads from its input: it takes them from the feed's row in
/// buun-curator, and no API call writes them, so a FeedSource cannot set them at all.
pub const IGNORED_INPUT_KEYS: &[&str] = &["extractionRules"];

/// Annotation whose new value starts one run of the schedule at once.
pub const RUN_NOW_ANNOTATION: &str = "curator.buun.dev/run-now";

/// Annotation that lets a FeedSource whose schedule cannot be removed be deleted anyway
/// (`"true"`): the schedule, and any feed, is left as it is.
pub const SKIP_CLEANUP_ANNOTATION: &str = "curator.buun.dev/skip-cleanup";

/// The FeedSource's finalizer: its schedule (and, when asked for, its feed) is removed before
/// the resource goes away.
pub const FINALIZER: &str = "curator.buun.dev/schedule";

/// The default workflow a FeedSource starts.
pub const DEFAULT_WORKFLOW_TYPE: &str = "SingleFeedIngestionWorkflow";

/// Desired state of a FeedSource: which feed to ingest, when, and with which worker.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) entries repeat the same keys by design"
)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "curator.buun.dev",
    version = "v1alpha1",
    kind = "FeedSource",
    plural = "feedsources",
    namespaced,
    cel,
    status = "FeedSourceStatus",
    shortname = "fsrc",
    shortname = "feed",
    category = "curator",
    doc = "A buun-curator feed ingested on a Temporal Schedule that runs SingleFeedIngestionWorkflow.",
    printcolumn(name = "Worker", type_ = "string", json_path = ".spec.workerRef.name"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".status.summary"),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspend"),
    // A string, not a date: kubectl prints a date column as an age, and a future time as
    // `<invalid>`.
    printcolumn(
        name = "Next Run",
        type_ = "string",
        description = "The next time the schedule runs (RFC 3339, UTC).",
        json_path = ".status.nextRuns[0]"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Ingesting",
        type_ = "string",
        description = "Whether the feed's runs complete (condition Ingesting).",
        json_path = ".status.conditions[?(@.type==\"Ingesting\")].status"
    ),
    printcolumn(
        name = "Last Result",
        type_ = "string",
        description = "How the last run ended, or Running.",
        json_path = ".status.lastRun.outcome"
    ),
    printcolumn(
        name = "Last Run",
        type_ = "date",
        description = "Since when the last run has been in its state (its end, or its start while it runs).",
        json_path = ".status.lastRun.since"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        priority = 1,
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Ingestion",
        type_ = "string",
        priority = 1,
        description = "Why Ingesting is what it is (RunCompleted, RunFailed, RunTimedOut, RunStuck, NeverRan, ...).",
        json_path = ".status.conditions[?(@.type==\"Ingesting\")].reason"
    ),
    printcolumn(
        name = "Feed ID",
        type_ = "string",
        priority = 1,
        json_path = ".status.feedId"
    ),
    printcolumn(
        name = "Schedule ID",
        type_ = "string",
        priority = 1,
        json_path = ".status.scheduleId"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FeedSourceSpec {
    /// The CuratorWorker (same namespace) whose Temporal connection and task queue the schedule
    /// uses.
    pub worker_ref: WorkerRef,
    /// The feed to ingest; becomes the workflow's input.
    pub feed: FeedSpec,
    /// When to run. At least one of `every`, `cron` or `calendars` is required.
    pub schedule: ScheduleSpec,
    /// Pause the schedule while true (like a CronJob's `suspend`). The operator owns the paused
    /// state: it pauses and unpauses the schedule to match this field.
    #[serde(default)]
    pub suspend: bool,
    /// The workflow the schedule starts.
    #[serde(default)]
    pub workflow: WorkflowSpec,
    /// What happens to the Temporal Schedule when this resource is deleted: `Delete` removes it,
    /// `Orphan` leaves it running and clears its owner memo.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// What happens to the feed in buun-curator when this resource is deleted: `Retain`
    /// (default) keeps it, `Delete` deletes it and, with it, all its entries (the reading
    /// history). Only a feed this operator created is ever deleted, never one it adopted or that
    /// `feed.id` names. Needs the worker's `spec.curatorApi`.
    #[serde(default)]
    pub feed_deletion_policy: FeedDeletionPolicy,
}

/// What to do with the buun-curator feed when the FeedSource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum FeedDeletionPolicy {
    /// Keep the feed and its entries (default).
    #[default]
    Retain,
    /// Delete the feed, and with it all its entries, if this operator created it.
    Delete,
}

/// A reference to a CuratorWorker in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct WorkerRef {
    /// Name of the CuratorWorker.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The feed and the optional ingestion settings sent to the workflow as its JSON input.
///
/// Fields left unset are left out of the input, so the worker's own defaults apply.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(
    cel,
    validation = Rule::new(extra_input_rule(TYPED_INPUT_KEYS)).message("extraInput must not repeat a typed feed field; set the typed field instead").field_path(".extraInput"),
    validation = Rule::new(extra_input_rule(FORBIDDEN_INPUT_KEYS)).message("extraInput must not set etag or lastModified: a fixed value disables conditional GET").reason(kube::core::Reason::FieldValueForbidden).field_path(".extraInput"),
    validation = Rule::new(extra_input_rule(IGNORED_INPUT_KEYS)).message("extraInput must not set extractionRules: the worker reads them from the feed in buun-curator, never from its input").reason(kube::core::Reason::FieldValueForbidden).field_path(".extraInput")
)]
#[serde(rename_all = "camelCase")]
pub struct FeedSpec {
    /// The feed's ID in buun-curator (a ULID); sent as `feedId`. With the worker's
    /// `spec.curatorApi`, optional: the operator then adopts the one feed whose URL is
    /// `feed.url`, or creates it, and records its ID in `status.feedId`; when set, the operator
    /// checks that the feed exists. Without `spec.curatorApi`, required (and not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub id: Option<String>,
    /// The feed's display name; sent as `feedName`, and written to the feed in buun-curator.
    #[schemars(length(min = 1, max = 1024))]
    pub name: String,
    /// The feed's URL (http or https); sent as `feedUrl`, and written to the feed in
    /// buun-curator.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("url must be an http:// or https:// URL"))]
    pub url: String,
    /// The web site the feed belongs to, written to the feed in buun-curator (`siteUrl`; shown
    /// in its UI). Takes effect only through the worker's `spec.curatorApi`; unset: left as it
    /// is in buun-curator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub site_url: Option<String>,
    /// Maximum number of entries fetched per run. The worker reads it from the feed in
    /// buun-curator, not from its input, so it takes effect only through the worker's
    /// `spec.curatorApi` (written to the feed as `fetchLimit`); unset: left as it is there
    /// (buun-curator's default is 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub fetch_limit: Option<i32>,
    /// Distill entries after ingestion (`autoDistill`; worker default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_distill: Option<bool>,
    /// Fetch full article content: sent as `enableContentFetch`, which the scheduled runs obey
    /// (worker default true), and written to the feed in buun-curator as `fetchContent` through
    /// the worker's `spec.curatorApi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_content_fetch: Option<bool>,
    /// Language to translate entries into (`targetLanguage`; worker default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub target_language: Option<String>,
    /// Fetch thumbnails (`enableThumbnail`; worker default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_thumbnail: Option<bool>,
    /// Delay between fetches to the same domain, as a duration such as `2s` or `500ms`; sent as
    /// `domainFetchDelay` in (fractional) seconds (worker default 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_fetch_delay: Option<GoDuration>,
    /// Skip entries older than this many days (`maxEntryAgeDays`; worker default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36500))]
    pub max_entry_age_days: Option<i32>,
    /// Entries per distillation batch (`distillationBatchSize`; worker default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub distillation_batch_size: Option<i32>,
    /// Extra input fields merged into the workflow input as they are, for fields a newer worker
    /// understands that this operator has no typed field for, e.g.
    /// `[{name: summaryStyle, value: short}]`. A name may not repeat a typed field, nor be
    /// `etag` or `lastModified`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "input_fields")]
    pub extra_input: Vec<InputField>,
}

/// One extra field of the workflow input.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct InputField {
    /// The input field's JSON name, as the worker reads it (camelCase).
    pub name: String,
    /// Its value: any JSON value.
    pub value: serde_json::Value,
}

/// The CEL rule that no `extraInput` entry is named like one of `keys`. Built from the same
/// constants the controller checks, so the two cannot drift apart.
fn extra_input_rule(keys: &[&str]) -> String {
    let list = keys
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("!has(self.extraInput) || self.extraInput.all(f, !(f.name in [{list}]))")
}

/// A list keyed by `name`. A map of free JSON values would read more naturally, but the API
/// server's CEL type checker cannot see into one, so no rule could check its keys.
fn input_fields(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 64,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {
            "type": "object",
            "required": ["name", "value"],
            "properties": {
                "name": {
                    "description": "The input field's JSON name, as the worker reads it (camelCase).",
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                },
                "value": {
                    "description": "Its value: any JSON value.",
                    "x-kubernetes-preserve-unknown-fields": true,
                },
            },
        },
    })
}

/// When the schedule fires. The specs are combined: a run happens at every time any of them
/// matches.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    cel,
    validation = Rule::new("has(self.every) || (has(self.cron) && size(self.cron) > 0) || (has(self.calendars) && size(self.calendars) > 0)").message("schedule needs at least one of every, cron or calendars"),
    validation = Rule::new("!has(self.offset) || has(self.every)").message("offset is only meaningful with every").field_path(".offset"),
    validation = Rule::new("!has(self.startAt) || !has(self.endAt) || self.startAt < self.endAt").message("startAt must be before endAt").field_path(".startAt")
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// Run at a fixed interval, e.g. `30m` or `1h30m` (aligned to the Unix epoch plus `offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self.matches('^(0+(h|m|s|ms|us|ns))+$')").message("every must be greater than zero"))]
    pub every: Option<GoDuration>,
    /// Shift of the `every` interval from the epoch, e.g. `5m` to run at :05, :35 with `every: 30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<GoDuration>,
    /// Cron expressions (5 fields, or Temporal's `@daily`-style shorthands), e.g. `0 */2 * * *`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 256)))]
    pub cron: Vec<String>,
    /// Calendar specs, Temporal's structured alternative to cron.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub calendars: Vec<CalendarSpec>,
    /// IANA time zone for `cron` and `calendars`, e.g. `Europe/Berlin` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub timezone: Option<String>,
    /// Random delay added to each run, up to this duration, to spread load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<GoDuration>,
    /// No run happens before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<Time>,
    /// No run happens after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<Time>,
    /// What to do when a run is due while the previous one is still running.
    #[serde(default)]
    pub overlap_policy: OverlapPolicy,
    /// How late a missed run (e.g. while Temporal was down) may still start. Always sent to
    /// Temporal, whose own default is a year.
    #[serde(default = "default_catchup_window")]
    pub catchup_window: GoDuration,
    /// Let Temporal pause the schedule when a run fails. The operator never silently undoes such
    /// a pause: it is lifted when this resource's spec changes.
    #[serde(default)]
    pub pause_on_failure: bool,
}

fn default_catchup_window() -> GoDuration {
    GoDuration::new("5m")
}

/// A calendar spec in Temporal's string form: each field is a comma-separated list of values or
/// ranges (`MON-FRI`, `9,17`, `*/15`). Unset fields take Temporal's defaults: `0` for second,
/// minute and hour, `*` for the others.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarSpec {
    /// Seconds (0-59), default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<String>,
    /// Minutes (0-59), default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<String>,
    /// Hours (0-23), default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<String>,
    /// Days of the month (1-31), default `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_month: Option<String>,
    /// Months (1-12 or JAN-DEC), default `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    /// Years, default `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<String>,
    /// Days of the week (0-6 or SUN-SAT), default `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_week: Option<String>,
    /// Free-form note kept with the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Temporal's overlap policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum OverlapPolicy {
    /// Do not start a run while the previous one is running (default).
    #[default]
    Skip,
    /// Start at most one run after the running one finishes.
    BufferOne,
    /// Start every missed run, one after another.
    BufferAll,
    /// Cancel the running run, then start the new one.
    CancelOther,
    /// Terminate the running run, then start the new one.
    TerminateOther,
    /// Start runs regardless of running ones.
    AllowAll,
}

/// The workflow a schedule starts.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    /// Workflow type (registered class name) to start.
    #[serde(rename = "type", default = "default_workflow_type")]
    #[schemars(length(min = 1, max = 256))]
    pub type_: String,
    /// Prefix of the workflow IDs the schedule starts. The operator makes it unique by
    /// appending this FeedSource's namespace and name (`{idPrefix}/{namespace}/{name}`), so two
    /// FeedSources choosing the same prefix never collide; Temporal then appends the scheduled
    /// time. Unset: the schedule ID. Letters, digits and `._:-/`, starting with a letter or digit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 100),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
    )]
    pub id_prefix: Option<String>,
    /// Limit on the whole run, retries included: Temporal ends a run still going then (it is
    /// reported `TimedOut`, or `Failed` with the error of an activity whose retries ran out of
    /// time), and the next one can start. Unset: the operator's default
    /// (`--default-execution-timeout`, 1h), because buun-curator's worker retries some failing
    /// activities forever (a wrong API token, its default settings row), and with
    /// `overlapPolicy: Skip` a run that never ends skips every later run of its feed. An hour
    /// outlasts a run that works: the worker bounds its crawl at 10 minutes and its content
    /// fetch at 30. `0s` sets no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_timeout: Option<GoDuration>,
    /// Limit on a single workflow run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout: Option<GoDuration>,
    /// Limit on a single workflow task (Temporal's default is 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_timeout: Option<GoDuration>,
    /// Retry policy of the workflow (none by default: a failed run waits for the next one).
    // Boxed: usually absent, and its 96 bytes were in every cached FeedSource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<Box<RetryPolicySpec>>,
}

impl Default for WorkflowSpec {
    fn default() -> Self {
        Self {
            type_: default_workflow_type(),
            id_prefix: None,
            execution_timeout: None,
            run_timeout: None,
            task_timeout: None,
            retry_policy: None,
        }
    }
}

fn default_workflow_type() -> String {
    DEFAULT_WORKFLOW_TYPE.to_owned()
}

/// Temporal retry policy of the started workflow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicySpec {
    /// Delay before the first retry (Temporal default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_interval: Option<GoDuration>,
    /// Growth factor of the delay (Temporal default 2.0); at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 100.0))]
    pub backoff_coefficient: Option<f64>,
    /// Cap on the delay (Temporal default 100 × initialInterval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_interval: Option<GoDuration>,
    /// Attempts in all, the first included; 0 means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub maximum_attempts: Option<i32>,
    /// Error types that are never retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub non_retryable_error_types: Vec<String>,
}

/// What to do with the Temporal Schedule when the FeedSource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the schedule (default).
    #[default]
    Delete,
    /// Keep the schedule and clear its owner memo so that it is no longer managed.
    Orphan,
}
