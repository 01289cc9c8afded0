//! Pure builders: desired objects computed from custom resources, without any I/O.

pub mod feedsource_status;
pub mod fingerprint;
pub mod input;
pub mod memo;
pub mod schedule;
pub mod worker;
pub mod worker_status;

/// Protobuf types of the Temporal API used by the builders.
pub mod proto {
    pub use temporalio_common::protos::temporal::api::{
        common::v1::{Memo, Payload, Payloads, RetryPolicy, WorkflowExecution, WorkflowType},
        enums::v1::{ScheduleOverlapPolicy, TaskQueueKind},
        schedule::v1::{
            CalendarSpec, IntervalSpec, Schedule, ScheduleAction, SchedulePatch, SchedulePolicies,
            ScheduleSpec, ScheduleState, TriggerImmediatelyRequest, schedule_action::Action,
        },
        taskqueue::v1::TaskQueue,
        workflow::v1::NewWorkflowExecutionInfo,
    };
}

/// A problem in a resource's spec that no retry can fix: it is reported in status and the
/// controller waits for the resource to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A duration field does not parse.
    #[error("{field}: {source}")]
    Duration {
        /// JSON path of the field.
        field: &'static str,
        /// The parse error.
        source: crate::crd::duration::DurationError,
    },
    /// `feed.url` is not an absolute http(s) URL.
    #[error("feed.url {0:?} is not an absolute http:// or https:// URL")]
    InvalidUrl(String),
    /// An `extraInput` key collides with a typed field or is forbidden.
    #[error("feed.extraInput.{0} is not allowed: {1}")]
    ExtraInputKey(String, &'static str),
    /// The workflow input is larger than Temporal accepts.
    #[error("workflow input is {size} bytes, over Temporal's {limit}-byte payload limit")]
    InputTooLarge {
        /// Encoded size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Any other invalid field.
    #[error("{field}: {message}")]
    Invalid {
        /// JSON path of the field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[cfg(test)]
mod tests;
