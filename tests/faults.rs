//! Faults, with figures: Temporal unreachable at start and killed mid-run (restarted on the
//! same port and data), a crash between the steps of a reconcile, rapid edits, colliding
//! owners, and secrets kept out of logs. Every scenario checks the end state: one schedule per
//! FeedSource, owned by it and matching its spec; none for a deleted one.

mod common;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use common::wait;
use curator_operator::testing::kube::{FakeKube, feed_path, worker_path};
use curator_operator::{
    controller::{
        Shared,
        feedsource::{self, FeedContext},
        watch::feed_predicate,
    },
    crd::{CuratorWorker, FeedSource, curatorworker::TemporalConnection},
    schedule::{
        BuildOptions, desired,
        sync::{self, Recorded, SyncError},
    },
    temporal::{ScheduleApi, pool::Pool},
};
use http::{Method, StatusCode};
use kube::runtime::controller::Action;
use serde_json::{Value, json};

const NS: &str = "faults";
const CAP: Duration = Duration::from_secs(2);

fn opts() -> BuildOptions {
    BuildOptions::new("fault", "fault-test")
}

fn context(fake: &Arc<FakeKube>) -> Arc<FeedContext> {
    let pool = Pool::new("fault-test", Duration::from_secs(2));
    let shared = Shared::new(fake.client(), pool, Duration::from_secs(3600))
        .with_backoff(Duration::from_millis(100), CAP);
    Arc::new(FeedContext::new(Arc::new(shared), opts()))
}

fn add_feed(fake: &FakeKube, name: &str) {
    let mut f = FeedSource::test(NS, name);
    f.metadata.uid = Some(format!("uid-{name}"));
    fake.put(
        &feed_path(NS, name),
        serde_json::to_value(&f).expect("json"),
    );
}

fn feed(fake: &FakeKube, name: &str) -> Option<FeedSource> {
    fake.get(&feed_path(NS, name))
        .map(|v| serde_json::from_value(v).expect("feed"))
}

fn ready(fake: &FakeKube, name: &str) -> Option<(String, String)> {
    let f = feed(fake, name)?;
    let c = f
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status, c.reason))
}

/// An API server holding the CuratorWorker `curator` that points at `address`.
fn fake_with_worker(address: &str) -> Arc<FakeKube> {
    let fake = Arc::new(FakeKube::default());
    let mut worker = CuratorWorker::test(NS, address);
    worker.metadata.uid = Some("uid-worker".into());
    fake.put(
        &worker_path(NS, "curator"),
        serde_json::to_value(&worker).expect("json"),
    );
    fake
}

/// Reconciles like kube-runtime does: at once when the trigger-relevant part of an object
/// changes, again after the per-object backoff when it failed.
struct Driver {
    ctx: Arc<FeedContext>,
    due: HashMap<String, Instant>,
    seen: HashMap<String, u64>,
    attempts: HashMap<String, u32>,
}

impl Driver {
    fn new(ctx: Arc<FeedContext>) -> Self {
        Self {
            ctx,
            due: HashMap::new(),
            seen: HashMap::new(),
            attempts: HashMap::new(),
        }
    }

    async fn step(&mut self, fake: &FakeKube, names: &[String]) {
        for name in names {
            let Some(f) = feed(fake, name) else { continue };
            let trig = feed_predicate(&f);
            let now = Instant::now();
            if self.seen.get(name) != Some(&trig) {
                self.due.insert(name.clone(), now);
                self.seen.insert(name.clone(), trig);
            }
            if self.due.get(name).is_none_or(|d| *d > now) {
                continue;
            }
            *self.attempts.entry(name.clone()).or_default() += 1;
            let uid = f.metadata.uid.clone().unwrap_or_default();
            match feedsource::reconcile(Arc::new(f), self.ctx.clone()).await {
                // A new schedule waiting for its listing: the controller comes back in 2 s
                // (or when the listing arrives); here at once.
                Ok(a)
                    if a == Action::requeue(Duration::from_secs(2))
                        || a == Action::requeue(Duration::from_secs(15)) =>
                {
                    self.due
                        .insert(name.clone(), Instant::now() + Duration::from_millis(100));
                }
                Ok(_) => {
                    self.due.remove(name);
                }
                Err(_) => {
                    let d = self.ctx.shared.backoff.next(&uid);
                    self.due.insert(name.clone(), Instant::now() + d);
                }
            }
        }
    }

