//! The scale benchmark: the operator's real reconcile functions (FeedSources served by an
//! in-memory Kubernetes API, a real Temporal dev server) against a raw `CreateSchedule` loop on
//! the same server with the same concurrency. Shared by `cargo bench --bench scale` and the
//! small-N smoke test in CI.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::common::{self, wait};
use curator_operator::{
    config::TemporalArgs,
    controller::{
        Shared,
        curatorworker::{self, WorkerContext},
        feedsource::{self, FeedContext},
    },
    crd::{CuratorWorker, FeedSource, curatorworker::TemporalConnection},
    metrics::Metrics,
    schedule::{BuildOptions, desired::build},
    temporal::pool::Pool,
    testing::kube::{FakeKube, feed_path, worker_path},
};
use futures::{StreamExt, stream};
use kube::runtime::reflector;
use serde_json::json;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// Feed counts to run (each gets its own namespace and schedule IDs).
    pub sizes: Vec<usize>,
    /// Reconciles (and raw creates) in flight at once.
    pub concurrency: usize,
    /// Edits timed for the latency figures.
    pub edits: usize,
    /// CuratorWorkers for the autoscaler cost.
    pub workers: usize,
    /// Distinct task queues among them.
    pub queues: usize,
    /// At most how long to wait for an idle machine before a last unchanged `sync` re-run;
    /// `None`: no such re-run (a shared machine is never idle).
    pub settle_limit: Option<Duration>,
}

/// Figures for one size.
#[derive(Clone, Debug, Default)]
pub struct SizeReport {
    /// Feeds.
    pub n: usize,
    /// Raw CreateSchedule loop.
    pub raw: Duration,
    /// The operator, from new FeedSources to all Ready.
    pub operator: Duration,
    /// RPCs (by method) of the operator's convergence.
    pub converge_rpcs: BTreeMap<String, u64>,
    /// RPCs (by method) of a full resync of unchanged FeedSources.
    pub idle_rpcs: BTreeMap<String, u64>,
    /// Edit → schedule updated latencies, sorted.
    pub edit_latencies: Vec<Duration>,
    /// The `sync` case.
    pub sync: crate::sync_case::SyncFigures,
}

impl SizeReport {
    /// operator / raw.
    pub fn ratio(&self) -> f64 {
        self.operator.as_secs_f64() / self.raw.as_secs_f64().max(1e-9)
    }
    /// sync's first run / raw.
    pub fn sync_ratio(&self) -> f64 {
        self.sync.first.as_secs_f64() / self.raw.as_secs_f64().max(1e-9)
    }
    /// A sync re-run's time / its first run's.
    pub fn rerun_share(&self, rerun: Duration) -> f64 {
        rerun.as_secs_f64() / self.sync.first.as_secs_f64().max(1e-9)
    }
    /// Writes in the idle resync.
    pub fn idle_writes(&self) -> u64 {
        curator_operator::temporal::WRITE_METHODS
            .iter()
            .map(|m| self.idle_rpcs.get(*m).copied().unwrap_or_default())
            .sum()
    }
    /// A percentile of the edit latencies.
    pub fn edit_percentile(&self, p: f64) -> Duration {
        if self.edit_latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.edit_latencies.len() as f64 - 1.0) * p).round() as usize;
        self.edit_latencies[i.min(self.edit_latencies.len() - 1)]
    }
}

/// Everything measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per size.
    pub sizes: Vec<SizeReport>,
    /// Autoscaler RPCs (by method) for `workers` workers on `queues` queues, one poll interval.
    pub autoscaler_rpcs: BTreeMap<String, u64>,
    /// Workers and queues of that figure.
    pub workers_queues: (usize, usize),
}

/// Temporal RPC counts by method, read from the operator's own metrics.
pub fn rpc_counts(m: &Metrics) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in m.encode().lines() {
        let Some(rest) = line.strip_prefix("curator_temporal_requests_total{method=\"") else {
            continue;
        };
        let Some((method, tail)) = rest.split_once('"') else {
            continue;
        };
        let n: u64 = tail
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        *out.entry(method.to_owned()).or_default() += n;
    }
    out
}

pub fn delta(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or_default()))
        .filter(|(_, v)| *v > 0)
        .collect()
}

