//! `sync` when Temporal misbehaves (an in-memory Temporal that fails on purpose): transient
//! errors are retried with backoff within a bounded total time; a feed fails only when that
//! runs out, and the summary says why; permanent errors are not retried.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use curator_operator::{
    crd::{CuratorWorker, FeedSource},
    runtime::retry::Retry,
    schedule::BuildOptions,
    sync_cli::{
        self, Documents, Options,
        feed::Mode,
        inputs,
        outcome::{Action, Outcome},
        output,
    },
    temporal::{
        Described, ListPage, ScheduleApi, TemporalError,
        proto::{Memo, Schedule, SchedulePatch},
        runs::{RunClose, RunPage, RunsApi},
    },
    testing::schedules::FakeSchedules,
};
use tonic::Code;

/// Fails calls to `method` (or every call) with `error`, `left` times (-1: always); with
/// `lost_answer` the call is made first and only its answer is lost.
struct Faults {
    fake: FakeSchedules,
    method: Option<&'static str>,
    left: AtomicI64,
    error: TemporalError,
    lost_answer: bool,
}

#[derive(Clone)]
struct Flaky(Arc<Faults>);

impl Flaky {
    fn new(method: Option<&'static str>, left: i64, error: TemporalError) -> Self {
        Self(Arc::new(Faults {
            fake: FakeSchedules::default(),
            method,
            left: AtomicI64::new(left),
            error,
            lost_answer: false,
        }))
    }

    fn losing_answers(method: &'static str, left: i64) -> Self {
        Self(Arc::new(Faults {
            fake: FakeSchedules::default(),
            method: Some(method),
            left: AtomicI64::new(left),
            error: TemporalError::Timeout(method),
            lost_answer: true,
        }))
    }

    fn fails(&self, method: &'static str) -> bool {
        if self.0.method.is_some_and(|m| m != method) {
            return false;
        }
        self.0
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| match l {
                0 => None,
                l if l < 0 => Some(l),
                l => Some(l - 1),
            })
            .is_ok()
    }

    async fn call<T>(
        &self,
        method: &'static str,
        f: impl std::future::Future<Output = Result<T, TemporalError>>,
    ) -> Result<T, TemporalError> {
        if !self.fails(method) {
            return f.await;
        }
        if self.0.lost_answer {
            let _ = f.await;
        }
        Err(self.0.error.clone())
    }
}

impl ScheduleApi for Flaky {
    async fn describe(&self, id: &str) -> Result<Option<Described>, TemporalError> {
        self.call("DescribeSchedule", self.0.fake.describe(id))
            .await
    }
    async fn create(&self, id: &str, s: Schedule, m: Memo) -> Result<bool, TemporalError> {
        self.call("CreateSchedule", self.0.fake.create(id, s, m))
            .await
    }
    async fn update(&self, id: &str, s: Schedule, t: Vec<u8>) -> Result<(), TemporalError> {
        self.call("UpdateSchedule", self.0.fake.update(id, s, t))
            .await
    }
    async fn patch(&self, id: &str, p: SchedulePatch, r: String) -> Result<(), TemporalError> {
        self.call("PatchSchedule", self.0.fake.patch(id, p, r))
            .await
    }
    async fn list(&self, p: &str, n: i32, t: Vec<u8>) -> Result<ListPage, TemporalError> {
        self.call("ListSchedules", self.0.fake.list(p, n, t)).await
    }
    async fn delete(&self, id: &str) -> Result<bool, TemporalError> {
        self.call("DeleteSchedule", self.0.fake.delete(id)).await
    }
}

impl RunsApi for Flaky {
    async fn list_runs(&self, q: &str, n: i32, t: Vec<u8>) -> Result<RunPage, TemporalError> {
        self.call("ListWorkflowExecutions", self.0.fake.list_runs(q, n, t))
            .await
    }
    async fn run_close(&self, w: &str, r: &str) -> Result<Option<RunClose>, TemporalError> {
        self.call("GetWorkflowExecutionHistory", self.0.fake.run_close(w, r))
            .await
    }
}

fn rpc(method: &'static str, code: Code) -> TemporalError {
    TemporalError::Rpc {
        method,
        code,
        message: "injected".into(),
    }
}