    /// Drives until `done` holds or `limit` passes; returns the time it took.
    async fn until(
        &mut self,
        fake: &FakeKube,
        names: &[String],
        limit: Duration,
        done: impl Fn(&FakeKube) -> bool,
    ) -> Option<Duration> {
        let start = Instant::now();
        wait::until(limit, Duration::from_millis(20), async || {
            self.step(fake, names).await;
            done(fake).then(|| start.elapsed())
        })
        .await
    }
}

/// One schedule per live FeedSource, owned by it and matching its spec; none for gone ones.
async fn assert_end_state(fake: &FakeKube, address: &str, names: &[String]) -> (u32, u32) {
    let api = common::schedules(address).await;
    let (mut wrong, mut orphaned) = (0, 0);
    for name in names {
        let id = desired::schedule_id("fault", NS, name);
        let described = api.describe(&id).await.expect("describe");
        match feed(fake, name) {
            Some(f) => {
                let temporal = TemporalConnection::test(address);
                let want = desired::build(
                    NS,
                    name,
                    f.metadata.uid.as_deref().unwrap_or_default(),
                    &f.spec,
                    &temporal,
                    &opts(),
                )
                .expect("valid");
                let ok = described.as_ref().is_some_and(|d| {
                    d.memo_info
                        .owner
                        .as_ref()
                        .is_some_and(|o| o.uid == want.owner.uid)
                        && d.memo_info.fingerprint.as_deref() == Some(want.fingerprint.as_str())
                });
                if !ok {
                    wrong += 1;
                }
            }
            None => {
                if described.is_some() {
                    orphaned += 1;
                }
            }
        }
    }
    (wrong, orphaned)
}

#[tokio::test]
async fn temporal_outage_at_start_and_mid_run() {
    let port = common::free_port();
    let address = format!("127.0.0.1:{port}");
    let fake = fake_with_worker(&address);
    let names: Vec<String> = (0..8).map(|i| format!("feed-{i}")).collect();
    for n in &names {
        add_feed(&fake, n);
    }
    let ctx = context(&fake);
    let mut driver = Driver::new(ctx.clone());

    // 1. Temporal is down when the operator starts.
    driver
        .until(&fake, &names, Duration::from_secs(3), |_| false)
        .await;
    for n in &names {
        assert_eq!(
            ready(&fake, n),
            Some(("False".into(), "TemporalUnreachable".into())),
            "{n}"
        );
        let f = feed(&fake, n).expect("feed");
        let conds = f.status.expect("status").conditions;
        let get = |t: &str| {
            conds
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status.clone())
        };
        assert_eq!(get("TemporalReachable").as_deref(), Some("False"));
        assert_eq!(get("Reconciling").as_deref(), Some("True"));
    }
    let worst_attempts = driver.attempts.values().copied().max().unwrap_or_default();
    assert!(
        worst_attempts <= 12,
        "backoff, not a retry storm: {worst_attempts} attempts in 3 s"
    );

    // 2. Temporal comes up: convergence within two backoff caps.
    let server = common::TemporalServer::start_on(port, tempfile::tempdir().expect("dir"));
    let up = Instant::now();
    let all_ready = |f: &FakeKube| {
        names
            .iter()
            .all(|n| ready(f, n).is_some_and(|r| r.0 == "True"))
    };
    let took = driver
        .until(&fake, &names, Duration::from_secs(20), all_ready)
        .await
        .expect("converged after start");
    let first_recovery = up.elapsed().min(took);
    assert_eq!(assert_end_state(&fake, &address, &names).await, (0, 0));

    // 3. Temporal dies with work pending: two feeds deleted, two edited during the outage.
    let dir = server.stop();
    for n in &names[..2] {
        fake.edit(&feed_path(NS, n), |o| {
            o["metadata"]["deletionTimestamp"] = json!("2026-11-22T04:00:00Z")
        });
    }
    for n in &names[2..4] {
        fake.edit(&feed_path(NS, n), |o| {
            o["spec"]["feed"]["fetchLimit"] = json!(42);
            o["metadata"]["generation"] = json!(2);
        });
    }
    driver
        .until(&fake, &names, Duration::from_secs(3), |_| false)
        .await;
    assert!(
        feed(&fake, &names[0]).is_some(),
        "deletion waits for Temporal (finalizer held)"
    );
    assert_eq!(
        ready(&fake, &names[2]).map(|r| r.1).as_deref(),
        Some("TemporalUnreachable")
    );

    // 4. Temporal returns (same port, same data).
    let server = common::TemporalServer::start_on(port, dir);
    let up = Instant::now();
    let converged = |f: &FakeKube| {
        names[..2].iter().all(|n| feed(f, n).is_none())
            && names[2..].iter().all(|n| {
                ready(f, n).is_some_and(|r| r.0 == "True")
                    && feed(f, n)
                        .and_then(|x| x.status)
                        .and_then(|s| s.observed_generation)
                        == feed(f, n).and_then(|x| x.metadata.generation)
            })
    };
    driver
        .until(&fake, &names, Duration::from_secs(20), converged)
        .await
        .expect("converged after restart");
    let second_recovery = up.elapsed();
    let (wrong, orphaned) = assert_end_state(&fake, &address, &names).await;
    assert_eq!(
        (wrong, orphaned),
        (0, 0),
        "no lost, stale or orphaned schedule"
    );
    let worst = first_recovery.max(second_recovery);
    println!(
        "FIGURES faults=2 (down at start, killed mid-run) feeds={} deleted_during_outage=2 edited_during_outage=2 lost=0 orphaned=0 duplicated=0 recovery_after_start={:?} recovery_after_restart={:?} backoff_cap={:?}",
        names.len(),
        first_recovery,
        second_recovery,
        CAP
    );
    assert!(
        worst <= CAP * 2 + Duration::from_secs(2),
        "converged in {worst:?}, more than two backoff caps"
    );
    drop(server);
}

