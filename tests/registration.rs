//! A FeedSource makes its feed real in buun-curator: the controller against the fake Kubernetes
//! API, a fake buun-curator API written to its contract, and a real Temporal dev server.

mod common;

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use curator_operator::{
    controller::{
        Shared,
        feedsource::{self, FeedContext},
    },
    crd::{CuratorWorker, FeedSource, feedsource::FeedDeletionPolicy},
    schedule::BuildOptions,
    temporal::{ScheduleApi, pool::Pool, proto::Action},
    testing::{
        curator_api::{FakeCuratorApi, Running},
        kube::{FakeKube, feed_path},
    },
};
use http::{Method, StatusCode};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::runtime::controller::Action as Requeue;
use serde_json::{Value, json};

const TOKEN: &str = "internal-token";

/// One FeedSource namespace: the fake API server, buun-curator, and the operator's context.
struct Env {
    ns: String,
    kube: Arc<FakeKube>,
    api: Running,
    ctx: Arc<FeedContext>,
}

fn context(kube: &Arc<FakeKube>) -> Arc<FeedContext> {
    let pool = Pool::new("registration-test", Duration::from_secs(5));
    let shared = Shared::new(kube.client(), pool, Duration::from_secs(300))
        .with_backoff(Duration::from_millis(50), Duration::from_secs(1));
    Arc::new(FeedContext::new(
        Arc::new(shared),
        BuildOptions::new("reg", "registration-test"),
    ))
}

impl Env {
    async fn new(ns: &str) -> Self {
        let kube = Arc::new(FakeKube::default());
        let api = FakeCuratorApi::start(TOKEN).await;
        let worker = CuratorWorker::test(ns, &common::shared().address).with_spec(json!({
            "curatorApi": {"url": api.url, "tokenSecretRef": {"name": "curator-api", "key": "token"}}
        }));
        kube.put_object(&worker);
        let mut secret = Secret::default();
        secret.metadata.name = Some("curator-api".into());
        secret.metadata.namespace = Some(ns.into());
        secret.data = Some([("token".to_owned(), ByteString(TOKEN.into()))].into());
        kube.put_object(&secret);
        Self {
            ns: ns.into(),
            ctx: context(&kube),
            kube,
            api,
        }
    }

    /// Stores a FeedSource without `feed.id`, as the user writes it.
    fn add(&self, name: &str, f: impl FnOnce(&mut FeedSource)) {
        let mut fs = FeedSource::test(&self.ns, name);
        fs.spec.feed.id = None;
        f(&mut fs);
        self.kube.put_object(&fs);
    }

    fn feed(&self, name: &str) -> FeedSource {
        serde_json::from_value(self.kube.get(&feed_path(&self.ns, name)).expect("stored"))
            .expect("FeedSource")
    }

    /// Reconciles as the controller would: once more after the finalizer is added.
    async fn reconcile(&self, name: &str) -> Result<Requeue, String> {
        for _ in 0..3 {
            let fs = self.feed(name);
            let had_finalizer = fs.metadata.finalizers.is_some();
            let r = feedsource::reconcile(Arc::new(fs), self.ctx.clone())
                .await
                .map_err(|e| e.to_string());
            if had_finalizer || r.is_err() {
                return r;
            }
        }
        Err("the finalizer was never added".into())
    }

    fn condition(&self, name: &str, t: &str) -> (String, String, String) {
        let fs = self.feed(name);
        let c = fs
            .status
            .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == t))
            .unwrap_or_else(|| panic!("no {t} condition"));
        (c.status, c.reason, c.message)
    }

    fn events(&self, reason: &str) -> usize {
        self.kube
            .seen_since(0)
            .iter()
            .filter(|s| s.path.contains("/events") && s.body["reason"] == reason)
            .count()
    }

    async fn schedule_input(&self, name: &str) -> Option<Value> {
        let api = common::schedules(&common::shared().address).await;
        let d = api
            .describe(&format!("reg/{}/{name}", self.ns))
            .await
            .expect("describe")?;
        let Some(Action::StartWorkflow(wf)) = d.schedule.action.and_then(|a| a.action) else {
            return None;
        };
        let payload = wf.input?.payloads.into_iter().next()?;
        serde_json::from_slice(&payload.data).ok()
    }
}

