//! A [`ScheduleApi`] layer that counts calls by method, to prove "no write" and measure cost.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use crate::temporal::{
    Described, ListPage, ScheduleApi, TemporalError, WRITE_METHODS,
    proto::{Memo, Schedule, SchedulePatch},
    runs::{RunClose, RunPage, RunsApi},
};

/// Wraps `A` and counts calls; clones share the counters.
#[derive(Clone)]
pub struct Counting<A> {
    inner: A,
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl<A> Counting<A> {
    /// Starts counting calls to `inner`.
    pub fn new(inner: A) -> Self {
        Self {
            inner,
            counts: Arc::default(),
        }
    }

    fn bump(&self, method: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(method)
            .or_default() += 1;
    }

    /// Calls so far, by method.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Calls to `method` so far.
    pub fn get(&self, method: &str) -> u64 {
        self.snapshot().get(method).copied().unwrap_or_default()
    }

    /// Writes so far.
    pub fn writes(&self) -> u64 {
        WRITE_METHODS.iter().map(|m| self.get(m)).sum()
    }

    /// Resets the counters.
    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl<A: ScheduleApi> ScheduleApi for Counting<A> {
    async fn describe(&self, id: &str) -> Result<Option<Described>, TemporalError> {
        self.bump("DescribeSchedule");
        self.inner.describe(id).await
    }
    async fn create(&self, id: &str, s: Schedule, m: Memo) -> Result<bool, TemporalError> {
        self.bump("CreateSchedule");
        self.inner.create(id, s, m).await
    }
    async fn update(&self, id: &str, s: Schedule, t: Vec<u8>) -> Result<(), TemporalError> {
        self.bump("UpdateSchedule");
        self.inner.update(id, s, t).await
    }
    async fn patch(&self, id: &str, p: SchedulePatch, r: String) -> Result<(), TemporalError> {
        self.bump("PatchSchedule");
        self.inner.patch(id, p, r).await
    }
    async fn list(&self, p: &str, n: i32, t: Vec<u8>) -> Result<ListPage, TemporalError> {
        self.bump("ListSchedules");
        self.inner.list(p, n, t).await
    }
    async fn delete(&self, id: &str) -> Result<bool, TemporalError> {
        self.bump("DeleteSchedule");
        self.inner.delete(id).await
    }
}

impl<A: RunsApi> RunsApi for Counting<A> {
    async fn list_runs(&self, q: &str, n: i32, t: Vec<u8>) -> Result<RunPage, TemporalError> {
        self.bump("ListWorkflowExecutions");
        self.inner.list_runs(q, n, t).await
    }
    async fn run_close(&self, w: &str, r: &str) -> Result<Option<RunClose>, TemporalError> {
        self.bump("GetWorkflowExecutionHistory");
        self.inner.run_close(w, r).await
    }
}
