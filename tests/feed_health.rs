//! Feed health on a real API server: the operator binary, a Temporal dev server, and the
//! contract worker (`tests/python/ingestion_worker.py serve`) on the schedules' task queue,
//! whose runs complete, fail, hang or sleep on command. Each outcome shows in the FeedSource's
//! status, its `Ingesting` condition, the printer columns, the events and the metrics.

mod common;

use std::{process::Command, time::Duration};

use common::{
    PythonWorker,
    cluster::{self, eventually},
    namespace::with_namespace,
    operator::{Operator, Options},
};
use curator_operator::crd::{
    CuratorWorker, FeedSource, GoDuration,
    feedsource::{InputField, RunOutcome},
};
use k8s_openapi::api::core::v1::Event;
use kube::{Api, api::PostParams};

/// A FeedSource every `every` whose runs end as `outcome` says (`testOutcome` in the input).
fn feed(ns: &str, name: &str, every: &str, outcome: &str) -> FeedSource {
    let mut f = FeedSource::test(ns, name).unsaved();
    f.spec.schedule.every = Some(GoDuration::new(every));
    f.spec.feed.extra_input = vec![InputField {
        name: "testOutcome".into(),
        value: serde_json::json!(outcome),
    }];
    f
}

fn condition(f: &FeedSource, type_: &str) -> Option<(String, String, String)> {
    let s = f.status.as_ref()?;
    let c = s.conditions.find(type_)?;
    Some((c.status, c.reason, c.message))
}

/// Waits until FeedSource `name` satisfies `check`; returns it.
async fn wait_for(
    feeds: &Api<FeedSource>,
    name: &str,
    what: &str,
    within: Duration,
    check: impl Fn(&FeedSource) -> bool,
) -> FeedSource {
    eventually(&format!("{name}: {what}"), within, || async {
        feeds.get(name).await.ok().is_some_and(|f| check(&f))
    })
    .await;
    feeds.get(name).await.expect("get")
}

