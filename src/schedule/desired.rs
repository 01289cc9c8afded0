//! FeedSource + its worker's Temporal settings → the desired Temporal Schedule.

use std::time::Duration;

pub use super::spec::{summary, to_proto_duration, to_proto_time};
use super::{
    fingerprint,
    input::{encode_input, workflow_input},
    spec::{dur, overlap, positive, retry_policy, schedule_spec},
};
use crate::{
    crd::{
        GoDuration, SpecError,
        curatorworker::TemporalConnection,
        feedsource::{self, FeedSourceSpec},
    },
    temporal::{
        memo::{self, Owner},
        proto::{
            Action, NewWorkflowExecutionInfo, Payload, Payloads, Schedule, ScheduleAction,
            SchedulePolicies, ScheduleState, TaskQueue, TaskQueueKind, WorkflowType,
        },
    },
};

/// The note the operator leaves on a schedule it pauses because of `spec.suspend`.
pub const SUSPEND_NOTE: &str = "curator-operator: suspended by FeedSource spec.suspend";
/// The note the operator leaves on a schedule it pauses because its feed is not in
/// buun-curator.
pub const FEED_NOT_FOUND_NOTE: &str =
    "curator-operator: paused, the feed does not exist in buun-curator";

/// The note of a schedule the operator paused because another FeedSource holds its feed.
pub const FEED_HELD_NOTE: &str =
    "curator-operator: paused, another FeedSource holds the feed (see the FeedSource's status)";

/// The execution timeout of a run whose FeedSource sets none (`--default-execution-timeout`):
/// longer than a run of buun-curator's worker can take when it works (its crawl activity is
/// bounded at 10 minutes with 3 attempts, its content-fetch child workflow at 30 minutes), so
/// it ends only a run that would never end (an activity that retries forever), and the next
/// run can start.
pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(3600);

/// Settings shared by every schedule this operator builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Prefix of schedule IDs (the `--schedule-id-prefix` flag).
    pub id_prefix: String,
    /// The operator's identity, recorded in the owner memo.
    pub identity: String,
    /// The execution timeout of runs whose FeedSource sets no `workflow.executionTimeout`
    /// (`--default-execution-timeout`; `None`: no limit).
    pub default_execution_timeout: Option<Duration>,
}

impl BuildOptions {
    /// Schedule IDs under `id_prefix`, owned by `identity`, with the default execution timeout
    /// ([`DEFAULT_EXECUTION_TIMEOUT`]).
    pub fn new(id_prefix: &str, identity: &str) -> Self {
        Self {
            id_prefix: id_prefix.to_owned(),
            identity: identity.to_owned(),
            default_execution_timeout: Some(DEFAULT_EXECUTION_TIMEOUT),
        }
    }

    /// Runs whose FeedSource sets no execution timeout get `timeout` (zero: no limit).
    pub fn with_default_execution_timeout(mut self, timeout: Duration) -> Self {
        self.default_execution_timeout = Some(timeout).filter(|t| !t.is_zero());
        self
    }
}

/// Everything the operator needs to create or compare one schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSchedule {
    /// Schedule ID.
    pub id: String,
    /// The CuratorWorker whose connection and task queue it uses.
    pub worker: String,
    /// Temporal namespace.
    pub namespace: String,
    /// Temporal frontend address.
    pub address: String,
    /// Task queue the workflows start on.
    pub task_queue: String,
    /// The schedule to write (its state says whether it should be paused).
    pub schedule: Schedule,
    /// Owner recorded in the memo.
    pub owner: Owner,
    /// Fingerprint of `schedule` (spec, action, policies), recorded in the memo.
    pub fingerprint: String,
    /// Human summary for status and `kubectl get`.
    pub summary: String,
    /// Whether its runs fetch page content (`feed.enableContentFetch`, the worker's default
    /// true).
    pub content_fetch: bool,
}