pub fn opts(prefix: &str) -> BuildOptions {
    BuildOptions::new(prefix, "bench")
}

/// The Temporal flags as shipped (`run` and `sync` share them), or with the calls unpaced when
/// `CURATOR_BENCH_UNPACED` is set (a row marked as such, beside the defaults').
pub fn temporal_flags() -> TemporalArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        temporal: TemporalArgs,
    }
    let mut flags = Flags::parse_from(["bench"]).temporal;
    if unpaced() {
        flags.temporal_rps = Some(0);
    }
    flags
}

/// Whether this run measures unpaced calls (`CURATOR_BENCH_UNPACED`) instead of the defaults.
pub fn unpaced() -> bool {
    std::env::var_os("CURATOR_BENCH_UNPACED").is_some()
}

/// A pool with the shipped pacing and calls in flight ([`temporal_flags`]), counting its calls
/// in `metrics`; its calls time out after 30 s (the default is 10 s), as the raw loop's do, on a
/// dev server that a burst of creates keeps busy.
pub fn pool(metrics: &Arc<Metrics>) -> Pool {
    let flags = temporal_flags();
    Pool::new("bench", Duration::from_secs(30))
        .with_pacing(flags.pacing())
        .with_max_in_flight(flags.temporal_max_in_flight)
        .with_metrics(metrics.clone())
}

/// Calls Temporal refused (`ResourceExhausted`) and calls made, from the operator's metrics.
pub fn refusals(m: &Metrics) -> (u64, u64) {
    let (mut refused, mut all) = (0, 0);
    for line in m.encode().lines() {
        if !line.starts_with("curator_temporal_requests_total{") {
            continue;
        }
        let n = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        all += n;
        if line.contains("outcome=\"ResourceExhausted\"") {
            refused += n;
        }
    }
    (refused, all)
}

/// The operator's shared state on `fake`, counting Temporal calls in `metrics`.
pub fn shared(fake: &Arc<FakeKube>, metrics: &Arc<Metrics>) -> Arc<Shared> {
    let pool = pool(metrics);
    let shared = Shared::new(fake.client(), pool, Duration::from_secs(300))
        .with_observability(metrics.clone(), Default::default());
    Arc::new(shared)
}

/// The FeedSource `ns/name` while it is not synced (no finalizer yet, or its status is not
/// `Ready` for its generation); `None` once it is.
fn unsynced(fake: &FakeKube, ns: &str, name: &str) -> Option<FeedSource> {
    let v = fake.get(&feed_path(ns, name)).expect("feed");
    let f: FeedSource = serde_json::from_value(v).expect("feed");
    let synced_gen = f.status.as_ref().and_then(|s| s.observed_generation);
    let synced = f.metadata.finalizers.is_some()
        && synced_gen == f.metadata.generation
        && f.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
    (!synced).then_some(f)
}

pub async fn reconcile_until_synced(fake: &FakeKube, ctx: &Arc<FeedContext>, ns: &str, name: &str) {
    // The finalizer and the create, back to back.
    for _ in 0..2 {
        let Some(f) = unsynced(fake, ns, name) else {
            return;
        };
        let _ = feedsource::reconcile(Arc::new(f), ctx.clone()).await;
    }
    // Then, 100 ms apart (as the controller's follow-up), until the listing that completes the
    // status has arrived.
    let every = Duration::from_millis(100);
    tokio::time::sleep(every).await;
    let synced = wait::until(Duration::from_secs(40), every, async || {
        let Some(f) = unsynced(fake, ns, name) else {
            return Some(());
        };
        let _ = feedsource::reconcile(Arc::new(f), ctx.clone()).await;
        None
    })
    .await;
    if synced.is_none() {
        panic!("{ns}/{name} did not converge");
    }
}

/// Runs every measurement against the dev server at `address`.
pub async fn run(address: &str, cfg: &Config) -> Report {
    let mut report = Report {
        workers_queues: (cfg.workers, cfg.queues),
        ..Default::default()
    };
    for &n in &cfg.sizes {
        let size = run_size(address, cfg, n).await;
        let one = Report {
            sizes: vec![size.clone()],
            ..Default::default()
        };
        let table = markdown(&one, cfg);
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with(&format!("| {n} ")))
            .collect();
        eprintln!("measured: {}", rows.join("\n          "));
        report.sizes.push(size);
    }
    report.autoscaler_rpcs = autoscaler_cost(address, cfg).await;
    report
}