fn outcome(f: &FeedSource) -> Option<RunOutcome> {
    f.status.as_ref()?.last_run.as_ref()?.outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_shows_in_status_condition_columns_events_and_metrics() {
    let Some(space) = with_namespace("health").await else {
        return;
    };
    let (c, client, ns) = (space.cluster, space.client.clone(), space.ns.clone());
    let temporal = common::shared();
    let _worker = PythonWorker::serve(&temporal.address, &ns);
    let prefix = cluster::unique("health");
    let op = Operator::start(Options {
        kubeconfig: &c.kubeconfig,
        pod_name: "health",
        lease: None,
        args: [
            "--watch-namespaces",
            &ns,
            "--schedule-id-prefix",
            &prefix,
            // Short, so that a run that hangs ends within the test; the FeedSources set none.
            "--default-execution-timeout",
            "20s",
        ]
        .map(String::from)
        .to_vec(),
    });
    let mut w = CuratorWorker::test(&ns, &temporal.address).unsaved();
    w.spec.temporal.task_queue = ns.clone();
    Api::<CuratorWorker>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &w)
        .await
        .expect("worker");
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), &ns);
    // Hourly: its only run in the test is the one the run-now annotation starts.
    let mut on_demand = feed(&ns, "on-demand", "1h", "complete");
    on_demand.metadata.annotations =
        Some([("curator.buun.dev/run-now".to_owned(), "1".to_owned())].into());
    let mut stuck = feed(&ns, "stuck", "15s", "hang");
    stuck.spec.workflow.execution_timeout = Some(GoDuration::new("0s"));
    for f in [
        feed(&ns, "completes", "30s", "complete"),
        feed(&ns, "fails", "30s", "fail"),
        feed(&ns, "reports-error", "30s", "error"),
        feed(&ns, "hangs", "30s", "hang"),
        feed(&ns, "sleeps", "30s", "sleep"),
        on_demand,
        stuck,
    ] {
        feeds
            .create(&PostParams::default(), &f)
            .await
            .expect("feed");
    }
    let within = Duration::from_secs(150);

    // A run that completes: True, with what the worker returned.
    let done = wait_for(&feeds, "completes", "Ingesting=True", within, |f| {
        condition(f, "Ingesting").is_some_and(|c| c.0 == "True")
    })
    .await;
    let s = done.status.clone().expect("status");
    let last = s.last_run.clone().expect("last run");
    assert_eq!(last.outcome, Some(RunOutcome::Completed));
    let result = last.result.expect("result read");
    assert_eq!(
        (result.entries_created, result.contents_fetched),
        (Some(3), Some(3))
    );
    assert!(s.last_success_time.is_some());
    assert_eq!(s.consecutive_failures, 0);
    let (_, reason, message) = condition(&done, "Ingesting").expect("condition");
    assert_eq!(reason, "RunCompleted");
    assert!(message.contains("3 entries created"), "{message}");

    // A run started by the run-now annotation shows too: the listing after the trigger shows
    // it, the watch its end.
    let now = wait_for(&feeds, "on-demand", "its run completed", within, |f| {
        outcome(f) == Some(RunOutcome::Completed)
    })
    .await;
    assert_eq!(
        condition(&now, "Ingesting").map(|c| c.1).as_deref(),
        Some("RunCompleted")
    );

    // A run that fails: False, quoting the failure.
    let failed = wait_for(&feeds, "fails", "RunFailed", within, |f| {
        condition(f, "Ingesting").is_some_and(|c| c.1 == "RunFailed")
    })
    .await;
    assert_eq!(outcome(&failed), Some(RunOutcome::Failed));
    let (status, _, message) = condition(&failed, "Ingesting").expect("condition");
    assert_eq!(status, "False");
    assert!(
        message.contains("crawl failed: HTTP 503 from the feed"),
        "{message}"
    );
    assert!(
        failed
            .status
            .as_ref()
            .is_some_and(|s| s.consecutive_failures >= 1)
    );

    // A run that completes with an error in its result is a failure to ingest.
    let error = wait_for(&feeds, "reports-error", "RunFailed", within, |f| {
        condition(f, "Ingesting").is_some_and(|c| c.1 == "RunFailed")
    })
    .await;
    assert_eq!(outcome(&error), Some(RunOutcome::Completed));
    let (_, _, message) = condition(&error, "Ingesting").expect("condition");
    assert!(
        message.contains("HTTP 503 Service Unavailable"),
        "{message}"
    );

    // A run whose activity retries forever ends at the default timeout, with the activity's
    // error, and the next scheduled run starts.
    let hung = wait_for(&feeds, "hangs", "its first run ended", within, |f| {
        outcome(f) == Some(RunOutcome::Failed)
    })
    .await;
    let first = hung.status.clone().and_then(|s| s.last_run).expect("run");
    let message = first.message.clone().unwrap_or_default();
    assert!(
        message.contains("1 validation error for GetAppSettingsOutput"),
        "{message}"
    );
    wait_for(&feeds, "hangs", "a later run", within, |f| {
        let last = f.status.as_ref().and_then(|s| s.last_run.as_ref());
        last.is_some_and(|l| l.scheduled_time > first.scheduled_time)
    })
    .await;

    // A run that only a timeout ends: RunTimedOut.
    let timed_out = wait_for(&feeds, "sleeps", "RunTimedOut", within, |f| {
        condition(f, "Ingesting").is_some_and(|c| c.1 == "RunTimedOut")
    })
    .await;
    // The next run may be running by now: the condition tells of the last one that ended.
    let (_, _, message) = condition(&timed_out, "Ingesting").expect("condition");
    assert!(message.contains("execution timeout of 20s"), "{message}");

    // A run without a timeout that runs past the feed's interval: RunStuck.
    let stuck = wait_for(&feeds, "stuck", "RunStuck", within, |f| {
        condition(f, "Ingesting").is_some_and(|c| c.1 == "RunStuck")
    })
    .await;
    assert_eq!(outcome(&stuck), Some(RunOutcome::Running));

    // The printer columns.
    let table = c.kubectl_ok(&["get", "feedsources", "-n", &ns, "-o", "wide"]);
    println!("{table}");
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(row("completes").contains("Completed"), "{table}");
    assert!(row("completes").contains("RunCompleted"), "{table}");
    assert!(row("fails").contains("RunFailed"), "{table}");
    assert!(row("sleeps").contains("TimedOut"), "{table}");
    assert!(row("stuck").contains("RunStuck"), "{table}");
    let header = table.lines().next().unwrap_or_default();
    for column in ["INGESTING", "LAST RESULT", "LAST RUN"] {
        assert!(header.contains(column), "{header}");
    }

    // The events: a Warning when Ingesting turns False, with its reason.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    eventually("a RunFailed Warning event", within, || async {
        events.list(&Default::default()).await.is_ok_and(|l| {
            l.items.iter().any(|e| {
                e.reason.as_deref() == Some("RunFailed")
                    && e.type_.as_deref() == Some("Warning")
                    && e.involved_object.name.as_deref() == Some("fails")
            })
        })
    })
    .await;

    // The metrics: runs by outcome, and the last success of each FeedSource.
    let runs = |outcome: &'static str| {
        let ns = ns.clone();
        let op = &op;
        async move {
            op.metric_sum(
                "curator_feed_runs_total",
                &[
                    &format!("namespace=\"{ns}\""),
                    &format!("outcome=\"{outcome}\""),
                ],
            )
            .await
        }
    };
    for o in ["Completed", "Failed", "TimedOut"] {
        assert!(
            runs(o).await >= 1.0,
            "runs {o}: {}",
            op.get("/metrics").await.1
        );
    }
    let success = op
        .metric(&format!(
            "curator_feed_last_success_timestamp_seconds{{namespace=\"{ns}\",name=\"completes\"}}"
        ))
        .await;
    assert!(success.is_some_and(|t| t > 1.7e9), "{success:?}");
    drop(op);
    space.delete().await;
}

