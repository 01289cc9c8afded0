//! `cargo bench --bench limited [-- FEEDS]`: `sync` and the operator with the shipped defaults
//! against a dev server limited to 10 calls per second per namespace, then against one whose
//! limit changes mid-run (see BENCHMARKS.md).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/bench/harness.rs"]
mod harness;
#[path = "../tests/common/bench/limited.rs"]
mod limited;
#[path = "../tests/common/bench/sync_case.rs"]
mod sync_case;

use limited::{Case, Who};

fn main() {
    // `cargo test --all-targets` runs harness-less benches too; only `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("the limited benchmark runs with `cargo bench --bench limited`");
        return;
    }
    let n = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut all = Vec::new();
    for who in [Who::Sync, Who::Operator] {
        for limits in [
            vec![(0, 10)],
            vec![(0, 10), (40, 20)],
            vec![(0, 20), (30, 10)],
        ] {
            let case = Case { who, n, limits };
            let figures = rt.block_on(limited::run(&case));
            eprintln!(
                "measured: {}",
                limited::markdown(std::slice::from_ref(&figures))
            );
            all.push(figures);
        }
    }
    println!("{}", limited::markdown(&all));
}