async fn run_size(address: &str, cfg: &Config, n: usize) -> SizeReport {
    let ns = format!("bench-{n}");
    let temporal = TemporalConnection::test(address);
    // 1. The limit: a raw loop of CreateSchedule with the same requests and concurrency.
    let raw_api = common::schedules(address).await;
    let raw_opts = opts(&format!("raw{n}"));
    let requests: Vec<_> = (0..n)
        .map(|i| {
            let name = format!("feed-{i}");
            let f = FeedSource::test(&ns, &name);
            build(
                &ns,
                &name,
                &format!("uid-{i}"),
                &f.spec,
                &temporal,
                &raw_opts,
            )
            .expect("valid")
        })
        .collect();
    let start = Instant::now();
    stream::iter(requests)
        .map(|d| {
            let api = raw_api.clone();
            async move { common::raw_create(&api, &d).await }
        })
        .buffer_unordered(cfg.concurrency)
        .collect::<Vec<_>>()
        .await;
    let raw = start.elapsed();

    // 2. `sync`: the same N feeds from declarations, with the same concurrency, then again
    //    with nothing changed.
    let sync = crate::sync_case::sync_case(address, cfg, n).await;

    // 3. The operator: new FeedSources until every one is Ready.
    let fake = Arc::new(FakeKube::default());
    let mut w = CuratorWorker::test(&ns, address);
    w.metadata.uid = Some("uid-worker".into());
    fake.put(
        &worker_path(&ns, "curator"),
        serde_json::to_value(&w).expect("json"),
    );
    let names: Vec<String> = (0..n).map(|i| format!("feed-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut f = FeedSource::test(&ns, name);
        f.metadata.uid = Some(format!("uid-{i}"));
        fake.put(
            &feed_path(&ns, name),
            serde_json::to_value(&f).expect("json"),
        );
    }
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(FeedContext::new(
        shared(&fake, &metrics),
        opts(&format!("op{n}")),
    ));
    let before = rpc_counts(&metrics);
    let start = Instant::now();
    stream::iter(names.iter())
        .map(|name| {
            let (fake, ctx, ns) = (fake.clone(), ctx.clone(), ns.clone());
            async move { reconcile_until_synced(&fake, &ctx, &ns, name).await }
        })
        .buffer_unordered(cfg.concurrency)
        .collect::<Vec<_>>()
        .await;
    let operator = start.elapsed();
    let converge_rpcs = delta(&rpc_counts(&metrics), &before);

    // 4. A full resync of unchanged FeedSources. A real resync comes minutes later; wait until
    //    the (eventually consistent) listing shows every new schedule, as it would by then.
    let prefix = format!("op{n}/");
    wait::until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        async || {
            // A loaded dev server may time a listing out: look again.
            let listed = curator_operator::schedule::pages::list_all(&raw_api, &prefix, 1000)
                .await
                .ok()?;
            (listed.keys().filter(|k| k.starts_with(&prefix)).count() >= n).then_some(())
        },
    )
    .await;
    let before = rpc_counts(&metrics);
    stream::iter(names.iter())
        .map(|name| {
            let (fake, ctx, ns) = (fake.clone(), ctx.clone(), ns.clone());
            async move {
                let f: FeedSource =
                    serde_json::from_value(fake.get(&feed_path(&ns, name)).expect("feed"))
                        .expect("feed");
                feedsource::reconcile(Arc::new(f), ctx)
                    .await
                    .expect("idle reconcile");
            }
        })
        .buffer_unordered(cfg.concurrency)
        .collect::<Vec<_>>()
        .await;
    let idle_rpcs = delta(&rpc_counts(&metrics), &before);

    // 5. Edit latency with all N present: spec change → schedule updated and verified.
    let mut edit_latencies = Vec::new();
    for k in 0..cfg.edits.min(n) {
        let name = &names[(k * 7919) % n];
        fake.edit(&feed_path(&ns, name), |o| {
            let g = o["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            o["metadata"]["generation"] = json!(g);
            o["spec"]["feed"]["fetchLimit"] = json!(g);
        });
        let f: FeedSource =
            serde_json::from_value(fake.get(&feed_path(&ns, name)).expect("feed")).expect("feed");
        let t = Instant::now();
        // As the controller does: a transient failure is retried after the object's backoff.
        let mut tries = 0;
        while let Err(e) = feedsource::reconcile(Arc::new(f.clone()), ctx.clone()).await {
            tries += 1;
            assert!(tries < 10, "edit of {name} keeps failing: {e}");
            tokio::time::sleep(
                ctx.shared
                    .backoff
                    .next(f.metadata.uid.as_deref().unwrap_or_default()),
            )
            .await;
        }
        edit_latencies.push(t.elapsed());
    }
    edit_latencies.sort();
    SizeReport {
        n,
        raw,
        operator,
        converge_rpcs,
        idle_rpcs,
        edit_latencies,
        sync,
    }
}

async fn autoscaler_cost(address: &str, cfg: &Config) -> BTreeMap<String, u64> {
    let ns = "bench-workers";
    let fake = Arc::new(FakeKube::default());
    let mut workers = Vec::new();
    for i in 0..cfg.workers {
        let mut w: CuratorWorker = CuratorWorker::test(ns, address).with_finalizer();
        let name = format!("worker-{i}");
        w.metadata.name = Some(name.clone());
        w.metadata.uid = Some(format!("uid-w{i}"));
        w.spec.temporal.task_queue = format!("queue-{}", i % cfg.queues.max(1));
        w.spec.autoscaling = Some(
            serde_json::from_value(json!({"maxReplicas": 4, "pollInterval": "1m"}))
                .expect("autoscaling"),
        );
        fake.put(
            &worker_path(ns, &name),
            serde_json::to_value(&w).expect("json"),
        );
        workers.push(w);
    }
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(WorkerContext::new(
        shared(&fake, &metrics),
        reflector::store().0,
    ));
    stream::iter(workers)
        .map(|w| {
            let ctx = ctx.clone();
            async move {
                curatorworker::reconcile(Arc::new(w), ctx)
                    .await
                    .expect("worker reconcile")
            }
        })
        .buffer_unordered(cfg.concurrency)
        .collect::<Vec<_>>()
        .await;
    rpc_counts(&metrics)
}

/// Resident set size of this process, from /proc (Linux).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Builds the operator's in-memory state for `feeds` FeedSources (with a realistic status) and
/// `workers` CuratorWorkers, and returns the process RSS while holding it.
pub fn memory_probe(feeds: usize, workers: usize) -> (u64, u64) {
    let before = rss_bytes().unwrap_or_default();
    let (feed_store, mut feed_writer) = reflector::store::<FeedSource>();
    let (worker_store, mut worker_writer) = reflector::store::<CuratorWorker>();
    feed_writer.apply_watcher_event(&kube::runtime::watcher::Event::Init);
    for i in 0..feeds {
        let mut f = FeedSource::test(&format!("ns-{}", i % 50), &format!("feed-{i}"));
        f.metadata.uid = Some(format!("00000000-0000-0000-0000-{i:012}"));
        f.metadata.resource_version = Some(format!("{}", 1_000_000 + i));
        f.status = Some(serde_json::from_value(json!({
            "observedGeneration": 1, "scheduleId": format!("curator/ns/feed-{i}"),
            "temporalAddress": "temporal-frontend.temporal:7233", "temporalNamespace": "default",
            "taskQueue": "buun-curator", "summary": "every 1h", "paused": false,
            "nextRuns": ["2026-11-22T05:00:00Z", "2026-11-22T06:00:00Z", "2026-11-22T07:00:00Z"],
            "lastRun": {"scheduledTime": "2026-11-22T04:00:00Z", "workflowId": format!("curator/ns/feed-{i}-2026-11-22T04:00:00Z"), "runId": "0193b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b"},
            "actionCount": 1234, "observedFingerprint": "9f2c".repeat(16),
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Synced", "message": format!("schedule curator/ns/feed-{i} matches the spec"), "lastTransitionTime": "2026-11-22T00:00:00Z", "observedGeneration": 1},
                {"type": "TemporalReachable", "status": "True", "reason": "Connected", "message": "Temporal answered", "lastTransitionTime": "2026-11-22T00:00:00Z", "observedGeneration": 1},
                {"type": "Reconciling", "status": "False", "reason": "Reconciled", "message": "", "lastTransitionTime": "2026-11-22T00:00:00Z", "observedGeneration": 1},
                {"type": "Stalled", "status": "False", "reason": "Reconciled", "message": "", "lastTransitionTime": "2026-11-22T00:00:00Z", "observedGeneration": 1}
            ]
        })).expect("status"));
        feed_writer.apply_watcher_event(&kube::runtime::watcher::Event::InitApply(f));
    }
    feed_writer.apply_watcher_event(&kube::runtime::watcher::Event::InitDone);
    worker_writer.apply_watcher_event(&kube::runtime::watcher::Event::Init);
    for i in 0..workers {
        let mut w = CuratorWorker::test(&format!("ns-{i}"), "temporal-frontend.temporal:7233");
        w.metadata.name = Some(format!("worker-{i}"));
        worker_writer.apply_watcher_event(&kube::runtime::watcher::Event::InitApply(w));
    }
    worker_writer.apply_watcher_event(&kube::runtime::watcher::Event::InitDone);
    let after = rss_bytes().unwrap_or_default();
    assert_eq!(feed_store.state().len(), feeds);
    assert_eq!(worker_store.state().len(), workers);
    (before, after)
}