#[tokio::test]
async fn a_feedsource_without_an_id_creates_its_feed_once_and_schedules_it() {
    let env = Env::new("reg-create").await;
    env.add("hn", |_| {});
    env.reconcile("hn").await.expect("reconcile");
    assert_eq!(env.api.api.count("POST /api/feeds"), 1);
    assert_eq!(env.api.api.ingestion_runs.load(Ordering::Relaxed), 1);
    let status = env.feed("hn").status.expect("status");
    let id = status.feed_id.clone().expect("status.feedId");
    assert!(status.feed_created);
    let (s, reason, _) = env.condition("hn", "FeedRegistered");
    assert_eq!((s.as_str(), reason.as_str()), ("True", "Created"));
    assert_eq!(env.condition("hn", "Ready").0, "True");
    assert_eq!(env.events("FeedCreated"), 1);
    let input = env.schedule_input("hn").await.expect("schedule input");
    assert_eq!(
        input["feedId"],
        id.as_str(),
        "the schedule runs the created feed"
    );
    let row = env.api.api.feed(&id).expect("row");
    assert_eq!(row["url"], "https://example.com/hn.xml");
    assert_eq!(row["name"], "Feed hn");

    // Resync and a restarted operator: reads only.
    let before = env.api.api.writes();
    env.reconcile("hn").await.expect("resync");
    let restarted = Env {
        ctx: context(&env.kube),
        ..env
    };
    restarted.reconcile("hn").await.expect("after a restart");
    assert_eq!(
        restarted.api.api.writes(),
        before,
        "no POST/PATCH when unchanged"
    );
    assert_eq!(restarted.api.api.ingestion_runs.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn the_one_feed_with_the_url_is_adopted_and_two_are_ambiguous() {
    let env = Env::new("reg-adopt").await;
    let id = env.api.api.add("Feed hn", "https://example.com/hn.xml");
    env.add("hn", |_| {});
    env.reconcile("hn").await.expect("reconcile");
    assert_eq!(env.api.api.writes(), 0, "adopted as it is");
    assert_eq!(env.feed("hn").status.expect("status").feed_id, Some(id));
    assert_eq!(env.condition("hn", "FeedRegistered").1, "Adopted");
    assert_eq!(env.events("FeedAdopted"), 1);

    env.api.api.add("Twin A", "https://example.com/twin.xml");
    env.api.api.add("Twin B", "https://example.com/twin.xml");
    // A create is decided on a listing at most a second old.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.add("twin", |f| {
        f.spec.feed.url = "https://example.com/twin.xml".into()
    });
    let r = env.reconcile("twin").await;
    assert!(r.is_ok(), "permanent, not retried: {r:?}");
    let (s, reason, message) = env.condition("twin", "Ready");
    assert_eq!((s.as_str(), reason.as_str()), ("False", "AmbiguousFeed"));
    assert!(message.contains("set feed.id"), "{message}");
    assert_eq!(env.condition("twin", "Stalled").0, "True");
    assert_eq!(env.api.api.writes(), 0, "nothing created");
    assert!(env.schedule_input("twin").await.is_none(), "no schedule");
}

#[tokio::test]
async fn a_feed_id_buun_curator_does_not_know_never_runs_silently() {
    let env = Env::new("reg-missing").await;
    env.add("ghost", |f| {
        f.spec.feed.id = Some("01NOSUCHFEED0000000000000".into())
    });
    env.reconcile("ghost")
        .await
        .expect("permanent, not retried");
    let (s, reason, _) = env.condition("ghost", "Ready");
    assert_eq!((s.as_str(), reason.as_str()), ("False", "FeedNotFound"));
    assert_eq!(env.events("FeedNotFound"), 1, "one Warning event");
    assert!(
        env.schedule_input("ghost").await.is_none(),
        "no schedule created"
    );
    env.reconcile("ghost").await.expect("again");
    assert_eq!(env.events("FeedNotFound"), 1, "reported once");

    // A feed deleted in the UI after its schedule was made: the schedule is paused, and runs
    // again when the feed is back.
    let id = env.api.api.add("Feed real", "https://example.com/real.xml");
    env.add("real", |f| f.spec.feed.id = Some(id.clone()));
    env.reconcile("real").await.expect("reconcile");
    assert!(env.schedule_input("real").await.is_some());
    env.api.api.feeds.lock().expect("lock").remove(&id);
    let fresh = Env {
        ctx: context(&env.kube),
        ..env
    };
    fresh.reconcile("real").await.expect("reconcile");
    let api = common::schedules(&common::shared().address).await;
    let state = api
        .describe("reg/reg-missing/real")
        .await
        .expect("describe")
        .expect("kept")
        .schedule
        .state
        .expect("state");
    assert!(state.paused, "the schedule of a missing feed does not run");
    assert_eq!(fresh.condition("real", "Ready").1, "FeedNotFound");
}