/// `sync` as a process, on the dev server with the contract worker: each line and JSON object
/// says how the feed's last run went, and `--check-runs` exits 4 when one failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_reports_the_last_runs_and_fails_on_a_failing_one_with_check_runs() {
    let temporal = common::shared();
    let queue = cluster::unique("sync-health");
    let _worker = PythonWorker::serve(&temporal.address, &queue);
    let dir = tempfile::tempdir().expect("dir");
    let mut y = format!(
        "apiVersion: curator.buun.dev/v1alpha1\nkind: CuratorWorker\nmetadata: {{name: curator, namespace: news}}\nspec: {{image: \"w:1\", temporal: {{address: \"{}\", taskQueue: \"{queue}\"}}}}\n",
        temporal.address
    );
    for (name, outcome) in [("fine", "complete"), ("broken", "fail")] {
        y.push_str(&format!(
            "---\napiVersion: curator.buun.dev/v1alpha1\nkind: FeedSource\nmetadata: {{name: {name}, namespace: news}}\nspec:\n  workerRef: {{name: curator}}\n  feed: {{id: \"id-{name}\", name: \"{name}\", url: \"https://example.com/{name}.xml\", extraInput: [{{name: testOutcome, value: {outcome}}}]}}\n  schedule: {{every: 10s}}\n"
        ));
    }
    std::fs::write(dir.path().join("feeds.yaml"), y).expect("write");
    let prefix = cluster::unique("synchealth");
    let sync = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_curator-operator"))
            .args(["sync", "-f"])
            .arg(dir.path())
            .args(["--schedule-id-prefix", &prefix])
            .args(extra)
            .env_remove("TEMPORAL_ADDRESS")
            .env_remove("INTERNAL_API_TOKEN")
            .output()
            .expect("sync");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = sync(&[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // Both have run, and the failing one has ended, as visibility shows it.
    let mut last = (None, String::new(), String::new());
    eventually("a run of each feed, ended", Duration::from_secs(90), || {
        last = sync(&["-o", "json", "--check-runs"]);
        let lines: Vec<serde_json::Value> = last
            .1
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let ended = |name: &str| {
            lines.iter().any(|l| {
                l["resource"] == format!("news/{name}")
                    && l["ingestion"]["lastRun"]["outcome"]
                        .as_str()
                        .is_some_and(|o| o != "Running")
            })
        };
        std::future::ready(ended("fine") && ended("broken"))
    })
    .await;
    let (code, stdout, _) = last;
    println!("{stdout}");
    assert_eq!(code, Some(4), "--check-runs: a failing last run");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |name: &str| {
        lines
            .iter()
            .find(|l| l["resource"] == format!("news/{name}"))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(of("fine")["ingestion"]["status"], "True");
    assert_eq!(
        of("fine")["ingestion"]["lastRun"]["result"]["entriesCreated"],
        3
    );
    assert_eq!(of("broken")["ingestion"]["reason"], "RunFailed");
    let message = of("broken")["ingestion"]["message"].to_string();
    assert!(message.contains("crawl failed: HTTP 503"), "{message}");
    // The text output, without the flag: the same verdict, exit 0.
    let (code, stdout, _) = sync(&[]);
    assert_eq!(code, Some(0), "{stdout}");
    let broken = stdout
        .lines()
        .find(|l| l.contains("news/broken"))
        .unwrap_or_default();
    assert!(broken.contains("ingesting: False RunFailed"), "{stdout}");
    assert!(
        stdout.contains("last runs: 1 ok, 1 failing (RunFailed: 1)"),
        "{stdout}"
    );
}