/// The report as Markdown.
pub fn markdown(r: &Report, cfg: &Config) -> String {
    let mut out = String::new();
    let flags = temporal_flags();
    out.push_str(&format!(
        "concurrency {}, {} edits timed per size; Temporal calls {} (--temporal-max-in-flight {})\n\n",
        cfg.concurrency,
        cfg.edits,
        if unpaced() { "UNPACED (--temporal-rps 0)" } else { "paced as shipped (no --temporal-rps)" },
        flags.temporal_max_in_flight,
    ));
    out.push_str("| feeds | raw CreateSchedule loop | operator | ratio | convergence RPCs | idle resync RPCs | idle writes | edit p50 | edit p99 |\n|---|---|---|---|---|---|---|---|---|\n");
    for s in &r.sizes {
        out.push_str(&format!(
            "| {} | {:.2} s | {:.2} s | {:.2} | {:?} | {:?} | {} | {:.1} ms | {:.1} ms |\n",
            s.n,
            s.raw.as_secs_f64(),
            s.operator.as_secs_f64(),
            s.ratio(),
            s.converge_rpcs,
            s.idle_rpcs,
            s.idle_writes(),
            s.edit_percentile(0.5).as_secs_f64() * 1e3,
            s.edit_percentile(0.99).as_secs_f64() * 1e3
        ));
    }
    out.push_str("\n| feeds | raw CreateSchedule loop | sync, new feeds | ratio | RPCs | unchanged re-run, at once | share | re-run RPCs | machine idle after | unchanged re-run, server settled | share |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for s in &r.sizes {
        out.push_str(&format!(
            "| {} | {:.2} s | {:.2} s | {:.2} | {:?} | {:.2} s | {:.1}% | {:?} | {:.0} s | {:.2} s | {:.1}% |\n",
            s.n,
            s.raw.as_secs_f64(),
            s.sync.first.as_secs_f64(),
            s.sync_ratio(),
            s.sync.first_rpcs,
            s.sync.rerun.as_secs_f64(),
            s.rerun_share(s.sync.rerun) * 100.0,
            s.sync.rerun_rpcs,
            s.sync.settled.map_or(0.0, |x| x.0.as_secs_f64()),
            s.sync.settled.map_or(0.0, |x| x.1.as_secs_f64()),
            s.sync.settled.map_or(0.0, |x| s.rerun_share(x.1) * 100.0),
        ));
    }
    out.push_str(&format!(
        "\nautoscaler, {} workers on {} queues, one poll interval: {:?}\n",
        r.workers_queues.0, r.workers_queues.1, r.autoscaler_rpcs
    ));
    out
}
