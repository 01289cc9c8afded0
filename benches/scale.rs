//! `cargo bench --bench scale [-- SIZES]`: convergence, idle resync cost, edit latency, memory
//! and autoscaler cost at scale, against a real Temporal dev server (see BENCHMARKS.md).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/bench/harness.rs"]
mod harness;
#[path = "../tests/common/bench/sync_case.rs"]
mod sync_case;

fn main() {
    // `cargo test --all-targets` runs harness-less benches too; only `cargo bench` passes --bench.
    let probe = std::env::var_os("CURATOR_BENCH_MEMORY_PROBE").is_some();
    if !probe && !std::env::args().any(|a| a == "--bench") {
        println!("the scale benchmark runs with `cargo bench --bench scale`");
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let Some(n) = std::env::var("CURATOR_BENCH_MEMORY_PROBE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        let (before, after) = harness::memory_probe(n, 100);
        println!("RSS before {before} after {after}");
        return;
    }
    let sizes: Vec<usize> = args
        .first()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let cfg = harness::Config {
        sizes: sizes.clone(),
        concurrency: 16,
        edits: 200,
        workers: 100,
        queues: 10,
        settle_limit: Some(std::time::Duration::from_secs(600)),
    };
    // Memory: a fresh process holding 10,000 FeedSources and 100 CuratorWorkers.
    let exe = std::env::current_exe().expect("exe");
    let out = std::process::Command::new(exe)
        .env("CURATOR_BENCH_MEMORY_PROBE", "10000")
        .output()
        .expect("memory probe");
    let probe = String::from_utf8_lossy(&out.stdout).into_owned();
    let server = common::TemporalServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(harness::run(&server.address, &cfg));
    println!("{}", harness::markdown(&report, &cfg));
    println!(
        "memory (fresh process, 10,000 FeedSources + 100 CuratorWorkers in the reflector stores): {}",
        probe.trim()
    );
}
