//! [`ScheduleApi`] over temporalio-client's raw gRPC service.

use std::{future::Future, sync::Arc, time::Duration};

use temporalio_client::Connection;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, DescribeScheduleRequest, ListSchedulesRequest,
    PatchScheduleRequest, UpdateScheduleRequest,
};
use tonic::{Code, IntoRequest};

use super::{Described, ListPage, Listed, ScheduleApi, TemporalError};
use super::{
    memo,
    pace::Pace,
    proto::{Memo, Schedule, SchedulePatch},
};
use crate::metrics::Metrics;

/// Schedules of one namespace, reached over a pooled [`Connection`].
#[derive(Clone)]
pub struct GrpcSchedules {
    conn: Connection,
    namespace: String,
    identity: String,
    timeout: Duration,
    metrics: Option<Arc<Metrics>>,
    limiter: Option<Arc<Pace>>,
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
    address: String,
}

impl GrpcSchedules {
    /// Wraps a connection for `namespace`; every call is bounded by `timeout`.
    pub fn new(conn: Connection, namespace: &str, identity: &str, timeout: Duration) -> Self {
        Self {
            conn,
            namespace: namespace.to_owned(),
            identity: identity.to_owned(),
            timeout,
            metrics: None,
            limiter: None,
            in_flight: None,
            address: String::new(),
        }
    }

    /// Waits for `pace` before every call, and slows it down when Temporal answers
    /// `ResourceExhausted`; `address` names the frontend in metrics.
    pub fn with_limiter(mut self, pace: Option<Arc<Pace>>, address: &str) -> Self {
        self.limiter = pace;
        self.address = address.to_owned();
        self
    }

    /// Holds a permit of `slots` (shared by the namespace's callers) for the whole of every
    /// call; the wait for one is not part of the call's timeout.
    pub fn with_in_flight(mut self, slots: Option<Arc<tokio::sync::Semaphore>>) -> Self {
        self.in_flight = slots;
        self
    }

    /// Records every RPC in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub(crate) async fn call<T>(
        &self,
        method: &'static str,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, TemporalError> {
        // Never closed, so acquiring fails only if it were: then the call goes unlimited.
        let _slot = match &self.in_flight {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        if let Some(l) = &self.limiter {
            l.wait().await;
        }
        let start = std::time::Instant::now();
        let result = match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(TemporalError::rpc(method, &status)),
            Err(_) => Err(TemporalError::Timeout(method)),
        };
        if let Some(m) = &self.metrics {
            let outcome = match &result {
                Ok(_) => "ok".to_owned(),
                Err(TemporalError::Rpc { code, .. }) => format!("{code:?}"),
                Err(_) => "timeout".to_owned(),
            };
            m.temporal_call(method, &outcome, start.elapsed());
        }
        if let Some(pace) = &self.limiter {
            let exhausted = matches!(
                &result,
                Err(TemporalError::Rpc {
                    code: tonic::Code::ResourceExhausted,
                    ..
                })
            );
            let halved = exhausted && pace.throttled();
            if let Some(m) = &self.metrics {
                let labels = crate::metrics::TemporalNamespace {
                    temporal_address: self.address.clone(),
                    temporal_namespace: self.namespace.clone(),
                };
                if halved {
                    m.temporal_throttled.get_or_create(&labels).inc();
                    tracing::warn!(
                        namespace = %self.namespace,
                        rate = pace.rate(),
                        "Temporal answered ResourceExhausted: calls to this namespace slowed down"
                    );
                }
                m.temporal_pace.get_or_create(&labels).set(pace.rate());
            }
        }
        result
    }
}

// Unique per call: Temporal dedupes retries of one logical request by it.
fn request_id() -> String {
    crate::runtime::request_id("curator")
}

