//! Under a limit: `sync` and the operator's reconciles (as in the scale benchmark) with the
//! shipped defaults against a dev server whose frontend allows `L` calls per second per
//! namespace (`frontend.namespaceRPS`, with its default burst of twice that), and against one
//! restarted mid-run on the same port and data with another limit. Shared by
//! `cargo bench --bench limited` and its small-N smoke test.
#![allow(dead_code)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    common::{TemporalServer, free_port},
    harness::{self, opts, refusals},
};
use curator_operator::{
    controller::feedsource::FeedContext,
    crd::{CuratorWorker, FeedSource},
    metrics::Metrics,
    runtime::retry::Retry,
    sync_cli::{self, Documents, feed::Mode, inputs, outcome::Action},
    temporal::pool::Credentials,
    testing::kube::{FakeKube, feed_path, worker_path},
};
use futures::{StreamExt, stream};

/// Who creates the schedules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// `sync_cli::sync_all`, the CLI's path.
    Sync,
    /// The FeedSource reconciler, on an in-memory API server.
    Operator,
}

/// One case: the server's limits over time, `(from second, calls per second)`, the first
/// from the start; each later one is a restart of the server on the same port and data.
#[derive(Clone, Debug)]
pub struct Case {
    /// Who creates.
    pub who: Who,
    /// New feeds.
    pub n: usize,
    /// The limits.
    pub limits: Vec<(u64, u32)>,
}

/// What one case measured.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The case.
    pub case: Case,
    /// From the first call to every schedule created (and, for the operator, every FeedSource
    /// Ready).
    pub took: Duration,
    /// The time a client exactly at the limits would take, counting the restarts' downtime.
    pub ideal: Duration,
    /// The restarts' downtime (stop to serving again).
    pub downtime: Duration,
    /// Calls Temporal refused with `ResourceExhausted`, and all calls.
    pub refused: (u64, u64),
}

impl Figures {
    /// `took / ideal`.
    pub fn ratio(&self) -> f64 {
        self.took.as_secs_f64() / self.ideal.as_secs_f64().max(1e-9)
    }
    /// Refused calls as a share of all calls.
    pub fn refused_share(&self) -> f64 {
        self.refused.0 as f64 / self.refused.1.max(1) as f64
    }
}

fn limit_args(rps: u32) -> Vec<String> {
    vec![
        "--dynamic-config-value".into(),
        format!("frontend.namespaceRPS={rps}"),
    ]
}

fn start(port: u16, dir: tempfile::TempDir, rps: u32) -> TemporalServer {
    let args = limit_args(rps);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TemporalServer::start_with(port, dir, &args)
}

/// Seconds `n` calls take at `limits`, with `downtime` lost at each change.
pub fn ideal(n: usize, limits: &[(u64, u32)], downtime: Duration) -> Duration {
    let mut left = n as f64;
    let mut at: f64 = 0.0;
    for (i, &(from, rps)) in limits.iter().enumerate() {
        at = at.max(from as f64);
        if i > 0 {
            at += downtime.as_secs_f64() / (limits.len() - 1) as f64;
        }
        let until = limits.get(i + 1).map_or(f64::INFINITY, |l| l.0 as f64);
        let here = (until - from as f64) * f64::from(rps);
        if left <= here {
            return Duration::from_secs_f64(at + left / f64::from(rps));
        }
        left -= here;
        at = until;
    }
    Duration::from_secs_f64(at)
}

