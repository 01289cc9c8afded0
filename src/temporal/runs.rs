//! The runs schedules start: one visibility query lists the runs of many schedules, and one
//! read of a run's close event says how it ended (its result, or its failure).

use std::future::Future;

use temporalio_common::protos::temporal::api::{
    common::v1::{Payload, Payloads, WorkflowExecution},
    enums::v1::HistoryEventFilterType,
    failure::v1::Failure,
    history::v1::history_event::Attributes,
    workflowservice::v1::{GetWorkflowExecutionHistoryRequest, ListWorkflowExecutionsRequest},
};

use super::{
    TemporalError,
    grpc::{GrpcSchedules, rpc},
};

/// The search attribute Temporal sets on every run a schedule starts: the schedule's ID.
pub const SCHEDULED_BY_ID: &str = "TemporalScheduledById";

/// A run a schedule started, as visibility lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunRow {
    /// The schedule that started it (`TemporalScheduledById`); empty when not shown.
    pub schedule_id: String,
    /// Its workflow ID.
    pub workflow_id: String,
    /// Its run ID.
    pub run_id: String,
    /// Temporal's `WorkflowExecutionStatus` (1 running, 2 completed, 3 failed, 4 canceled, 5
    /// terminated, 6 continued as new, 7 timed out).
    pub status: i32,
    /// When it started.
    pub start_time: Option<prost_wkt_types::Timestamp>,
    /// When it ended.
    pub close_time: Option<prost_wkt_types::Timestamp>,
}

/// A page of runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunPage {
    /// The runs on this page.
    pub runs: Vec<RunRow>,
    /// Token of the next page; empty on the last one.
    pub next_page_token: Vec<u8>,
}

/// How a run ended, from its close event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunClose {
    /// When it ended.
    pub close_time: Option<prost_wkt_types::Timestamp>,
    /// Its result, when it completed with a JSON result.
    pub result: Option<serde_json::Value>,
    /// Why it did not complete: the failure and its causes, or the reason it was terminated.
    pub failure: Option<String>,
}

/// Reads of the runs in one Temporal namespace.
pub trait RunsApi: Send + Sync {
    /// One page of the runs matching a visibility `query` (`page_size` at most), starting at
    /// `page_token`.
    fn list_runs(
        &self,
        query: &str,
        page_size: i32,
        page_token: Vec<u8>,
    ) -> impl Future<Output = Result<RunPage, TemporalError>> + Send;

    /// The close event of a run; `None` while it runs (or when it no longer exists).
    fn run_close(
        &self,
        workflow_id: &str,
        run_id: &str,
    ) -> impl Future<Output = Result<Option<RunClose>, TemporalError>> + Send;
}

/// Most pages one listing of runs reads (a thousand runs each): a query that matches more is
/// cut there, and the next one starts where this one ended.
pub const MAX_RUN_PAGES: usize = 100;

/// Every run matching `query`, page by page ([`MAX_RUN_PAGES`] at most).
pub async fn list_all_runs<A: RunsApi>(
    api: &A,
    query: &str,
    page_size: i32,
) -> Result<Vec<RunRow>, TemporalError> {
    let mut out = Vec::new();
    let mut token = Vec::new();
    for _ in 0..MAX_RUN_PAGES {
        let page = api.list_runs(query, page_size, token).await?;
        out.extend(page.runs);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(out)
}

/// PURE: a JSON payload's value (a string search attribute, a workflow result); `None` for
/// anything else.
pub fn json_payload(p: &Payload) -> Option<serde_json::Value> {
    let encoding = p.metadata.get("encoding").map(Vec::as_slice);
    if encoding != Some(b"json/plain".as_slice()) {
        return None;
    }
    serde_json::from_slice(&p.data).ok()
}

fn first_json(p: Option<&Payloads>) -> Option<serde_json::Value> {
    p.and_then(|p| p.payloads.first()).and_then(json_payload)
}

/// PURE: a failure and its causes on one line, `outer: cause: root cause` (no stack traces).
pub fn failure_text(f: &Failure) -> String {
    let mut parts = Vec::new();
    let mut next = Some(f);
    while let Some(f) = next {
        let m = f.message.trim();
        if !m.is_empty() && parts.last() != Some(&m) {
            parts.push(m);
        }
        next = f.cause.as_deref();
    }
    parts.join(": ")
}

/// PURE: how a run ended, from the attributes of its close event.
pub fn close_of(attributes: Option<&Attributes>) -> RunClose {
    let failure = |f: Option<&Failure>| f.map(failure_text);
    let (result, failure) = match attributes {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
            (first_json(a.result.as_ref()), None)
        }
        Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
            (None, failure(a.failure.as_ref()))
        }
        Some(Attributes::WorkflowExecutionTerminatedEventAttributes(a)) => {
            (None, Some(a.reason.clone()).filter(|r| !r.is_empty()))
        }
        Some(Attributes::WorkflowExecutionCanceledEventAttributes(a)) => (
            None,
            first_json(a.details.as_ref()).map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
        ),
        _ => (None, None),
    };
    RunClose {
        close_time: None,
        result,
        failure,
    }
}