/// A spec edit, the row field it shows in, and the value it must have there.
type Edit = (&'static str, fn(&mut FeedSource), &'static str, Value);

#[tokio::test]
async fn every_field_the_api_writes_follows_the_spec_with_one_patch() {
    let env = Env::new("reg-fields").await;
    env.add("hn", |_| {});
    env.reconcile("hn").await.expect("create");
    let id = env.feed("hn").status.and_then(|s| s.feed_id).expect("id");
    let edits: [Edit; 5] = [
        (
            "name",
            |f| f.spec.feed.name = "HN".into(),
            "name",
            json!("HN"),
        ),
        (
            "url",
            |f| f.spec.feed.url = "https://example.com/hn2.xml".into(),
            "url",
            json!("https://example.com/hn2.xml"),
        ),
        (
            "siteUrl",
            |f| f.spec.feed.site_url = Some("https://news.example.com".into()),
            "siteUrl",
            json!("https://news.example.com"),
        ),
        (
            "fetchContent",
            |f| f.spec.feed.enable_content_fetch = Some(false),
            "fetchContent",
            json!(false),
        ),
        (
            "fetchLimit",
            |f| f.spec.feed.fetch_limit = Some(7),
            "fetchLimit",
            json!(7),
        ),
    ];
    for (what, edit, field, want) in edits {
        let mut fs = env.feed("hn");
        edit(&mut fs);
        fs.metadata.generation = fs.metadata.generation.map(|g| g + 1);
        env.kube.put_object(&fs);
        let patches = env.api.api.count("PATCH ");
        env.reconcile("hn").await.expect("reconcile");
        assert_eq!(
            env.api.api.count("PATCH "),
            patches + 1,
            "{what}: one PATCH"
        );
        assert_eq!(env.api.api.feed(&id).expect("row")[field], want, "{what}");
        env.reconcile("hn").await.expect("again");
        assert_eq!(
            env.api.api.count("PATCH "),
            patches + 1,
            "{what}: then nothing"
        );
    }
    // The PATCH carried every field: what the spec set stays set.
    let row = env.api.api.feed(&id).expect("row");
    assert_eq!(row["name"], "HN");
    assert_eq!(row["fetchLimit"], 7);
    assert_eq!(row["fetchContent"], false);
    assert_eq!(env.events("FeedUpdated"), 5);
}

#[tokio::test]
async fn an_idle_resync_of_100_feedsources_writes_nothing_to_the_api() {
    let env = Env::new("reg-idle").await;
    let names: Vec<String> = (0..100).map(|i| format!("feed-{i}")).collect();
    for n in &names {
        env.add(n, |_| {});
        env.reconcile(n).await.expect("create");
    }
    assert_eq!(env.api.api.count("POST "), 100);
    // A resync after the shared listing expired, or after a restart: a context with nothing
    // in memory.
    let requests = env.api.api.requests.lock().expect("lock").len();
    let writes = env.api.api.writes();
    let fresh = context(&env.kube);
    for n in &names {
        let fs = env.feed(n);
        feedsource::reconcile(Arc::new(fs), fresh.clone())
            .await
            .expect("resync");
    }
    let calls = env.api.api.requests.lock().expect("lock")[requests..].to_vec();
    println!(
        "FIGURES 100 unchanged FeedSources, one resync: {} API calls: {calls:?}",
        calls.len()
    );
    assert_eq!(env.api.api.writes(), writes, "0 POST/PATCH/DELETE");
    assert_eq!(
        calls,
        vec!["GET /api/feeds".to_owned()],
        "one listing for all"
    );
}

#[tokio::test]
async fn a_field_changed_in_the_ui_is_put_back_at_the_resync() {
    let env = Env::new("reg-drift").await;
    env.add("hn", |f| f.spec.feed.fetch_limit = Some(30));
    env.reconcile("hn").await.expect("create");
    let id = env.feed("hn").status.and_then(|s| s.feed_id).expect("id");
    env.api.api.edit(&id, |row| row["fetchLimit"] = json!(5));
    let resync = Env {
        ctx: context(&env.kube),
        ..env
    };
    resync.reconcile("hn").await.expect("resync");
    assert_eq!(resync.api.api.feed(&id).expect("row")["fetchLimit"], 30);
    assert_eq!(resync.api.api.count("PATCH "), 1);
}

