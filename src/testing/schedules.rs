//! An in-memory [`ScheduleApi`] for tests and benchmarks. Like the real server it rewrites
//! what it is given (cron strings become calendars, a default task timeout is filled in), hands
//! out conflict tokens, and can be told to drop updates whose token is stale, as server 1.32
//! does.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use crate::temporal::{
    Described, ListPage, Listed, ScheduleApi, TemporalError, WRITE_METHODS, memo,
    proto::{Action, CalendarSpec, Memo, Schedule, ScheduleActionResult, SchedulePatch},
    runs::{RunClose, RunPage, RunRow, RunsApi},
};

/// One stored schedule.
#[derive(Clone, Debug, Default)]
pub struct Stored {
    /// Canonical schedule.
    pub schedule: Schedule,
    /// Memo.
    pub memo: Memo,
    /// Bumped on every write.
    pub version: u64,
    /// Runs triggered.
    pub triggered: u64,
    /// The recent runs a listing shows (tests set them).
    pub recent: Vec<ScheduleActionResult>,
    /// The next run times a listing shows (tests set them).
    pub next: Vec<prost_wkt_types::Timestamp>,
}

/// The fake server.
#[derive(Default)]
pub struct FakeSchedules {
    /// Schedules by ID.
    pub schedules: Mutex<BTreeMap<String, Stored>>,
    /// Calls by method name.
    pub calls: Mutex<HashMap<&'static str, u64>>,
    /// When true, an update with a stale token is acknowledged but not applied.
    pub drop_stale_updates: bool,
    /// When set, every call fails with this error.
    pub fail_with: Mutex<Option<TemporalError>>,
    /// The runs visibility lists (every query gets them all).
    pub runs: Mutex<Vec<RunRow>>,
    /// How runs ended, by run ID.
    pub closes: Mutex<HashMap<String, RunClose>>,
}

fn canonical(mut s: Schedule) -> Schedule {
    if let Some(spec) = s.spec.as_mut() {
        for cron in spec.cron_string.drain(..) {
            spec.calendar.push(CalendarSpec {
                comment: format!("cron: {cron}"),
                ..Default::default()
            });
        }
    }
    if let Some(Action::StartWorkflow(wf)) = s.action.as_mut().and_then(|a| a.action.as_mut())
        && wf.workflow_task_timeout.is_none()
    {
        wf.workflow_task_timeout = Some(prost_wkt_types::Duration {
            seconds: 10,
            nanos: 0,
        });
    }
    s
}

impl FakeSchedules {
    fn count(&self, method: &'static str) -> Result<(), TemporalError> {
        *self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(method)
            .or_default() += 1;
        match self
            .fail_with
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Calls made to `method` so far.
    pub fn calls(&self, method: &str) -> u64 {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(method)
            .copied()
            .unwrap_or_default()
    }

    /// Writes (create, update, patch, delete) made so far.
    pub fn writes(&self) -> u64 {
        WRITE_METHODS.iter().map(|m| self.calls(m)).sum()
    }

    /// Changes a stored schedule in place, as a person in the UI would.
    pub fn edit(&self, id: &str, f: impl FnOnce(&mut Stored)) {
        let mut m = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = m.get_mut(id) {
            f(s);
            s.version += 1;
        }
    }

    /// A copy of a stored schedule.
    pub fn get(&self, id: &str) -> Option<Stored> {
        self.schedules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
}

impl ScheduleApi for FakeSchedules {
    async fn describe(&self, id: &str) -> Result<Option<Described>, TemporalError> {
        self.count("DescribeSchedule")?;
        Ok(self.get(id).map(|s| Described {
            memo_info: memo::parse(Some(&s.memo), Some(&s.schedule)),
            schedule: s.schedule,
            memo: Some(s.memo),
            conflict_token: s.version.to_be_bytes().to_vec(),
            ..Default::default()
        }))
    }

    async fn create(
        &self,
        id: &str,
        schedule: Schedule,
        memo: Memo,
    ) -> Result<bool, TemporalError> {
        self.count("CreateSchedule")?;
        let mut m = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        if m.contains_key(id) {
            return Ok(false);
        }
        m.insert(
            id.to_owned(),
            Stored {
                schedule: canonical(schedule),
                memo,
                version: 1,
                ..Default::default()
            },
        );
        Ok(true)
    }

    async fn update(
        &self,
        id: &str,
        schedule: Schedule,
        conflict_token: Vec<u8>,
    ) -> Result<(), TemporalError> {
        self.count("UpdateSchedule")?;
        let mut m = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = m.get_mut(id) else {
            return Err(TemporalError::Rpc {
                method: "UpdateSchedule",
                code: tonic::Code::NotFound,
                message: "schedule not found".into(),
            });
        };
        if conflict_token != s.version.to_be_bytes() && self.drop_stale_updates {
            return Ok(());
        }
        s.schedule = canonical(schedule);
        s.version += 1;
        Ok(())
    }

    async fn patch(
        &self,
        id: &str,
        patch: SchedulePatch,
        _request_id: String,
    ) -> Result<(), TemporalError> {
        self.count("PatchSchedule")?;
        self.edit(id, |s| {
            let state = s.schedule.state.get_or_insert_with(Default::default);
            if !patch.pause.is_empty() {
                state.paused = true;
                state.notes = patch.pause.clone();
            }
            if !patch.unpause.is_empty() {
                state.paused = false;
                state.notes = patch.unpause.clone();
            }
            if patch.trigger_immediately.is_some() {
                s.triggered += 1;
            }
        });
        Ok(())
    }

    async fn list(
        &self,
        id_prefix: &str,
        page_size: i32,
        page_token: Vec<u8>,
    ) -> Result<ListPage, TemporalError> {
        self.count("ListSchedules")?;
        let start = String::from_utf8(page_token).unwrap_or_default();
        let m = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        let size = usize::try_from(page_size.max(1)).unwrap_or(1);
        let mut items = m
            .range(start..)
            .filter(|(id, _)| id.starts_with(id_prefix))
            .map(|(id, s)| {
                let state = s.schedule.state.clone().unwrap_or_default();
                Listed {
                    id: id.clone(),
                    memo_info: memo::parse(Some(&s.memo), None),
                    spec: s.schedule.spec.clone(),
                    paused: state.paused,
                    notes: state.notes,
                    recent_actions: s.recent.clone(),
                    future_action_times: s.next.clone(),
                }
            });
        let schedules: Vec<Listed> = items.by_ref().take(size).collect();
        let next_page_token = items.next().map(|l| l.id.into_bytes()).unwrap_or_default();
        Ok(ListPage {
            schedules,
            next_page_token,
        })
    }

    async fn delete(&self, id: &str) -> Result<bool, TemporalError> {
        self.count("DeleteSchedule")?;
        Ok(self
            .schedules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .is_some())
    }
}

impl RunsApi for FakeSchedules {
    async fn list_runs(
        &self,
        _query: &str,
        _page_size: i32,
        _page_token: Vec<u8>,
    ) -> Result<RunPage, TemporalError> {
        self.count("ListWorkflowExecutions")?;
        Ok(RunPage {
            runs: self.runs.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            next_page_token: Vec::new(),
        })
    }

    async fn run_close(
        &self,
        _workflow_id: &str,
        run_id: &str,
    ) -> Result<Option<RunClose>, TemporalError> {
        self.count("GetWorkflowExecutionHistory")?;
        Ok(self
            .closes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(run_id)
            .cloned())
    }
}