#[tokio::test]
async fn a_crash_between_steps_converges_without_duplicates() {
    let server = common::shared();
    let fake = fake_with_worker(&server.address);
    let names = vec!["crashy".to_owned()];
    add_feed(&fake, "crashy");
    let ctx = context(&fake);
    let mut driver = Driver::new(ctx.clone());
    let creates = |ctx: &FeedContext| {
        ctx.shared
            .metrics
            .encode()
            .lines()
            .find(|l| l.starts_with("curator_temporal_requests_total{method=\"CreateSchedule\""))
            .map(str::to_owned)
    };

    // Crash after the create, before the status write (the status patch fails once).
    fake.fail_when(|m, p| {
        (m == Method::PATCH && p.ends_with("/status")).then_some(StatusCode::INTERNAL_SERVER_ERROR)
    });
    driver
        .until(&fake, &names, Duration::from_secs(2), |_| false)
        .await;
    assert!(
        feed(&fake, "crashy").and_then(|f| f.status).is_none(),
        "no status written"
    );
    let created = creates(&ctx);
    fake.heal();
    driver
        .until(&fake, &names, Duration::from_secs(10), |f| {
            ready(f, "crashy").is_some_and(|r| r.0 == "True")
        })
        .await
        .expect("adopted");
    assert_eq!(
        creates(&ctx),
        created,
        "the restart adopted its own schedule instead of creating another"
    );
    assert_eq!(
        assert_end_state(&fake, &server.address, &names).await,
        (0, 0)
    );

    // Crash after the schedule is deleted, before the finalizer is removed.
    fake.edit(&feed_path(NS, "crashy"), |o| {
        o["metadata"]["deletionTimestamp"] = json!("2026-11-22T04:00:00Z")
    });
    fake.fail_when(|m, p| {
        (m == Method::PATCH && p.ends_with("/crashy")).then_some(StatusCode::INTERNAL_SERVER_ERROR)
    });
    driver
        .until(&fake, &names, Duration::from_secs(2), |_| false)
        .await;
    assert!(feed(&fake, "crashy").is_some(), "finalizer still there");
    fake.heal();
    driver
        .until(&fake, &names, Duration::from_secs(10), |f| {
            feed(f, "crashy").is_none()
        })
        .await
        .expect("finalizer removed");
    assert_eq!(
        assert_end_state(&fake, &server.address, &names).await,
        (0, 0)
    );
}