#[tokio::test]
async fn retain_keeps_the_feed_and_delete_removes_only_a_feed_it_created() {
    let env = Env::new("reg-delete").await;
    let adopted = env.api.api.add("Feed kept", "https://example.com/kept.xml");
    let cases = [
        ("retained", FeedDeletionPolicy::Retain, None, true),
        ("deleted", FeedDeletionPolicy::Delete, None, false),
        (
            "adopted",
            FeedDeletionPolicy::Delete,
            Some("https://example.com/kept.xml"),
            true,
        ),
    ];
    for (name, policy, url, kept) in cases {
        env.add(name, |f| {
            f.spec.feed_deletion_policy = policy;
            if let Some(u) = url {
                f.spec.feed.url = u.into();
            }
        });
        env.reconcile(name).await.expect("create");
        let id = env.feed(name).status.and_then(|s| s.feed_id).expect("id");
        let gone = env.feed(name).deleting();
        env.kube.put_object(&gone);
        env.reconcile(name).await.expect("cleanup");
        assert!(
            env.kube.get(&feed_path(&env.ns, name)).is_none(),
            "{name}: released"
        );
        assert_eq!(env.api.api.feed(&id).is_some(), kept, "{name}");
        if url.is_some() {
            assert_eq!(id, adopted);
        }
    }
    assert_eq!(env.events("FeedDeleted"), 1);
}

#[tokio::test]
async fn a_crash_between_the_post_and_the_status_write_creates_no_second_feed() {
    let env = Env::new("reg-crash").await;
    env.add("hn", |_| {});
    // The status write fails once, as if the operator died right after the POST.
    env.kube.fail_when(|m, p| {
        (m == Method::PATCH && p.ends_with("/status")).then_some(StatusCode::INTERNAL_SERVER_ERROR)
    });
    let _ = env.reconcile("hn").await;
    assert_eq!(env.api.api.count("POST "), 1);
    assert!(env.feed("hn").status.is_none());
    env.kube.heal();
    let restarted = Env {
        ctx: context(&env.kube),
        ..env
    };
    restarted.reconcile("hn").await.expect("reconcile");
    assert_eq!(
        restarted.api.api.count("POST "),
        1,
        "found by its URL, not created again"
    );
    assert_eq!(restarted.api.api.feeds.lock().expect("lock").len(), 1);
    assert!(
        restarted
            .feed("hn")
            .status
            .and_then(|s| s.feed_id)
            .is_some()
    );
}

#[tokio::test]
async fn an_api_that_is_down_leaves_the_schedule_alone_and_is_retried() {
    let env = Env::new("reg-down").await;
    env.add("hn", |_| {});
    env.api.api.down.store(true, Ordering::Relaxed);
    let r = env.reconcile("hn").await;
    assert!(r.is_err(), "transient: retried with backoff");
    let (s, reason, _) = env.condition("hn", "Ready");
    assert_eq!(
        (s.as_str(), reason.as_str()),
        ("False", "CuratorApiUnavailable")
    );
    assert_eq!(env.condition("hn", "Reconciling").0, "True");
    assert!(
        env.schedule_input("hn").await.is_none(),
        "the schedule is left as it is"
    );
    env.api.api.down.store(false, Ordering::Relaxed);
    let back = Env {
        ctx: context(&env.kube),
        ..env
    };
    back.reconcile("hn").await.expect("after the API is back");
    assert_eq!(back.condition("hn", "Ready").0, "True");
}

#[tokio::test]
async fn a_bad_token_is_reported_with_the_secrets_name() {
    let env = Env::new("reg-token").await;
    let mut secret = Secret::default();
    secret.metadata.name = Some("curator-api".into());
    secret.metadata.namespace = Some(env.ns.clone());
    secret.data = Some([("token".to_owned(), ByteString(b"wrong".to_vec()))].into());
    env.kube.put_object(&secret);
    env.add("hn", |_| {});
    let r = env.reconcile("hn").await;
    assert!(r.is_ok(), "permanent until the Secret changes: {r:?}");
    let (s, reason, message) = env.condition("hn", "Ready");
    assert_eq!(
        (s.as_str(), reason.as_str()),
        ("False", "CuratorApiUnauthorized")
    );
    assert!(
        message.contains("reg-token/curator-api (key token)"),
        "{message}"
    );
    assert!(
        !message.contains(TOKEN) && !message.contains("wrong"),
        "{message}"
    );
    assert_eq!(env.api.api.writes(), 0);
}
