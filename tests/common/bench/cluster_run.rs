//! The scale benchmark on a real API server: the operator binary as a process, a control plane
//! from `../shared/k8s` (or the user's own), a Temporal dev server; N FeedSources and W
//! CuratorWorkers applied server-side like `kubectl apply --server-side`, then:
//!
//! 1. the raw loop: the same schedules created with `CreateSchedule`, with the same
//!    concurrency, on the same machine, the API server and etcd holding the same objects;
//! 2. the operator starts and converges: the time until every FeedSource is Ready, counted
//!    from a watch;
//! 3. it idles: RSS, CPU seconds and the requests to the API server and Temporal, read from
//!    /proc and from the operator's own metrics;
//! 4. every schedule runs once (triggered in Temporal, completed by the contract worker): the
//!    time until every FeedSource shows its run completed, and what the operator asked for it
//!    (feed health).
//!
//! Shared by `cargo bench --bench cluster` and the smoke test in CI.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, Instant},
};

use crate::common::{
    self,
    cluster::{self, TestCluster},
    operator::{Operator, Options},
    wait,
};
use curator_operator::{
    crd::{CuratorWorker, FeedSource, GoDuration, curatorworker::TemporalConnection},
    schedule::{BuildOptions, desired::build},
};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};

/// What to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// FeedSources.
    pub feeds: usize,
    /// CuratorWorkers (spread over `namespaces`, the FeedSources over them).
    pub workers: usize,
    /// Namespaces.
    pub namespaces: usize,
    /// The raw loop's calls in flight at once: the operator's default
    /// `--temporal-max-in-flight` (16; its reconciles run at the default `--concurrency`).
    pub concurrency: usize,
    /// How long the operator idles after converging.
    pub idle: Duration,
    /// The operator's `--resync-interval`.
    pub resync: Duration,
    /// Run every schedule once after idling (phase 4).
    pub runs: bool,
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Applying the objects (server-side apply, 32 at a time).
    pub apply: Duration,
    /// The raw `CreateSchedule` loop.
    pub raw: Duration,
    /// From the operator's start to every FeedSource Ready.
    pub converge: Duration,
    /// From the operator's start to every FeedSource's next runs recorded (or
    /// [`SETTLE_LIMIT`] after convergence).
    pub settled: Duration,
    /// FeedSources without next runs when [`SETTLE_LIMIT`] ran out.
    pub unsettled: usize,
    /// Temporal calls between convergence and settling, by method.
    pub settle_temporal: BTreeMap<String, u64>,
    /// Requests to the API server between convergence and settling.
    pub settle_kube: BTreeMap<String, u64>,
    /// Temporal calls during convergence, by method.
    pub converge_temporal: BTreeMap<String, u64>,
    /// Requests to the API server during convergence, by `verb resource`.
    pub converge_kube: BTreeMap<String, u64>,
    /// Reconciles during convergence by kind, with their mean duration (seconds).
    pub converge_reconciles: BTreeMap<String, (u64, f64)>,
    /// Reconciles while idle, by kind (about one per object per resync when nothing changes).
    pub idle_reconciles: BTreeMap<String, u64>,
    /// Mean latency of each Temporal method during convergence (seconds).
    pub temporal_latency: BTreeMap<String, f64>,
    /// Temporal calls that failed during convergence (a loaded dev server cancels some); each
    /// costs a retry, and may cost a status write and a Warning event.
    pub temporal_failures: u64,
    /// Operator CPU seconds to converge.
    pub converge_cpu: f64,
    /// RSS right after converging, and its peak so far (bytes).
    pub rss_converged: u64,
    /// Peak RSS (VmHWM).
    pub rss_peak: u64,
    /// RSS at the end of the idle period.
    pub rss_idle: u64,
    /// RSS sampled every [`RSS_EVERY`] while idle (sorted): a resync's listing in flight at the
    /// end would make the last sample alone a peak, not the steady state.
    pub rss_idle_samples: Vec<u64>,
    /// Of which mapped files (the binary's code), at the end of the idle period.
    pub rss_file: u64,
    /// The operator's TCP connections to the API server at convergence and at the end of the
    /// idle period.
    pub kube_connections: (usize, usize),
    /// CPU seconds while idle.
    pub idle_cpu: f64,
    /// Idle period.
    pub idle: Duration,
    /// Temporal calls while idle, by method.
    pub idle_temporal: BTreeMap<String, u64>,
    /// Requests to the API server while idle, by `verb resource` (watches excluded: they stay
    /// open).
    pub idle_kube: BTreeMap<String, u64>,
    /// Phase 4: triggering every schedule once.
    pub runs_triggered: Duration,
    /// Phase 4: from the first trigger until every FeedSource showed its run completed.
    pub runs_shown: Duration,
    /// Phase 4: FeedSources that did not show it within the limit.
    pub runs_unshown: usize,
    /// Phase 4, at its end: the FeedSources' last runs by outcome, and the operator's runs in
    /// Temporal by status.
    pub runs_where: String,
    /// Phase 4: the operator's Temporal calls, by method.
    pub runs_temporal: BTreeMap<String, u64>,
    /// Phase 4: its requests to the API server (watches excluded).
    pub runs_kube: BTreeMap<String, u64>,
    /// Where the processes ran (`pin::like_production`), empty when unpinned.
    pub cpus: String,
}