impl DesiredSchedule {
    /// Whether `status` records the schedule at this ID, frontend and namespace.
    pub fn is_recorded_in(&self, status: &crate::crd::FeedSourceStatus) -> bool {
        status.schedule_id.as_deref() == Some(&self.id)
            && status.temporal_address.as_deref() == Some(&self.address)
            && status.temporal_namespace.as_deref() == Some(&self.namespace)
    }

    /// The execution timeout of the runs it starts (`None`: no limit).
    pub fn execution_timeout(&self) -> Option<jiff::SignedDuration> {
        let action = self.schedule.action.as_ref()?.action.as_ref()?;
        let Action::StartWorkflow(wf) = action;
        let d = wf.workflow_execution_timeout.as_ref()?;
        Some(jiff::SignedDuration::new(d.seconds, d.nanos)).filter(|d| d.is_positive())
    }

    /// No run before this time (`schedule.startAt`).
    pub fn start_at(&self) -> Option<jiff::Timestamp> {
        let t = self.schedule.spec.as_ref()?.start_time.as_ref()?;
        jiff::Timestamp::new(t.seconds, t.nanos).ok()
    }

    /// Whether the resource asks for the schedule to be paused.
    pub fn suspended(&self) -> bool {
        self.schedule.state.as_ref().is_some_and(|s| s.paused)
    }

    /// The note kept with the paused state the operator asks for.
    pub fn pause_note(&self) -> &str {
        self.schedule
            .state
            .as_ref()
            .map(|s| s.notes.as_str())
            .unwrap_or_default()
    }

    /// The same schedule, paused because its feed does not exist in buun-curator (it is unpaused
    /// when the feed exists again; the fingerprint does not cover the state).
    pub fn paused_for_missing_feed(self) -> Self {
        self.paused_with(FEED_NOT_FOUND_NOTE)
    }

    /// The same schedule, paused because another FeedSource holds the feed (unless the spec
    /// pauses it already).
    pub fn paused_for_held_feed(self) -> Self {
        self.paused_with(FEED_HELD_NOTE)
    }

    fn paused_with(mut self, note: &str) -> Self {
        let state = self.schedule.state.get_or_insert_with(Default::default);
        if !state.paused {
            state.paused = true;
            state.notes = note.to_owned();
        }
        self
    }
}

/// Whether a pause note is one the operator writes (a pause with another note was made by
/// Temporal or a person, and is never silently undone).
pub fn is_operator_pause(note: &str) -> bool {
    note == SUSPEND_NOTE || note == FEED_NOT_FOUND_NOTE || note == FEED_HELD_NOTE
}

/// What every schedule ID under `prefix` starts with (empty, so everything, for no prefix): a
/// listing asks Temporal for these alone rather than for the whole namespace.
pub fn listing_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

/// The schedule ID of FeedSource `namespace/name`: `<prefix>/<namespace>/<name>`.
///
/// Namespaces cannot contain `/`, so distinct resources never share an ID under one prefix, and
/// the ID stays readable in Temporal's UI and CLI.
pub fn schedule_id(prefix: &str, namespace: &str, name: &str) -> String {
    if prefix.is_empty() {
        format!("{namespace}/{name}")
    } else {
        format!("{prefix}/{namespace}/{name}")
    }
}

/// Builds the desired schedule of the FeedSource `namespace/name` (UID `uid`).
pub fn build(
    namespace: &str,
    name: &str,
    uid: &str,
    spec: &FeedSourceSpec,
    temporal: &TemporalConnection,
    opts: &BuildOptions,
) -> Result<DesiredSchedule, SpecError> {
    let feed_id = spec.feed.id.as_deref().ok_or(SpecError::Invalid {
        field: "feed.id",
        message: "is required unless the CuratorWorker sets spec.curatorApi".into(),
    })?;
    build_for_feed(namespace, name, uid, spec, feed_id, temporal, opts)
}