impl ScheduleApi for GrpcSchedules {
    async fn describe(&self, id: &str) -> Result<Option<Described>, TemporalError> {
        let mut svc = self.conn.workflow_service();
        let req = DescribeScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
        };
        match self
            .call(
                "DescribeSchedule",
                svc.describe_schedule(req.into_request()),
            )
            .await
        {
            Ok(r) => Ok(Some(Described {
                memo_info: memo::parse(r.memo.as_ref(), r.schedule.as_ref()),
                schedule: r.schedule.unwrap_or_default(),
                info: r.info.unwrap_or_default(),
                memo: r.memo,
                conflict_token: r.conflict_token,
            })),
            Err(e) if e.code() == Some(Code::NotFound) && is_missing_schedule(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create(
        &self,
        id: &str,
        schedule: Schedule,
        memo: Memo,
    ) -> Result<bool, TemporalError> {
        let mut svc = self.conn.workflow_service();
        let req = CreateScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
            schedule: Some(schedule),
            identity: self.identity.clone(),
            request_id: request_id(),
            memo: Some(memo),
            ..Default::default()
        };
        match self
            .call("CreateSchedule", svc.create_schedule(req.into_request()))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(Code::AlreadyExists) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn update(
        &self,
        id: &str,
        schedule: Schedule,
        conflict_token: Vec<u8>,
    ) -> Result<(), TemporalError> {
        let mut svc = self.conn.workflow_service();
        let req = UpdateScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
            schedule: Some(schedule),
            conflict_token,
            identity: self.identity.clone(),
            request_id: request_id(),
            ..Default::default()
        };
        self.call("UpdateSchedule", svc.update_schedule(req.into_request()))
            .await
            .map(|_| ())
    }

    async fn patch(
        &self,
        id: &str,
        patch: SchedulePatch,
        request_id: String,
    ) -> Result<(), TemporalError> {
        let mut svc = self.conn.workflow_service();
        let req = PatchScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
            patch: Some(patch),
            identity: self.identity.clone(),
            request_id,
        };
        self.call("PatchSchedule", svc.patch_schedule(req.into_request()))
            .await
            .map(|_| ())
    }

    async fn list(
        &self,
        id_prefix: &str,
        page_size: i32,
        page_token: Vec<u8>,
    ) -> Result<ListPage, TemporalError> {
        let mut svc = self.conn.workflow_service();
        let mut req = ListSchedulesRequest {
            namespace: self.namespace.clone(),
            maximum_page_size: page_size,
            next_page_token: page_token,
            query: prefix_query(id_prefix),
        };
        let first = self
            .call(
                "ListSchedules",
                svc.list_schedules(req.clone().into_request()),
            )
            .await;
        let r = match first {
            // A server without schedule queries (before 1.24 or so) rejects the filter: the
            // whole namespace is listed, and the caller keeps its own IDs.
            Err(e) if !req.query.is_empty() && e.code() == Some(Code::InvalidArgument) => {
                req.query.clear();
                self.call("ListSchedules", svc.list_schedules(req.into_request()))
                    .await?
            }
            other => other?,
        };
        Ok(ListPage {
            schedules: r
                .schedules
                .into_iter()
                .map(|e| {
                    let info = e.info.unwrap_or_default();
                    Listed {
                        memo_info: memo::parse(e.memo.as_ref(), None),
                        id: e.schedule_id,
                        spec: info.spec,
                        paused: info.paused,
                        notes: info.notes,
                        future_action_times: info.future_action_times,
                        recent_actions: info.recent_actions,
                    }
                })
                .collect(),
            next_page_token: r.next_page_token,
        })
    }

    async fn delete(&self, id: &str) -> Result<bool, TemporalError> {
        let mut svc = self.conn.workflow_service();
        let req = DeleteScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
            identity: self.identity.clone(),
        };
        match self
            .call("DeleteSchedule", svc.delete_schedule(req.into_request()))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(Code::NotFound) && is_missing_schedule(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// PURE: the visibility query for schedule IDs starting with `prefix`; empty (no filter) for no
/// prefix, or one that a query literal could not hold as it is.
pub fn prefix_query(prefix: &str) -> String {
    starts_with("ScheduleId", prefix)
}

/// PURE: the visibility filter `field STARTS_WITH 'prefix'`; empty (no filter) for no prefix,
/// or one that a query literal could not hold as it is.
pub fn starts_with(field: &str, prefix: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/-_.:@+=".contains(c);
    if prefix.is_empty() || !prefix.chars().all(plain) {
        String::new()
    } else {
        format!("{field} STARTS_WITH '{prefix}'")
    }
}

/// `NotFound` also answers for an unknown namespace; only a missing schedule means "absent".
fn is_missing_schedule(e: &TemporalError) -> bool {
    match e {
        TemporalError::Rpc { message, .. } => !message.to_lowercase().contains("namespace"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_query;

    #[test]
    fn a_listing_asks_for_the_prefix_alone_when_a_literal_can_hold_it() {
        assert_eq!(
            prefix_query("curator/"),
            "ScheduleId STARTS_WITH 'curator/'"
        );
        assert_eq!(prefix_query(""), "");
        // Quotes or backslashes could end the literal: the whole namespace is listed instead.
        assert_eq!(prefix_query("it's/"), "");
        assert_eq!(prefix_query("a\\b/"), "");
        assert_eq!(prefix_query("a b/"), "");
    }
}