/// Runs `case` on a fresh dev server of its own.
pub async fn run(case: &Case) -> Figures {
    let port = free_port();
    let mut server = start(
        port,
        tempfile::tempdir().expect("tempdir"),
        case.limits[0].1,
    );
    let address = server.address.clone();
    let metrics = Arc::new(Metrics::default());
    let started = Instant::now();
    // The limit's changes run beside the work (the work stays on this task: `sync_all`'s
    // futures are not `Send` for every lifetime), and stop when it is done.
    let (done, mut done_rx) = tokio::sync::watch::channel(false);
    let changes = {
        let limits = case.limits.clone();
        tokio::spawn(async move {
            let mut downtime = Duration::ZERO;
            for &(from, rps) in &limits[1..] {
                let at = started + Duration::from_secs(from);
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = done_rx.changed() => break,
                }
                let stopped = Instant::now();
                // The restart blocks while the server starts: off the runtime's threads.
                server = tokio::task::spawn_blocking(move || start(port, server.stop(), rps))
                    .await
                    .expect("restart");
                downtime += stopped.elapsed();
                eprintln!("limit now {rps}/s, after {:?} down", stopped.elapsed());
            }
            (server, downtime)
        })
    };
    match case.who {
        Who::Sync => sync_new(&address, case.n, &metrics).await,
        Who::Operator => operator_new(&address, case.n, &metrics).await,
    }
    let took = started.elapsed();
    let _ = done.send(true);
    let (server, downtime) = changes.await.expect("limit changes");
    drop(server);
    Figures {
        ideal: ideal(case.n, &case.limits, downtime),
        case: case.clone(),
        took,
        downtime,
        refused: refusals(&metrics),
    }
}

/// `sync` of `n` new feeds, with the shipped defaults.
async fn sync_new(address: &str, n: usize, metrics: &Arc<Metrics>) {
    let ns = "limited";
    let docs = Documents {
        feeds: (0..n)
            .map(|i| FeedSource::test(ns, &format!("feed-{i}")).unsaved())
            .collect(),
        workers: vec![CuratorWorker::test(ns, address).unsaved()],
        errors: Vec::new(),
    };
    let opts = sync_cli::Options {
        mode: Mode {
            dry_run: false,
            verify: false,
            // sync's default --retry-timeout.
            retry: Retry::within(Duration::from_secs(60)),
        },
        prune: false,
        concurrency: 16,
        build: opts("sync"),
        check_runs: false,
    };
    let prepared = inputs::prepare(&docs, &opts.build, None).expect("valid declarations");
    let pool = harness::pool(metrics);
    let connect = |address: String, namespace: String| {
        let pool = pool.clone();
        async move {
            pool.schedules(&address, &namespace, &Credentials::default())
                .await
        }
    };
    let outcomes = sync_cli::sync_all(&prepared, &opts, connect, None).await;
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.action != Action::Create)
        .collect();
    assert!(failed.is_empty(), "{:?}", &failed[..failed.len().min(3)]);
}

/// `n` new FeedSources reconciled until every one is Ready, 16 at a time.
async fn operator_new(address: &str, n: usize, metrics: &Arc<Metrics>) {
    let ns = "limited";
    let fake = Arc::new(FakeKube::default());
    let mut w = CuratorWorker::test(ns, address);
    w.metadata.uid = Some("uid-worker".into());
    fake.put(
        &worker_path(ns, "curator"),
        serde_json::to_value(&w).expect("json"),
    );
    let names: Vec<String> = (0..n).map(|i| format!("feed-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut f = FeedSource::test(ns, name);
        f.metadata.uid = Some(format!("uid-{i}"));
        fake.put(
            &feed_path(ns, name),
            serde_json::to_value(&f).expect("json"),
        );
    }
    let ctx = Arc::new(FeedContext::new(
        harness::shared(&fake, metrics),
        opts("op"),
    ));
    stream::iter(names.iter())
        .map(|name| {
            let (fake, ctx) = (fake.clone(), ctx.clone());
            async move { harness::reconcile_until_synced(&fake, &ctx, ns, name).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

/// The figures as a Markdown table.
pub fn markdown(all: &[Figures]) -> String {
    let mut out = String::from(
        "| who | feeds | server's limit (calls/s per namespace) | took | ideal | ratio | refused | calls | share refused |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in all {
        let limits = f
            .case
            .limits
            .iter()
            .map(|(from, rps)| format!("{rps} from {from} s"))
            .collect::<Vec<_>>()
            .join(", then ");
        out.push_str(&format!(
            "| {:?} | {} | {limits}{} | {:.1} s | {:.1} s | **{:.2}** | {} | {} | {:.1}% |\n",
            f.case.who,
            f.case.n,
            if f.downtime.is_zero() {
                String::new()
            } else {
                format!(" ({:.1} s down)", f.downtime.as_secs_f64())
            },
            f.took.as_secs_f64(),
            f.ideal.as_secs_f64(),
            f.ratio(),
            f.refused.0,
            f.refused.1,
            f.refused_share() * 100.0,
        ));
    }
    out
}
