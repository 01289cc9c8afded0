//! The `sync` case of the scale benchmark: N new feeds, then unchanged re-runs.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    common::{self, wait},
    harness::{Config, delta, opts, rpc_counts},
};
use curator_operator::{
    crd::{CuratorWorker, FeedSource},
    metrics::Metrics,
    runtime::retry::Retry,
    sync_cli::{self, Documents, feed::Mode, inputs, outcome::Action, stamp},
    temporal::pool::Credentials,
};

type Rpcs = BTreeMap<String, u64>;

/// Figures of the `sync` case.
#[derive(Clone, Debug, Default)]
pub struct SyncFigures {
    /// `sync` of N new feeds.
    pub first: Duration,
    /// Its RPCs by method.
    pub first_rpcs: Rpcs,
    /// `sync` again, nothing changed, as soon as the listing shows every schedule stamped.
    pub rerun: Duration,
    /// Its RPCs by method.
    pub rerun_rpcs: Rpcs,
    /// With [`Config::settle_limit`]: how long the machine took to go idle after that (the dev
    /// server digests a burst of creates for minutes), and `sync` again, nothing changed, once
    /// it was (as by the next merge).
    pub settled: Option<(Duration, Duration)>,
}

/// `sync` of `n` new feeds, then an unchanged re-run (once the listing shows them all, as it
/// would by the next CI run), then another once the machine is idle: times and RPCs.
pub async fn sync_case(address: &str, cfg: &Config, n: usize) -> SyncFigures {
    let ns = format!("sync-{n}");
    let docs = Documents {
        feeds: (0..n)
            .map(|i| FeedSource::test(&ns, &format!("feed-{i}")).unsaved())
            .collect(),
        workers: vec![CuratorWorker::test(&ns, address).unsaved()],
        errors: Vec::new(),
    };
    let opts = sync_cli::Options {
        mode: Mode {
            dry_run: false,
            verify: false,
            retry: Retry::within(Duration::from_secs(120)),
        },
        prune: false,
        concurrency: cfg.concurrency,
        build: opts(&format!("sync{n}")),
        check_runs: false,
    };
    let prepared = inputs::prepare(&docs, &opts.build, None).expect("valid declarations");
    let metrics = Arc::new(Metrics::default());
    let pool = crate::harness::pool(&metrics);
    let connect = |address: String, namespace: String| {
        let pool = pool.clone();
        async move {
            pool.schedules(&address, &namespace, &Credentials::default())
                .await
        }
    };
    // One sync of every feed, each of which must end in `expected`: its time and RPCs.
    let (metrics, prepared, opts) = (&metrics, &prepared, &opts);
    let run = |expected: Action, what: &'static str| async move {
        let before = rpc_counts(metrics);
        let start = Instant::now();
        let outcomes = sync_cli::sync_all(prepared, opts, connect, None).await;
        let took = start.elapsed();
        let other: Vec<_> = outcomes.iter().filter(|o| o.action != expected).collect();
        assert!(
            other.is_empty(),
            "{what}: {:?}",
            &other[..other.len().min(3)]
        );
        (took, delta(&rpc_counts(metrics), &before))
    };
    let (first_time, first_rpcs) = run(Action::Create, "sync of new feeds").await;

    let prefix = format!("sync{n}/");
    let raw_api = common::schedules(address).await;
    wait::until(
        Duration::from_secs(120),
        Duration::from_millis(200),
        async || {
            // A loaded dev server may time a listing out: look again.
            let listed = curator_operator::schedule::pages::list_all(&raw_api, &prefix, 1000)
                .await
                .ok()?;
            let stamped = listed
                .values()
                .filter(|l| stamp::fingerprint(&l.notes).is_some())
                .count();
            (stamped >= n).then_some(())
        },
    )
    .await;
    let rerun = || run(Action::Unchanged, "unchanged re-run");
    let (rerun_time, rerun_rpcs) = rerun().await;
    let mut settled = None;
    if let Some(limit) = cfg.settle_limit {
        let wait = wait_machine_idle(limit);
        settled = Some((wait, rerun().await.0));
    }
    SyncFigures {
        first: first_time,
        first_rpcs,
        rerun: rerun_time,
        rerun_rpcs,
        settled,
    }
}

/// Waits until the machine's CPUs were less than 10% busy over two seconds (at most `limit`);
/// returns the wait.
fn wait_machine_idle(limit: Duration) -> Duration {
    let start = Instant::now();
    // The first look only takes the counts the next one compares with.
    let mut last: Option<(u64, u64)> = None;
    wait::until_blocking(limit, Duration::from_secs(2), || {
        let now = cpu_ticks();
        let (busy, total) = last.map_or((0, 0), |l| (now.0 - l.0, now.1 - l.1));
        last = Some(now);
        (total > 0 && busy * 10 < total).then_some(())
    });
    start.elapsed()
}

/// (busy, total) jiffies of all CPUs since boot, from /proc/stat.
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait are the 4th and 5th.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}
