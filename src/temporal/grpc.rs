//! [`ScheduleApi`] over temporalio-client's raw gRPC service.

use std::{future::Future, sync::Arc, time::Duration};

use temporalio_client::Connection;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, DescribeScheduleRequest, ListSchedulesRequest,
    PatchScheduleRequest, UpdateScheduleRequest,
};
use tonic::Code;

use super::{Described, ListPage, Listed, ScheduleApi, TemporalError};
use super::{
    memo,
    pace::{Budget, Pace, Ticket},
    proto::{Memo, Schedule, SchedulePatch},
};
use crate::metrics::Metrics;

/// `$api.call($method, ..)` of the workflow service's `$rpc` with `$req`, a fresh copy of the
/// request for each try.
macro_rules! rpc {
    ($api:expr, $method:literal, $rpc:ident, $req:expr) => {{
        let (conn, req) = ($api.connection(), $req);
        $api.call($method, move || {
            let mut svc = conn.workflow_service();
            let req = tonic::IntoRequest::into_request(req.clone());
            async move { svc.$rpc(req).await }
        })
    }};
}
pub(crate) use rpc;

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

    /// Waits for `pace` (the budget of each call's method) before every call, and slows it
    /// down when Temporal answers `ResourceExhausted`; `address` names the frontend in metrics.
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

    /// Sends one RPC made by `send`, within the namespace's places in flight and its pace.
    /// A call Temporal refuses for its rate (`ResourceExhausted`) slows the pace of its budget
    /// and is sent again when the slower pace lets it, up to [`REFUSED_RETRIES`] times and
    /// within the call's timeout: the server did not act on it.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        method: &'static str,
        send: F,
    ) -> Result<T, TemporalError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let budget = Budget::of(method);
        let deadline = std::time::Instant::now().checked_add(self.timeout);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, ticket) = self.attempt(method, budget, &send).await;
            let refused = matches!(
                &result,
                Err(TemporalError::Rpc {
                    code: tonic::Code::ResourceExhausted,
                    ..
                })
            );
            let Some((pace, ticket)) = self.limiter.as_ref().zip(ticket) else {
                return result;
            };
            if refused {
                let cut = pace.refused(budget, ticket);
                self.report(pace, budget, true);
                if cut {
                    tracing::debug!(
                        namespace = %self.namespace,
                        budget = budget.label(),
                        rate = pace.rate(budget),
                        "Temporal answered ResourceExhausted: calls to this namespace slowed down"
                    );
                }
                if attempt <= REFUSED_RETRIES
                    && deadline.is_none_or(|d| std::time::Instant::now() < d)
                {
                    continue;
                }
            } else {
                self.report(pace, budget, false);
            }
            return result;
        }
    }

    /// One try of a call: the pace's turn, a place in flight, the RPC within the timeout.
    async fn attempt<T, F, Fut>(
        &self,
        method: &'static str,
        budget: Budget,
        send: &F,
    ) -> (Result<T, TemporalError>, Option<Ticket>)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        // The pace's turn first, then a place in flight: a call waiting on a slow budget holds
        // no place that a call of another budget could use.
        let ticket = match &self.limiter {
            Some(pace) => Some(pace.wait(budget).await),
            None => None,
        };
        // Never closed, so acquiring fails only if it were: then the call goes unlimited.
        let _slot = match &self.in_flight {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        let start = std::time::Instant::now();
        let result = match tokio::time::timeout(self.timeout, send()).await {
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
        (result, ticket)
    }

    /// Exports the pace of `budget`, and counts a refusal.
    fn report(&self, pace: &Pace, budget: Budget, refused: bool) {
        if let Some(m) = &self.metrics {
            let labels = crate::metrics::TemporalBudget {
                temporal_address: self.address.clone(),
                temporal_namespace: self.namespace.clone(),
                budget: budget.label().to_owned(),
            };
            if refused {
                m.temporal_throttled.get_or_create(&labels).inc();
            }
            m.temporal_pace
                .get_or_create(&labels)
                .set(pace.rate(budget));
        }
    }
}

/// How many times a call refused for the rate is sent again (each after the slower pace's
/// wait) before the refusal goes to the caller.
pub const REFUSED_RETRIES: u32 = 3;

// Unique per call: Temporal dedupes retries of one logical request by it.
fn request_id() -> String {
    crate::runtime::request_id("curator")
}

impl ScheduleApi for GrpcSchedules {
    async fn describe(&self, id: &str) -> Result<Option<Described>, TemporalError> {
        let req = DescribeScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
        };
        match rpc!(self, "DescribeSchedule", describe_schedule, req).await {
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
        let req = CreateScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
            schedule: Some(schedule),
            identity: self.identity.clone(),
            request_id: request_id(),
            memo: Some(memo),
            ..Default::default()
        };
        match rpc!(self, "CreateSchedule", create_schedule, req).await {
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
        let req = UpdateScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
            schedule: Some(schedule),
            conflict_token,
            identity: self.identity.clone(),
            request_id: request_id(),
            ..Default::default()
        };
        rpc!(self, "UpdateSchedule", update_schedule, req)
            .await
            .map(|_| ())
    }

    async fn patch(
        &self,
        id: &str,
        patch: SchedulePatch,
        request_id: String,
    ) -> Result<(), TemporalError> {
        let req = PatchScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
            patch: Some(patch),
            identity: self.identity.clone(),
            request_id,
        };
        rpc!(self, "PatchSchedule", patch_schedule, req)
            .await
            .map(|_| ())
    }

    async fn list(
        &self,
        id_prefix: &str,
        page_size: i32,
        page_token: Vec<u8>,
    ) -> Result<ListPage, TemporalError> {
        let mut req = ListSchedulesRequest {
            namespace: self.namespace.clone(),
            maximum_page_size: page_size,
            next_page_token: page_token,
            query: prefix_query(id_prefix),
        };
        let first = rpc!(self, "ListSchedules", list_schedules, req.clone()).await;
        let r = match first {
            // A server without schedule queries (before 1.24 or so) rejects the filter: the
            // whole namespace is listed, and the caller keeps its own IDs.
            Err(e) if !req.query.is_empty() && e.code() == Some(Code::InvalidArgument) => {
                req.query.clear();
                rpc!(self, "ListSchedules", list_schedules, req).await?
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
        let req = DeleteScheduleRequest {
            namespace: self.namespace.clone(),
            schedule_id: id.to_owned(),
            identity: self.identity.clone(),
        };
        match rpc!(self, "DeleteSchedule", delete_schedule, req).await {
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