/// How often the RSS is sampled while idle.
pub const RSS_EVERY: Duration = Duration::from_secs(5);

impl Report {
    /// The lowest, the median (the steady state) and the highest RSS sampled while idle.
    pub fn rss_idle_spread(&self) -> Option<(u64, u64, u64)> {
        let s = &self.rss_idle_samples;
        Some((*s.first()?, s[s.len() / 2], *s.last()?))
    }

    /// Convergence time over the raw loop's.
    pub fn ratio(&self) -> f64 {
        self.converge.as_secs_f64() / self.raw.as_secs_f64()
    }
}

/// Series of `family` as `label values → value`, from a `/metrics` body; the labels in `skip`
/// are left out of the key, and the series that then share a key are summed.
fn series(body: &str, family: &str, skip: &[&str]) -> BTreeMap<String, f64> {
    let prefix = format!("{family}{{");
    body.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once("} ")?;
            let key = labels
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .filter(|(k, _)| !skip.contains(k))
                .map(|(_, v)| v.trim_matches('"'))
                .collect::<Vec<_>>()
                .join(" ");
            Some((key, value.trim().parse::<f64>().ok()?))
        })
        .fold(BTreeMap::new(), |mut m, (k, v)| {
            *m.entry(k).or_insert(0.0) += v;
            m
        })
}

/// A counter family by label values, its outcomes summed.
fn counters(body: &str, family: &str) -> BTreeMap<String, u64> {
    series(body, family, &["outcome"])
        .into_iter()
        .map(|(k, v)| (k, v as u64))
        .collect()
}

fn delta(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// `label values → (count, mean)` of a histogram family, from a `/metrics` body.
fn means(body: &str, family: &str) -> BTreeMap<String, (u64, f64)> {
    let sums = series(body, &format!("{family}_sum"), &[]);
    series(body, &format!("{family}_count"), &[])
        .into_iter()
        .map(|(k, n)| {
            let mean = sums.get(&k).copied().unwrap_or(0.0) / n.max(1.0);
            (k, (n as u64, mean))
        })
        .collect()
}

/// `(temporal, kube)` request counters of the operator.
async fn requests(op: &Operator) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let (_, body) = op.get("/metrics").await;
    (
        counters(&body, "curator_temporal_requests_total"),
        counters(&body, "curator_kube_requests_total"),
    )
}

/// `(VmRSS, VmHWM, RssFile)` of process `pid`, in bytes: `RssFile` is the part of the RSS that
/// maps files (the binary's code), the rest the process's own memory.
pub fn rss_parts(pid: u32) -> (u64, u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"), field("RssFile:"))
}

/// CPU seconds (user + system) of process `pid` so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces), from field 3 on.
    let rest = s.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state (field 3).
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn namespaces(run: &str, cfg: &Config) -> Vec<String> {
    (0..cfg.namespaces).map(|i| format!("{run}-{i}")).collect()
}