/// Builds the desired schedule of the FeedSource `namespace/name` (UID `uid`) for the feed
/// `feed_id` (its `feed.id`, or the feed the operator registered).
pub fn build_for_feed(
    namespace: &str,
    name: &str,
    uid: &str,
    spec: &FeedSourceSpec,
    feed_id: &str,
    temporal: &TemporalConnection,
    opts: &BuildOptions,
) -> Result<DesiredSchedule, SpecError> {
    let id = schedule_id(&opts.id_prefix, namespace, name);
    let owner = Owner {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        operator: opts.identity.clone(),
    };
    let workflow_id = spec
        .workflow
        .id_prefix
        .as_deref()
        .map_or_else(|| id.clone(), |p| schedule_id(p, namespace, name));
    let start = start_workflow(
        spec,
        feed_id,
        &temporal.task_queue,
        workflow_id,
        &owner,
        opts,
    )?;
    let s = &spec.schedule;
    let mut schedule = Schedule {
        spec: Some(schedule_spec(s)?),
        action: Some(ScheduleAction {
            action: Some(Action::StartWorkflow(start)),
        }),
        policies: Some(SchedulePolicies {
            overlap_policy: overlap(s.overlap_policy) as i32,
            catchup_window: Some(positive("schedule.catchupWindow", &s.catchup_window)?),
            pause_on_failure: s.pause_on_failure,
            keep_original_workflow_id: false,
        }),
        state: Some(ScheduleState {
            paused: spec.suspend,
            notes: if spec.suspend {
                SUSPEND_NOTE.to_owned()
            } else {
                String::new()
            },
            ..Default::default()
        }),
    };
    let fingerprint = fingerprint::of(&schedule);
    memo::set_fingerprint(&mut schedule, &fingerprint);
    Ok(DesiredSchedule {
        fingerprint,
        worker: spec.worker_ref.name.clone(),
        id,
        namespace: temporal.namespace.clone(),
        address: temporal.address.clone(),
        task_queue: temporal.task_queue.clone(),
        schedule,
        owner,
        summary: summary(s),
        content_fetch: spec.feed.enable_content_fetch.unwrap_or(true),
    })
}

/// PURE: the run each action starts: the workflow, on `task_queue`, with the feed's input,
/// its timeouts and retry policy, and the owner's memo.
fn start_workflow(
    spec: &FeedSourceSpec,
    feed_id: &str,
    task_queue: &str,
    workflow_id: String,
    owner: &Owner,
    opts: &BuildOptions,
) -> Result<NewWorkflowExecutionInfo, SpecError> {
    let input = encode_input(&workflow_input(&spec.feed, feed_id)?)?;
    let wf = &spec.workflow;
    if wf.type_.trim().is_empty() {
        return Err(SpecError::Invalid {
            field: "workflow.type",
            message: "must not be empty".into(),
        });
    }
    let timeout =
        |field, d: &Option<GoDuration>| d.as_ref().map(|d| positive(field, d)).transpose();
    Ok(NewWorkflowExecutionInfo {
        workflow_id,
        workflow_type: Some(WorkflowType {
            name: wf.type_.clone(),
        }),
        task_queue: Some(TaskQueue {
            name: task_queue.to_owned(),
            kind: TaskQueueKind::Normal as i32,
            normal_name: String::new(),
        }),
        input: Some(Payloads {
            payloads: vec![Payload {
                metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
                data: input,
                ..Default::default()
            }],
        }),
        workflow_execution_timeout: execution_timeout(wf, opts)?,
        workflow_run_timeout: timeout("workflow.runTimeout", &wf.run_timeout)?,
        workflow_task_timeout: timeout("workflow.taskTimeout", &wf.task_timeout)?,
        retry_policy: wf.retry_policy.as_deref().map(retry_policy).transpose()?,
        memo: Some(memo::action_memo(owner)),
        ..Default::default()
    })
}

/// The execution timeout of the runs: `workflow.executionTimeout` (`0s`: no limit), else the
/// operator's default.
fn execution_timeout(
    wf: &feedsource::WorkflowSpec,
    opts: &BuildOptions,
) -> Result<Option<prost_wkt_types::Duration>, SpecError> {
    let timeout = match &wf.execution_timeout {
        Some(d) => Some(dur("workflow.executionTimeout", d)?),
        None => opts.default_execution_timeout,
    };
    Ok(timeout.filter(|t| !t.is_zero()).map(to_proto_duration))
}