fn docs(n: usize) -> Documents {
    Documents {
        feeds: (0..n)
            .map(|i| {
                let mut f = FeedSource::test("news", &format!("f{i}")).unsaved();
                // The in-memory Temporal fills in a default task timeout (as older servers
                // did); with it set, the server's form is the declared one.
                f.spec.workflow.task_timeout = Some(curator_operator::crd::GoDuration::new("10s"));
                f
            })
            .collect(),
        workers: vec![CuratorWorker::test("news", "temporal:7233").unsaved()],
        errors: Vec::new(),
    }
}

async fn run(api: &Flaky, n: usize, budget: Duration) -> Vec<Outcome> {
    let o = Options {
        mode: Mode {
            dry_run: false,
            verify: false,
            retry: Retry {
                budget,
                first: Duration::from_millis(5),
                cap: Duration::from_millis(50),
            },
        },
        prune: false,
        concurrency: 4,
        build: BuildOptions::new("sync", "curator-operator"),
        check_runs: false,
    };
    let p = inputs::prepare(&docs(n), &o.build, None).expect("valid");
    sync_cli::sync_all(
        &p,
        &o,
        |_, _| {
            let a = api.clone();
            async move { Ok(a) }
        },
        None,
    )
    .await
}

#[tokio::test]
async fn intermittent_transient_errors_are_retried_until_every_feed_is_created() {
    for error in [
        rpc("CreateSchedule", Code::Unavailable),
        rpc("CreateSchedule", Code::ResourceExhausted),
        TemporalError::Timeout("CreateSchedule"),
    ] {
        let api = Flaky::new(Some("CreateSchedule"), 8, error.clone());
        let out = run(&api, 10, Duration::from_secs(10)).await;
        assert!(
            out.iter().all(|o| o.action == Action::Create && o.applied),
            "{error}: {out:?}"
        );
        assert!(out.iter().any(|o| o.attempts > 1), "{out:?}");
        assert_eq!(api.0.fake.schedules.lock().expect("lock").len(), 10);
        assert!(output::summary(&out, false).contains("needed retries"));
        assert_eq!(output::exit_code(&out, false, false, false), output::OK);
    }
}

#[tokio::test]
async fn a_feed_fails_only_when_the_retry_time_runs_out_and_the_summary_says_why() {
    let api = Flaky::new(
        Some("CreateSchedule"),
        -1,
        TemporalError::Timeout("CreateSchedule"),
    );
    let started = std::time::Instant::now();
    let out = run(&api, 6, Duration::from_millis(300)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "bounded");
    for o in &out {
        assert_eq!(o.action, Action::Error);
        assert!(o.attempts > 2, "{o:?}");
        let e = o.error.as_deref().unwrap_or_default();
        assert!(
            e.starts_with("gave up after") && e.contains("CreateSchedule timed out"),
            "{e}"
        );
        assert_eq!(o.reason, Some("TemporalUnreachable"));
    }
    assert!(output::summary(&out, false).contains("6 failed (TemporalUnreachable: 6)"));
    assert_eq!(output::exit_code(&out, false, false, false), output::FAILED);

    // Temporal down for the whole run: the listing fails (after its retries), and with it
    // every feed.
    let down = Flaky::new(None, -1, rpc("ListSchedules", Code::Unavailable));
    let out = run(&down, 3, Duration::from_millis(200)).await;
    assert!(out.iter().all(|o| o.action == Action::Error), "{out:?}");
    assert!(
        out[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("listing schedules")
    );
    assert!(down.0.fake.writes() == 0);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let api = Flaky::new(
        Some("CreateSchedule"),
        -1,
        rpc("CreateSchedule", Code::InvalidArgument),
    );
    let out = run(&api, 2, Duration::from_secs(10)).await;
    for o in &out {
        assert_eq!((o.action, o.attempts), (Action::Error, 1), "{o:?}");
        assert_eq!(o.reason, Some("TemporalRejectedSpec"));
    }
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_reported_as_created_once() {
    let api = Flaky::losing_answers("CreateSchedule", 3);
    let out = run(&api, 3, Duration::from_secs(10)).await;
    assert!(
        out.iter().all(|o| o.action == Action::Create && o.applied),
        "{out:?}"
    );
    assert_eq!(api.0.fake.schedules.lock().expect("lock").len(), 3);
}
