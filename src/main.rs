//! The `curator-operator` binary: parses flags and hands over to the library.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use curator_operator::{app, config::Cli};

/// With `--features heap-profile`: dhat's allocator records every allocation (slow: for
/// measurements only, see BENCHMARKS.md).
#[cfg(feature = "heap-profile")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// jemalloc (the default feature `jemalloc`), with a background thread that returns freed
/// pages to the kernel (BENCHMARKS.md); without the feature, the platform's allocator.
#[cfg(all(feature = "jemalloc", not(feature = "heap-profile")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// With `--features heap-profile`: profiles the heap from the start and writes what is live
/// at the first SIGUSR2 (or at the exit) to `$CURATOR_HEAP_PROFILE` (default
/// `dhat-heap.json`), for `dh_view.html` or `scripts/heap-by-structure.py`.
#[cfg(feature = "heap-profile")]
fn profile_heap(runtime: &tokio::runtime::Runtime) {
    let file =
        std::env::var("CURATOR_HEAP_PROFILE").unwrap_or_else(|_| "dhat-heap.json".to_owned());
    let profiler = dhat::Profiler::builder()
        .file_name(file)
        .trim_backtraces(Some(40))
        .build();
    runtime.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut usr2) = signal(SignalKind::user_defined2()) {
            usr2.recv().await;
        }
        drop(profiler);
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(feature = "heap-profile")]
    profile_heap(&runtime);
    let code = runtime.block_on(app::main(cli));
    // A blocking task still running (a DNS lookup that hangs) never holds the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}