#[tokio::test]
async fn rapid_edits_end_with_the_last_spec() {
    let server = common::shared();
    let fake = fake_with_worker(&server.address);
    let names = vec!["busy".to_owned()];
    add_feed(&fake, "busy");
    let ctx = context(&fake);
    let mut driver = Driver::new(ctx);
    driver
        .until(&fake, &names, Duration::from_secs(10), |f| {
            ready(f, "busy").is_some_and(|r| r.0 == "True")
        })
        .await
        .expect("created");
    for i in 1..=25 {
        fake.edit(&feed_path(NS, "busy"), |o| {
            o["spec"]["feed"]["fetchLimit"] = json!(i);
            o["metadata"]["generation"] = json!(i + 1);
        });
        if i % 3 == 0 {
            driver.step(&fake, &names).await;
        }
    }
    driver
        .until(&fake, &names, Duration::from_secs(10), |f| {
            feed(f, "busy")
                .and_then(|x| x.status)
                .and_then(|s| s.observed_generation)
                == Some(26)
        })
        .await
        .expect("caught up");
    assert_eq!(
        assert_end_state(&fake, &server.address, &names).await,
        (0, 0)
    );
    let api = common::schedules(&server.address).await;
    let d = api
        .describe(&desired::schedule_id("fault", NS, "busy"))
        .await
        .expect("d")
        .expect("exists");
    let Some(curator_operator::temporal::proto::Action::StartWorkflow(wf)) =
        d.schedule.action.and_then(|a| a.action)
    else {
        panic!("action")
    };
    let input: Value =
        serde_json::from_slice(&wf.input.expect("input").payloads[0].data).expect("json");
    assert_eq!(input["fetchLimit"], 25);
}

#[tokio::test]
async fn two_owners_of_one_id_never_overwrite_each_other() {
    let server = common::shared();
    let api = common::schedules(&server.address).await;
    let f = FeedSource::test(NS, "twin");
    let build = |uid: &str, limit: i32| {
        let mut spec = f.spec.clone();
        spec.feed.fetch_limit = Some(limit);
        desired::build(
            NS,
            "twin",
            uid,
            &spec,
            &TemporalConnection::test(&server.address),
            &opts(),
        )
        .expect("valid")
    };
    let first = build("cluster-a", 1);
    sync::sync(&api, &first, &Recorded::default())
        .await
        .expect("first owner creates");
    for _ in 0..5 {
        let err = sync::sync(&api, &build("cluster-b", 2), &Recorded::default())
            .await
            .expect_err("conflict");
        assert!(matches!(err, SyncError::Conflict { .. }));
    }
    let d = api.describe(&first.id).await.expect("d").expect("exists");
    assert_eq!(
        d.memo_info.owner.map(|o| o.uid).as_deref(),
        Some("cluster-a")
    );
    assert_eq!(
        d.memo_info.fingerprint.as_deref(),
        Some(first.fingerprint.as_str())
    );
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    use std::io::Write;
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = common::shared();
    let fake = Arc::new(FakeKube::default());
    let mut worker = CuratorWorker::test(NS, &server.address);
    worker.metadata.uid = Some("uid-worker".into());
    worker.spec.temporal.api_key_secret_ref =
        Some(curator_operator::crd::curatorworker::SecretKeyRef {
            name: "cloud".into(),
            key: "key".into(),
        });
    fake.put(
        &worker_path(NS, "curator"),
        serde_json::to_value(&worker).expect("json"),
    );
    // "super-secret-api-key", base64.
    fake.put(
        &format!("/api/v1/namespaces/{NS}/secrets/cloud"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloud", "namespace": NS}, "data": {"key": "c3VwZXItc2VjcmV0LWFwaS1rZXk="}}),
    );
    add_feed(&fake, "guarded");
    let ctx = context(&fake);
    let f = feed(&fake, "guarded").expect("feed");
    let r = feedsource::reconcile(Arc::new(f), ctx.clone()).await;
    let f = feed(&fake, "guarded").expect("feed");
    let r2 = feedsource::reconcile(Arc::new(f.clone()), ctx.clone()).await;
    if let Err(e) = &r2 {
        feedsource::error_policy(Arc::new(f), e, ctx.clone());
    }
    let _ = r;
    let logs = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
    let status = serde_json::to_string(&fake.get(&feed_path(NS, "guarded"))).expect("json");
    for secret in ["super-secret-api-key", "c3VwZXItc2VjcmV0LWFwaS1rZXk="] {
        assert!(!logs.contains(secret), "secret in logs:\n{logs}");
        assert!(!status.contains(secret), "secret in status");
    }
    assert!(!logs.is_empty(), "the reconcile logged something");
}
