//! `cargo bench --bench cluster [-- FEEDS [IDLE_SECONDS [RESYNC_SECONDS]]]`: the operator binary
//! with its shipped defaults on a real API server with 10,000 FeedSources and 100
//! CuratorWorkers by default (see BENCHMARKS.md). `CURATOR_BENCH_PIN=1`: the Temporal dev
//! server alone on CPU 0, everything else on CPU 1; `CURATOR_BENCH_UNPACED=1`: the operator's
//! calls unpaced (`--temporal-rps 0`); `CURATOR_BENCH_NO_RUNS=1`: no phase 4 (the runs).

#[path = "../tests/common/bench/cluster_run.rs"]
mod cluster_run;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/bench/pin.rs"]
mod pin;

use std::time::Duration;

fn main() {
    // `cargo test --all-targets` runs harness-less benches too; only `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("the cluster benchmark runs with `cargo bench --bench cluster`");
        return;
    }
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .filter_map(|a| a.parse().ok())
        .collect();
    let cfg = cluster_run::Config {
        feeds: args.first().map_or(10_000, |n| *n as usize),
        workers: 100,
        namespaces: 10,
        concurrency: 16,
        idle: Duration::from_secs(args.get(1).copied().unwrap_or(330)),
        resync: Duration::from_secs(args.get(2).copied().unwrap_or(300)),
        // Phase 4 (every schedule run once, about 15 minutes at 10,000) unless
        // `CURATOR_BENCH_NO_RUNS` is set.
        runs: std::env::var_os("CURATOR_BENCH_NO_RUNS").is_none(),
    };
    let Some(cluster) = common::cluster::private() else {
        eprintln!("no control plane: see scripts/cluster.sh");
        std::process::exit(1);
    };
    let temporal = common::TemporalServer::start();
    // As in production, where Temporal has machines of its own (`CURATOR_BENCH_PIN`); the
    // runtime's threads, started next, inherit this process's CPU.
    let cpus = std::env::var_os("CURATOR_BENCH_PIN").map(|_| {
        let dir = cluster.kubeconfig.parent().expect("cluster dir");
        pin::like_production(temporal.port(), dir)
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = rt.block_on(cluster_run::run(&cluster, &temporal.address, &cfg));
    report.cpus = cpus.unwrap_or_default();
    println!("{}", cluster_run::markdown(&report, &cfg));
}