/// Worker `w` lives in namespace `w % namespaces`; feed `i` uses worker `i % workers`.
fn worker_of(i: usize, cfg: &Config) -> (usize, String) {
    let w = i % cfg.workers;
    (w % cfg.namespaces, format!("worker-{w}"))
}

/// The `offset` that puts the fixtures' hourly runs as far as possible from now: at the current
/// minute of the hour, which has begun, so the first run is about an hour away. A run of every
/// schedule inside the measurement (20,000 at 10,000 FeedSources, the raw loop's and the
/// operator's) would start as many workflows on the dev server, and move every next run.
fn quiet_offset() -> Option<GoDuration> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch");
    // A zero offset is refused by the CRD: none is the same.
    let minute = now.as_secs() / 60 % 60;
    (minute > 0).then(|| GoDuration::new(format!("{minute}m")))
}

fn feed(ns: &str, i: usize, worker: &str, offset: &Option<GoDuration>) -> FeedSource {
    let mut f = FeedSource::test(ns, &format!("feed-{i:05}")).unsaved();
    f.spec.worker_ref.name = worker.into();
    f.spec.schedule.offset = offset.clone();
    f.metadata.managed_fields = None;
    f
}

/// Applies the workers and feeds server-side, 32 at a time, as `kubectl apply --server-side`.
async fn apply_all(
    client: &Client,
    run: &str,
    cfg: &Config,
    temporal: &str,
    offset: &Option<GoDuration>,
) -> Duration {
    let nss = namespaces(run, cfg);
    for ns in &nss {
        let mut n = k8s_openapi::api::core::v1::Namespace::default();
        n.metadata.name = Some(ns.clone());
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .create(&Default::default(), &n)
            .await
            .expect("namespace");
    }
    let pp = PatchParams::apply("kubectl").force();
    let started = Instant::now();
    for w in 0..cfg.workers {
        let ns = &nss[w % cfg.namespaces];
        let mut worker = CuratorWorker::test(ns, temporal).unsaved();
        worker.metadata.name = Some(format!("worker-{w}"));
        Api::<CuratorWorker>::namespaced(client.clone(), ns)
            .patch(&worker.name_any(), &pp, &Patch::Apply(&worker))
            .await
            .expect("apply worker");
    }
    stream::iter(0..cfg.feeds)
        .map(|i| {
            let (n, worker) = worker_of(i, cfg);
            let ns = nss[n].clone();
            let (client, pp) = (client.clone(), pp.clone());
            async move {
                let f = feed(&ns, i, &worker, offset);
                Api::<FeedSource>::namespaced(client, &ns)
                    .patch(&f.name_any(), &pp, &Patch::Apply(&f))
                    .await
                    .expect("apply feed");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

/// The raw loop: the operator's requests for the same feeds, under another ID prefix.
async fn raw_loop(
    temporal: &str,
    run: &str,
    cfg: &Config,
    offset: &Option<GoDuration>,
) -> Duration {
    let api = common::schedules(temporal).await;
    let conn = TemporalConnection::test(temporal);
    let opts = BuildOptions::new("raw", "bench");
    let nss = namespaces(run, cfg);
    let requests: Vec<_> = (0..cfg.feeds)
        .map(|i| {
            let (n, worker) = worker_of(i, cfg);
            let f = feed(&nss[n], i, &worker, offset);
            build(
                &nss[n],
                &f.name_any(),
                &format!("uid-{i}"),
                &f.spec,
                &conn,
                &opts,
            )
            .expect("valid")
        })
        .collect();
    let started = Instant::now();
    stream::iter(requests)
        .map(|d| {
            let api = api.clone();
            async move { common::raw_create(&api, &d).await }
        })
        .buffer_unordered(cfg.concurrency)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

fn ready(f: &FeedSource) -> bool {
    f.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// How long after convergence the benchmark waits for every FeedSource's next runs.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(600);

/// Ready, with its next runs recorded (by the listing after the create).
fn settled(f: &FeedSource) -> bool {
    ready(f) && f.status.as_ref().is_some_and(|s| !s.next_runs.is_empty())
}

/// Waits until every FeedSource of the run's namespaces is `done`, from a watch; returns how
/// many were not when `limit` ran out.
async fn all_done(
    client: &Client,
    run: &str,
    cfg: &Config,
    limit: Duration,
    done: fn(&FeedSource) -> bool,
) -> usize {
    let nss: HashSet<String> = namespaces(run, cfg).into_iter().collect();
    let api: Api<FeedSource> = Api::all(client.clone());
    let mut ready_set = HashSet::new();
    let stream = watcher(api, watcher::Config::default())
        .applied_objects()
        .try_filter(|f| futures::future::ready(nss.contains(&f.namespace().unwrap_or_default())));
    let mut stream = std::pin::pin!(stream);
    let wait = async {
        while let Some(f) = stream.try_next().await.expect("watch") {
            let key = (f.namespace().unwrap_or_default(), f.name_any());
            if done(&f) {
                ready_set.insert(key);
            } else {
                ready_set.remove(&key);
            }
            if ready_set.len() == cfg.feeds {
                return;
            }
        }
    };
    let finished = tokio::time::timeout(limit, wait).await.is_ok();
    if finished {
        0
    } else {
        cfg.feeds - ready_set.len()
    }
}

/// The operator's flags: the shipped defaults (pacing and calls in flight among them), but for
/// its schedule IDs, a 30 s call timeout (the raw loop's, on a dev server kept busy by bursts
/// of creates), the resync interval and the log level; `--temporal-rps 0` (unpaced) when
/// `CURATOR_BENCH_UNPACED` is set, for a row marked as such.
pub fn operator_args(cfg: &Config) -> Vec<String> {
    let mut args: Vec<String> = [
        "--temporal-timeout",
        "30s",
        "--schedule-id-prefix",
        "op",
        "--resync-interval",
        &format!("{}s", cfg.resync.as_secs()),
        "--log-level",
        "warn",
    ]
    .map(String::from)
    .to_vec();
    if unpaced() {
        args.extend(["--temporal-rps".into(), "0".into()]);
    }
    args
}

/// Whether this run measures unpaced calls (`CURATOR_BENCH_UNPACED`) instead of the defaults.
pub fn unpaced() -> bool {
    std::env::var_os("CURATOR_BENCH_UNPACED").is_some()
}

/// One run on `cluster` and the Temporal dev server at `temporal`.
pub async fn run(cluster: &TestCluster, temporal: &str, cfg: &Config) -> Report {
    let client = cluster.client().await;
    cluster::install_crds(&client).await;
    let run = cluster::unique("scale");
    let offset = quiet_offset();
    let mut r = Report {
        apply: apply_all(&client, &run, cfg, temporal, &offset).await,
        ..Default::default()
    };
    println!("applied {} FeedSources in {:?}", cfg.feeds, r.apply);
    r.raw = raw_loop(temporal, &run, cfg, &offset).await;
    println!("raw loop: {:?}", r.raw);
    let op = Operator::start(Options {
        kubeconfig: &cluster.kubeconfig,
        pod_name: "bench",
        lease: None,
        args: operator_args(cfg),
    });
    let pid = op.pid();
    let started = Instant::now();
    let not_ready = all_done(&client, &run, cfg, Duration::from_secs(3600), ready).await;
    assert_eq!(not_ready, 0, "FeedSources not Ready within an hour");
    r.converge = started.elapsed();
    r.converge_cpu = cpu_seconds(pid);
    let (temporal_c, kube_c) = requests(&op).await;
    (r.rss_converged, _, _) = rss_parts(pid);
    let api_port = cluster.apiserver_port();
    r.kube_connections.0 = op.connections_to(api_port);
    println!(
        "converged in {:?} (ratio {:.2}), RSS {} MiB",
        r.converge,
        r.ratio(),
        r.rss_converged >> 20
    );
    let (_, body) = op.get("/metrics").await;
    // By outcome, the methods summed.
    r.temporal_failures = series(&body, "curator_temporal_requests_total", &["method"])
        .into_iter()
        .filter(|(outcome, _)| outcome != "ok")
        .map(|(_, n)| n)
        .sum::<f64>() as u64;
    r.converge_reconciles = means(&body, "curator_reconcile_duration_seconds");
    r.temporal_latency = means(&body, "curator_temporal_request_duration_seconds")
        .into_iter()
        .map(|(k, (_, mean))| (k, mean))
        .collect();
    r.converge_temporal = temporal_c.clone();
    r.converge_kube = kube_c.clone();
    // The next runs come with a later (paced) listing; the idle period starts after them.
    // A straggler (a create the loaded server cancelled, whose describes keep failing) must
    // not keep the idle period from being measured: it is counted instead.
    r.unsettled = all_done(&client, &run, cfg, SETTLE_LIMIT, settled).await;
    r.settled = started.elapsed();
    // Each worker's status shows its FeedSources' earliest next run: its next resync records
    // the next runs just written. Part of settling, not of idling.
    tokio::time::sleep(cfg.resync + Duration::from_secs(2)).await;
    println!(
        "next runs recorded after {:?} ({} FeedSources without them)",
        r.settled, r.unsettled
    );
    let (temporal_c, kube_c) = requests(&op).await;
    r.settle_temporal = delta(&temporal_c, &r.converge_temporal);
    r.settle_kube = delta(&kube_c, &r.converge_kube);
    let settled_cpu = cpu_seconds(pid);
    let reconciles = |body: &str| -> BTreeMap<String, u64> {
        means(body, "curator_reconcile_duration_seconds")
            .into_iter()
            .map(|(kind, (n, _))| (kind, n))
            .collect()
    };
    let reconciles_settled = reconciles(&op.get("/metrics").await.1);
    r.idle = cfg.idle;
    let idle_end = Instant::now() + cfg.idle;
    while Instant::now() < idle_end {
        tokio::time::sleep(RSS_EVERY.min(idle_end - Instant::now())).await;
        r.rss_idle_samples.push(rss_parts(pid).0);
    }
    r.rss_idle_samples.sort_unstable();
    let (temporal_i, kube_i) = requests(&op).await;
    r.idle_temporal = delta(&temporal_i, &temporal_c);
    r.idle_kube = delta(&kube_i, &kube_c);
    r.idle_kube.retain(|k, _| !k.starts_with("watch "));
    r.idle_cpu = cpu_seconds(pid) - settled_cpu;
    r.idle_reconciles = delta(
        &reconciles(&op.get("/metrics").await.1),
        &reconciles_settled,
    );
    (r.rss_idle, r.rss_peak, r.rss_file) = rss_parts(pid);
    r.kube_connections.1 = op.connections_to(api_port);
    if cfg.runs {
        runs_phase(&client, &run, cfg, temporal, &op, &mut r).await;
    }
    if let Some(path) = std::env::var_os("CURATOR_HEAP_PROFILE") {
        // A binary built with `--features heap-profile` writes what is live now.
        let _ = std::process::Command::new("kill")
            .args(["-USR2", &pid.to_string()])
            .status();
        let every = Duration::from_millis(500);
        wait::until(Duration::from_secs(300), every, async || {
            std::fs::metadata(&path)
                .is_ok_and(|m| m.len() > 0)
                .then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!("heap profile: {}", path.to_string_lossy());
    }
    let _ = op.terminate().await;
    r
}

/// How long phase 4 waits for every FeedSource to show its run completed: five resync
/// intervals (a run shows at the first resync after it started), at least five minutes.
pub fn runs_limit(cfg: &Config) -> Duration {
    (cfg.resync * 5).max(Duration::from_secs(300))
}

/// Whether the last run of `f` completed.
fn ran(f: &FeedSource) -> bool {
    f.status
        .as_ref()
        .and_then(|s| s.last_run.as_ref())
        .is_some_and(|l| {
            l.outcome == Some(curator_operator::crd::feedsource::RunOutcome::Completed)
        })
}

/// Phase 4: every operator schedule is triggered once (by the benchmark, in Temporal, as a
/// person or buun-curator's UI could), the contract worker completes the runs, and every
/// FeedSource must show its run completed: the operator learns of the runs from its resync
/// listing, of their ends from one visibility query per Temporal namespace every 30 s, and
/// reads each one's result once.
async fn runs_phase(
    client: &Client,
    run: &str,
    cfg: &Config,
    temporal: &str,
    op: &Operator,
    r: &mut Report,
) {
    use curator_operator::temporal::{
        ScheduleApi,
        proto::{SchedulePatch, TriggerImmediatelyRequest},
    };
    let queue = TemporalConnection::test(temporal).task_queue;
    let _worker = common::PythonWorker::serve(temporal, &queue);
    let (temporal_before, kube_before) = requests(op).await;
    let api = common::schedules(temporal).await;
    let nss = namespaces(run, cfg);
    let started = Instant::now();
    let first_trigger = jiff::Timestamp::now();
    stream::iter(0..cfg.feeds)
        .map(|i| {
            let (n, _) = worker_of(i, cfg);
            let id = format!("op/{}/feed-{i:05}", nss[n]);
            let api = api.clone();
            async move {
                let patch = SchedulePatch {
                    trigger_immediately: Some(TriggerImmediatelyRequest::default()),
                    ..Default::default()
                };
                for attempt in 1..=10 {
                    match api.patch(&id, patch.clone(), format!("bench-{id}")).await {
                        Ok(()) => return,
                        Err(e) if attempt < 10 => eprintln!("trigger of {id} retried: {e}"),
                        Err(e) => panic!("trigger of {id}: {e}"),
                    }
                }
            }
        })
        .buffer_unordered(cfg.concurrency)
        .collect::<Vec<_>>()
        .await;
    r.runs_triggered = started.elapsed();
    println!("triggered {} runs in {:?}", cfg.feeds, r.runs_triggered);
    r.runs_unshown = all_done(client, run, cfg, runs_limit(cfg), ran).await;
    r.runs_shown = started.elapsed();
    println!(
        "every run shown completed {:?} after the first trigger ({} not shown)",
        r.runs_shown, r.runs_unshown
    );
    r.runs_where = runs_where(client, run, cfg, &api, first_trigger).await;
    println!("at the end of phase 4: {}", r.runs_where);
    let (temporal_after, kube_after) = requests(op).await;
    r.runs_temporal = delta(&temporal_after, &temporal_before);
    r.runs_kube = delta(&kube_after, &kube_before);
    r.runs_kube.retain(|k, _| !k.starts_with("watch "));
}

/// Where the runs stand: the FeedSources' last runs by outcome, and the runs of the operator's
/// schedules that Temporal started since `since`, by status (so that a FeedSource that does not
/// show its run completed is told apart from a run that did not complete).
async fn runs_where(
    client: &Client,
    run: &str,
    cfg: &Config,
    api: &impl curator_operator::temporal::runs::RunsApi,
    since: jiff::Timestamp,
) -> String {
    let nss: HashSet<String> = namespaces(run, cfg).into_iter().collect();
    let feeds = Api::<FeedSource>::all(client.clone())
        .list(&Default::default())
        .await
        .expect("list FeedSources");
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    for f in feeds
        .items
        .iter()
        .filter(|f| nss.contains(&f.namespace().unwrap_or_default()))
    {
        let outcome = f
            .status
            .as_ref()
            .and_then(|s| s.last_run.as_ref())
            .and_then(|l| l.outcome)
            .map_or_else(|| "none".to_owned(), |o| format!("{o:?}"));
        *shown.entry(outcome).or_default() += 1;
    }
    let query = format!(
        "TemporalScheduledById STARTS_WITH 'op/' AND StartTime > '{}'",
        since.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
    );
    let temporal = match curator_operator::temporal::runs::list_all_runs(api, &query, 1000).await {
        Ok(rows) => {
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for row in &rows {
                let status = match row.status {
                    1 => "running",
                    2 => "completed",
                    3 => "failed",
                    4 => "canceled",
                    5 => "terminated",
                    7 => "timed out",
                    _ => "other",
                };
                *by.entry(status).or_default() += 1;
            }
            calls(
                &by.into_iter()
                    .map(|(k, v)| (k.to_owned(), v as u64))
                    .collect(),
            )
        }
        Err(e) => format!("not listed ({e})"),
    };
    let shown = calls(&shown.into_iter().map(|(k, v)| (k, v as u64)).collect());
    format!(
        "FeedSources' last runs: {shown}; Temporal, runs started since the first trigger: {temporal}"
    )
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn calls(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report as Markdown.
pub fn markdown(r: &Report, cfg: &Config) -> String {
    let spread = r.rss_idle_spread().unwrap_or_default();
    format!(
        "| feeds | workers | apply | raw `CreateSchedule` loop | operator | ratio | RSS converged | RSS peak | RSS after {idle}s idle | CPU to converge | CPU idle {idle}s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n\
         | {n} | {w} | {apply:.1} s | {raw:.1} s | {op:.1} s | **{ratio:.2}** | {rc} | {rp} | {ri} | {cc:.1} s | {ci:.2} s |\n\n\
         - convergence, Temporal: {ct}\n\
         - convergence, API server: {ck}\n\
         - convergence, reconciles (count, mean duration): {cr}\n\
         - convergence, mean Temporal latency: {tl}\n\
         - next runs recorded {settled:.1} s after the start ({unsettled} FeedSources still without them); meanwhile, Temporal: {st}; API server: {sk}\n\
         - idle {idle}s (resync every {resync}s), Temporal: {it}\n\
         - idle {idle}s, API server (watches excluded): {ik}\n\
         - idle {idle}s, reconciles: {ir}\n\
         - RSS after idling: {ri} of which {rf} mapped files (the binary's code); while idle, \
           every {every}s: median {rmed}, lowest {rmin}, highest {rmax}\n\
         - TCP connections to the API server: {kc0} at convergence, {kc1} after idling\n\
         - Temporal calls: {pacing}; CPUs: {cpus}\n\
         {runs}",
        pacing = if unpaced() {
            "UNPACED (--temporal-rps 0)"
        } else {
            "paced as shipped (no --temporal-rps)"
        },
        cpus = if r.cpus.is_empty() {
            "shared by every process (unpinned)"
        } else {
            r.cpus.as_str()
        },
        n = cfg.feeds,
        w = cfg.workers,
        apply = r.apply.as_secs_f64(),
        raw = r.raw.as_secs_f64(),
        op = r.converge.as_secs_f64(),
        ratio = r.ratio(),
        rc = mib(r.rss_converged),
        rp = mib(r.rss_peak),
        ri = mib(r.rss_idle),
        cc = r.converge_cpu,
        ci = r.idle_cpu,
        idle = r.idle.as_secs(),
        resync = cfg.resync.as_secs(),
        ct = calls(&r.converge_temporal),
        ck = calls(&r.converge_kube),
        cr = r
            .converge_reconciles
            .iter()
            .map(|(k, (n, mean))| format!("{k} {n} ({:.0} ms)", mean * 1000.0))
            .collect::<Vec<_>>()
            .join(", "),
        tl = r
            .temporal_latency
            .iter()
            .map(|(k, mean)| format!("{k} {:.0} ms", mean * 1000.0))
            .collect::<Vec<_>>()
            .join(", "),
        settled = r.settled.as_secs_f64(),
        unsettled = r.unsettled,
        st = calls(&r.settle_temporal),
        sk = calls(&r.settle_kube),
        it = calls(&r.idle_temporal),
        ik = calls(&r.idle_kube),
        ir = calls(&r.idle_reconciles),
        rf = mib(r.rss_file),
        kc0 = r.kube_connections.0,
        kc1 = r.kube_connections.1,
        every = RSS_EVERY.as_secs(),
        rmin = mib(spread.0),
        rmed = mib(spread.1),
        rmax = mib(spread.2),
        runs = if cfg.runs {
            format!(
                "- runs: every schedule triggered once ({trig:.1} s), the contract worker serving; every FeedSource showed its run completed {shown:.1} s after the first trigger ({unshown} did not); at the end, {at}; meanwhile, Temporal: {rt}; API server: {rk}\n",
                trig = r.runs_triggered.as_secs_f64(),
                shown = r.runs_shown.as_secs_f64(),
                unshown = r.runs_unshown,
                at = r.runs_where,
                rt = calls(&r.runs_temporal),
                rk = calls(&r.runs_kube),
            )
        } else {
            String::new()
        },
    )
}
