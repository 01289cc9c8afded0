//! The observed state of a FeedSource, as its status subresource holds it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{condition_list::Conditions, fingerprint::Fingerprint};

/// Observed state of a FeedSource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedSourceStatus {
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The feed's ID in buun-curator: `feed.id`, or the feed the operator found or created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_id: Option<String>,
    /// True when the operator created the feed (only such a feed is deleted with
    /// `feedDeletionPolicy: Delete`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub feed_created: bool,
    /// ID of the Temporal Schedule managed for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    /// The CuratorWorker whose Temporal connection holds the schedule (its credentials remove
    /// it, also after the FeedSource moved to another worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Temporal frontend address the schedule lives on (used to delete it even if the worker is
    /// gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporal_address: Option<String>,
    /// Temporal namespace the schedule lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporal_namespace: Option<String>,
    /// Task queue the scheduled workflows start on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_queue: Option<String>,
    /// Human summary of the schedule, e.g. `every 30m` or `cron 0 9 * * * (Europe/Berlin)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Whether the schedule is paused in Temporal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// The note Temporal keeps with the paused state (why it was paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_note: Option<String>,
    /// The next (up to 3) times the schedule will run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_runs: Vec<Time>,
    /// The most recent run started by the schedule, and how it ended (its end shows within
    /// about a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// Runs the schedule has started in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_count: Option<i64>,
    /// When the last run that ingested the feed ended: it completed, and the worker did not
    /// report an error in its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_time: Option<Time>,
    /// Runs in a row, up to the last one, that failed, timed out, were canceled or terminated,
    /// or completed with an error in their result; 0 after a successful run.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0))]
    pub consecutive_failures: i32,
    /// Fingerprint of the schedule as Temporal returned it after the operator's last write; a
    /// different fingerprint later means someone changed the schedule outside the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_fingerprint: Option<Fingerprint>,
    /// Fingerprint of the schedule's spec as Temporal returned it: compared with the cheap
    /// schedule listing on every resync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_spec_fingerprint: Option<Fingerprint>,
    /// Fingerprint of the desired schedule the operator last wrote or verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_fingerprint: Option<Fingerprint>,
    /// The last value of the `curator.buun.dev/run-now` annotation that triggered a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_now_handled: Option<String>,
    /// Conditions: `Ready` (schedule in sync, feed registered), `Ingesting` (the feed's runs
    /// complete), `TemporalReachable`, `FeedRegistered`, and kstatus' `Reconciling` and
    /// `Stalled`.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The most recent run started by the schedule, and how it ended.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    /// The time the run was scheduled for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<Time>,
    /// ID of the workflow it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// Run ID of the workflow it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Where the run is, as Temporal reports its workflow: `Running`, `Completed`, `Failed`,
    /// `TimedOut` (it outlived `workflow.executionTimeout`), `Canceled`, `Terminated` or
    /// `ContinuedAsNew`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    /// Since when the run has been in `outcome`: when it started while it runs, when it ended
    /// after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// Why it did not complete, as Temporal recorded it (the failure and its causes, e.g.
    /// `Activity task failed: 1 validation error for GetAppSettingsOutput ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The summary of what the worker returned, for a run that completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RunResult>>,
}

/// Where a run is, as Temporal reports the status of the workflow it started.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum RunOutcome {
    /// Still running.
    Running,
    /// Returned a result.
    Completed,
    /// Failed (an error the workflow did not handle, e.g. an activity out of retries).
    Failed,
    /// Outlived its execution timeout.
    TimedOut,
    /// Canceled (e.g. by the `CancelOther` overlap policy).
    Canceled,
    /// Terminated (e.g. by the `TerminateOther` overlap policy, or by hand).
    Terminated,
    /// Continued as a new run of the same workflow.
    ContinuedAsNew,
}

impl RunOutcome {
    /// The outcome's name, as in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "Running",
            RunOutcome::Completed => "Completed",
            RunOutcome::Failed => "Failed",
            RunOutcome::TimedOut => "TimedOut",
            RunOutcome::Canceled => "Canceled",
            RunOutcome::Terminated => "Terminated",
            RunOutcome::ContinuedAsNew => "ContinuedAsNew",
        }
    }
}

/// The summary of a `SingleFeedIngestionWorkflow` result (the fields buun-curator's worker
/// returns; any other result leaves them unset).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// The worker's own verdict: `completed`, `skipped` (the feed was not modified) or `error`
    /// (the feed could not be crawled; see `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Entries the run added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_created: Option<i64>,
    /// Entries whose page content it fetched (0 with content fetch on means the pages could not
    /// be loaded: the worker image needs Playwright's Chromium).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents_fetched: Option<i64>,
    /// Entries it distilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_distilled: Option<i64>,
    /// The error the worker reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
