//! `cargo bench --bench cluster [-- FEEDS [IDLE_SECONDS [RESYNC_SECONDS]]]`: the operator binary
//! on a real API server with 10,000 FeedSources and 100 CuratorWorkers by default (see
//! BENCHMARKS.md).

#[path = "../tests/common/bench/cluster_run.rs"]
mod cluster_run;
#[path = "../tests/common/mod.rs"]
mod common;

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
        runs: true,
    };
    let Some(cluster) = common::cluster::private() else {
        eprintln!("no control plane: see scripts/cluster.sh");
        std::process::exit(1);
    };
    let temporal = common::TemporalServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(cluster_run::run(&cluster, &temporal.address, &cfg));
    println!("{}", cluster_run::markdown(&report, &cfg));
}