impl RunsApi for GrpcSchedules {
    async fn list_runs(
        &self,
        query: &str,
        page_size: i32,
        page_token: Vec<u8>,
    ) -> Result<RunPage, TemporalError> {
        let req = ListWorkflowExecutionsRequest {
            namespace: self.namespace().to_owned(),
            page_size,
            next_page_token: page_token,
            query: query.to_owned(),
        };
        let r = rpc!(
            self,
            "ListWorkflowExecutions",
            list_workflow_executions,
            req
        )
        .await?;
        let runs = r
            .executions
            .into_iter()
            .map(|e| {
                let exec = e.execution.unwrap_or_default();
                let schedule_id = e
                    .search_attributes
                    .as_ref()
                    .and_then(|s| s.indexed_fields.get(SCHEDULED_BY_ID))
                    .and_then(json_payload)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                RunRow {
                    schedule_id,
                    workflow_id: exec.workflow_id,
                    run_id: exec.run_id,
                    status: e.status,
                    start_time: e.start_time,
                    close_time: e.close_time,
                }
            })
            .collect();
        Ok(RunPage {
            runs,
            next_page_token: r.next_page_token,
        })
    }

    async fn run_close(
        &self,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<Option<RunClose>, TemporalError> {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: self.namespace().to_owned(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.to_owned(),
                run_id: run_id.to_owned(),
            }),
            history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
            ..Default::default()
        };
        let r = rpc!(
            self,
            "GetWorkflowExecutionHistory",
            get_workflow_execution_history,
            req
        )
        .await;
        let history = match r {
            Ok(r) => r.history.unwrap_or_default(),
            Err(e) if e.code() == Some(tonic::Code::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(history.events.last().map(|event| RunClose {
            close_time: event.event_time,
            ..close_of(event.attributes.as_ref())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::temporal::api::history::v1::{
        WorkflowExecutionCompletedEventAttributes, WorkflowExecutionFailedEventAttributes,
        WorkflowExecutionTerminatedEventAttributes,
    };

    fn json(data: &str) -> Payload {
        Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: data.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn a_failure_reads_as_its_chain_of_messages() {
        let root = Failure {
            message: "1 validation error for GetAppSettingsOutput".into(),
            stack_trace: "File ...".into(),
            ..Default::default()
        };
        let f = Failure {
            message: "Activity task failed".into(),
            cause: Some(Box::new(root)),
            ..Default::default()
        };
        assert_eq!(
            failure_text(&f),
            "Activity task failed: 1 validation error for GetAppSettingsOutput"
        );
    }

    #[test]
    fn a_close_event_gives_the_result_or_the_failure() {
        let done = Attributes::WorkflowExecutionCompletedEventAttributes(
            WorkflowExecutionCompletedEventAttributes {
                result: Some(Payloads {
                    payloads: vec![json(r#"{"status":"completed","entriesCreated":3}"#)],
                }),
                ..Default::default()
            },
        );
        let c = close_of(Some(&done));
        assert_eq!(c.result.expect("result")["entriesCreated"], 3);
        assert_eq!(c.failure, None);
        let failed = Attributes::WorkflowExecutionFailedEventAttributes(
            WorkflowExecutionFailedEventAttributes {
                failure: Some(Failure {
                    message: "boom".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        assert_eq!(close_of(Some(&failed)).failure.as_deref(), Some("boom"));
        let terminated = Attributes::WorkflowExecutionTerminatedEventAttributes(
            WorkflowExecutionTerminatedEventAttributes {
                reason: "by hand".into(),
                ..Default::default()
            },
        );
        assert_eq!(
            close_of(Some(&terminated)).failure.as_deref(),
            Some("by hand")
        );
        let binary = Payload {
            data: vec![1, 2],
            ..Default::default()
        };
        assert_eq!(json_payload(&binary), None, "only JSON payloads are read");
    }
}
