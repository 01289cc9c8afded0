//! Protobuf types of the Temporal API that the builders and the client share.

pub use temporalio_common::protos::temporal::api::{
    common::v1::{Memo, Payload, Payloads, RetryPolicy, WorkflowExecution, WorkflowType},
    enums::v1::{ScheduleOverlapPolicy, TaskQueueKind},
    schedule::v1::{
        CalendarSpec, IntervalSpec, Schedule, ScheduleAction, ScheduleActionResult, SchedulePatch,
        SchedulePolicies, ScheduleSpec, ScheduleState, TriggerImmediatelyRequest,
        schedule_action::Action,
    },
    taskqueue::v1::TaskQueue,
    workflow::v1::NewWorkflowExecutionInfo,
};
