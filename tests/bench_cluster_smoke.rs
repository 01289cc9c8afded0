//! The real-API-server benchmark at N = 1,000 (`cargo bench --bench cluster` runs 10,000): the
//! operator binary converges 1,000 FeedSources applied server-side, with one CreateSchedule,
//! one finalizer patch, one event and one status write each until Ready (a second records the
//! next runs when a listing shows them, which waits for the creates to end), reads its
//! CuratorWorkers from its cache, and writes nothing while idle. The times are printed, not
//! asserted.

#[path = "common/bench/cluster_run.rs"]
mod cluster_run;
mod common;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_thousand_feedsources_on_a_real_api_server() {
    let Some(cluster) = common::cluster::private() else {
        return;
    };
    let temporal = common::TemporalServer::start();
    let cfg = cluster_run::Config {
        feeds: 1_000,
        workers: 10,
        namespaces: 5,
        concurrency: 16,
        idle: Duration::from_secs(25),
        resync: Duration::from_secs(20),
        runs: true,
    };
    let hour = || jiff::Timestamp::now().as_second() / 3600;
    let first_hour = hour();
    let r = cluster_run::run(&cluster, &temporal.address, &cfg).await;
    println!("{}", cluster_run::markdown(&r, &cfg));
    let n = cfg.feeds as u64;
    let get = |m: &std::collections::BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    // A Temporal call the loaded dev server cancels is retried; the failure may be reported
    // (a status write, a Warning event) before the retry succeeds.
    let failed = r.temporal_failures;
    println!("Temporal calls failed during convergence: {failed}");
    let creates = get(&r.converge_temporal, "CreateSchedule");
    assert!(
        (n..=n + failed).contains(&creates),
        "one CreateSchedule each: {:?}",
        r.converge_temporal
    );
    assert!(
        get(&r.converge_temporal, "DescribeSchedule") <= 2 * cfg.workers as u64 + failed,
        "no describe per feed (the workers describe buun-curator's global schedule): {:?}",
        r.converge_temporal
    );
    assert_eq!(r.unsettled, 0, "every FeedSource's next runs are recorded");
    // Watches and requests share one HTTP/2 connection, as client-go's do (with HTTP/1.1, 64
    // reconciles at once left about 130 open).
    assert_eq!(
        r.kube_connections,
        (1, 1),
        "one connection to the API server, at convergence and idle"
    );
    let kube = &r.converge_kube;
    let status_writes = get(kube, "patch feedsources/status");
    assert!(
        (n..=2 * n + 2 * failed).contains(&status_writes),
        "one status write each when Ready, at most one more for the next runs: {kube:?}"
    );
    assert_eq!(
        get(kube, "patch feedsources"),
        n,
        "one finalizer patch each: {kube:?}"
    );
    // The event follows the Ready status: the last few may be sent after the watch saw Ready.
    let events = get(kube, "create events") + get(&r.settle_kube, "create events");
    assert!(
        (n..=n + 2 * failed).contains(&events),
        "one ScheduleCreated event each: {kube:?} then {:?}",
        r.settle_kube
    );
    assert!(
        get(kube, "get curatorworkers") <= cfg.workers as u64,
        "the workers come from the cache (a GET only before it has them): {kube:?}"
    );
    // Every schedule runs hourly: when an hour begins during the run, its next runs move and
    // the resync records them, which is a legitimate write.
    if hour() == first_hour {
        let writes: Vec<_> = r
            .idle_kube
            .iter()
            .filter(|(k, _)| !k.starts_with("get ") && !k.starts_with("list "))
            .collect();
        assert!(
            writes.is_empty(),
            "an idle resync writes nothing: {writes:?}"
        );
        // The FeedSources read the listing; the workers' own resyncs read their task queue
        // load and buun-curator's global schedule (one describe per Temporal namespace).
        let reads = [
            "CountWorkflowExecutions",
            "DescribeSchedule",
            "DescribeTaskQueue",
            "ListSchedules",
        ];
        let idle = &r.idle_temporal;
        assert!(
            idle.keys().all(|k| reads.contains(&k.as_str())),
            "an idle resync writes nothing to Temporal: {idle:?}"
        );
        assert!(
            get(idle, "DescribeSchedule") <= 2 * cfg.workers as u64,
            "no describe per feed while idle (the workers describe the global schedule): {idle:?}"
        );
    } else {
        println!("an hour began during the run: the idle-write check is skipped");
    }
    // Feed health: every run shows, at the cost of the runs' own reads: visibility queries
    // (one per Temporal namespace every 30 s while runs are in progress) and one close-event
    // read per ended run; no describe per feed.
    assert_eq!(r.runs_unshown, 0, "every run shown completed");
    let runs = &r.runs_temporal;
    let shown = r.runs_shown.as_secs() + 30;
    assert!(
        get(runs, "ListWorkflowExecutions") <= shown / 30 + 1,
        "one visibility query every 30 s: {runs:?}"
    );
    let reads = get(runs, "GetWorkflowExecutionHistory");
    assert!(
        (n..=n + failed).contains(&reads),
        "one read per ended run: {runs:?}"
    );
    assert!(
        get(runs, "DescribeSchedule") <= 2 * cfg.workers as u64,
        "no describe per feed: {runs:?}"
    );
    let status_writes = get(&r.runs_kube, "patch feedsources/status");
    assert!(
        status_writes <= 2 * n + failed,
        "at most two status writes per run (its start, its end): {:?}",
        r.runs_kube
    );
}
