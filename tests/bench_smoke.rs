//! A small-N run of the scale benchmark (`cargo bench --bench scale` runs the full one): it
//! must converge, write nothing on an idle resync, and poll per queue, not per worker; `sync`
//! must create with one call per feed and re-run with one listing.

mod common;
#[path = "common/bench/harness.rs"]
mod harness;
#[path = "common/bench/sync_case.rs"]
mod sync_case;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_benchmark_smoke() {
    let server = common::TemporalServer::start();
    let cfg = harness::Config {
        sizes: vec![40],
        concurrency: 8,
        edits: 10,
        workers: 20,
        queues: 4,
        settle_limit: None,
    };
    let report = harness::run(&server.address, &cfg).await;
    println!("{}", harness::markdown(&report, &cfg));
    let s = &report.sizes[0];
    assert_eq!(s.converge_rpcs.get("CreateSchedule"), Some(&40));
    assert_eq!(
        s.converge_rpcs.get("DescribeSchedule"),
        None,
        "a new feed costs one call: {:?}",
        s.converge_rpcs
    );
    assert_eq!(
        s.idle_writes(),
        0,
        "an idle resync writes nothing: {:?}",
        s.idle_rpcs
    );
    assert_eq!(
        s.idle_rpcs.get("DescribeSchedule"),
        None,
        "no describe per feed: {:?}",
        s.idle_rpcs
    );
    assert!(
        s.idle_rpcs.keys().all(|k| k == "ListSchedules")
            && s.idle_rpcs.get("ListSchedules").copied().unwrap_or(0) <= 1,
        "at most one page for 40 schedules (none while the listing the follow-ups fetched is \
         younger than a quarter of the resync interval): {:?}",
        s.idle_rpcs
    );
    assert_eq!(s.edit_latencies.len(), 10);
    assert_eq!(
        s.sync.first_rpcs.get("CreateSchedule"),
        Some(&40),
        "{:?}",
        s.sync.first_rpcs
    );
    assert_eq!(s.sync.first_rpcs.get("DescribeSchedule"), None);
    assert_eq!(s.sync.first_rpcs.get("ListSchedules"), Some(&1));
    assert_eq!(
        s.sync.rerun_rpcs.clone().into_iter().collect::<Vec<_>>(),
        vec![("ListSchedules".to_owned(), 1)],
        "an unchanged sync re-run is one listing"
    );
    let polls = report
        .autoscaler_rpcs
        .get("DescribeTaskQueue")
        .copied()
        .unwrap_or_default();
    assert_eq!(
        polls,
        2 * 4,
        "two DescribeTaskQueue per queue, not per worker: {:?}",
        report.autoscaler_rpcs
    );
    assert_eq!(
        report.autoscaler_rpcs.get("CountWorkflowExecutions"),
        Some(&4)
    );
    let (before, after) = harness::memory_probe(1000, 10);
    assert!(after >= before);
}
