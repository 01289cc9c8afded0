//! One tenant cannot stall or spy on another: a CuratorWorker pointing at an address that
//! accepts connections and never answers does not hold up FeedSources of other namespaces, and
//! results cached per Temporal namespace are never shared between different credentials.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use curator_operator::{
    controller::{
        Shared,
        feedsource::{self, FeedContext},
    },
    crd::{CuratorWorker, FeedSource, address::AllowList},
    schedule::BuildOptions,
    temporal::pool::Pool,
    testing::kube::{FakeKube, feed_path},
};

/// An address that accepts TCP connections and never says a word.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (address, task)
}

fn context(kube: &Arc<FakeKube>, timeout: Duration) -> Arc<FeedContext> {
    let shared = Shared::new(
        kube.client(),
        Pool::new("tenants-test", timeout),
        Duration::from_secs(300),
    );
    Arc::new(FeedContext::new(
        Arc::new(shared),
        BuildOptions::new("tenants", "tenants-test"),
    ))
}

async fn reconcile(kube: &FakeKube, ctx: &Arc<FeedContext>, ns: &str, name: &str) {
    for _ in 0..2 {
        let fs: FeedSource =
            serde_json::from_value(kube.get(&feed_path(ns, name)).expect("feed")).expect("feed");
        let _ = feedsource::reconcile(Arc::new(fs), ctx.clone()).await;
    }
}

fn ready(kube: &FakeKube, ns: &str, name: &str) -> bool {
    kube.get(&feed_path(ns, name)).is_some_and(|f| {
        f["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_never_answers_does_not_stall_other_tenants() {
    let server = common::shared();
    let (hole, _task) = black_hole().await;
    let kube = Arc::new(FakeKube::default());
    kube.put_object(&CuratorWorker::test("stuck", &hole));
    kube.put_object(&CuratorWorker::test("healthy", &server.address));
    for i in 0..3 {
        kube.put_object(&FeedSource::test("stuck", &format!("s{i}")));
    }
    kube.put_object(&FeedSource::test("healthy", "h"));
    let timeout = Duration::from_secs(6);
    let ctx = context(&kube, timeout);
    // The stuck tenant's reconciles start first and hang on their connect.
    let mut stuck = Vec::new();
    for i in 0..3 {
        let (kube, ctx) = (kube.clone(), ctx.clone());
        stuck.push(tokio::spawn(async move {
            reconcile(&kube, &ctx, "stuck", &format!("s{i}")).await;
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    reconcile(&kube, &ctx, "healthy", "h").await;
    let took = started.elapsed();
    println!(
        "FIGURES the healthy tenant's FeedSource was Ready after {took:?} while another tenant's address hung"
    );
    assert!(ready(&kube, "healthy", "h"));
    assert!(
        took < timeout / 2,
        "another tenant's hung connect held this one up for {took:?}"
    );
    for t in stuck {
        t.await.expect("stuck reconciles end");
    }
    // The failed connect is remembered: the next reconcile of the stuck tenant fails at once
    // instead of waiting out the timeout again.
    let again = Instant::now();
    reconcile(&kube, &ctx, "stuck", "s0").await;
    println!(
        "FIGURES a reconcile right after the failed connect took {:?}",
        again.elapsed()
    );
    assert!(
        again.elapsed() < Duration::from_secs(1),
        "{:?}",
        again.elapsed()
    );
    let (_, reason) = {
        let f = kube.get(&feed_path("stuck", "s0")).expect("feed");
        let c = f["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
            .expect("Ready");
        (
            c["status"].clone(),
            c["reason"].as_str().unwrap_or_default().to_owned(),
        )
    };
    assert_eq!(reason, "TemporalUnreachable");
}

#[tokio::test]
async fn a_cached_queue_load_is_never_shared_with_other_credentials() {
    use curator_operator::controller::curatorworker::{self, WorkerContext};
    use k8s_openapi::{ByteString, api::core::v1::Secret};
    use kube::runtime::reflector;
    let server = common::shared();
    let kube = Arc::new(FakeKube::default());
    let autoscaled = serde_json::json!({"autoscaling": {"maxReplicas": 2}});
    let open = CuratorWorker::test("open", &server.address)
        .with_spec(autoscaled.clone())
        .with_finalizer();
    // Same frontend, namespace and queue, but with an API key of its own (which this plaintext
    // dev server cannot accept).
    let keyed = CuratorWorker::test("keyed", &server.address)
        .with_spec(autoscaled)
        .with_spec(serde_json::json!({"temporal": {"address": server.address,
            "apiKeySecretRef": {"name": "key", "key": "k"}}}))
        .with_finalizer();
    let mut secret = Secret::default();
    secret.metadata.name = Some("key".into());
    secret.metadata.namespace = Some("keyed".into());
    secret.data = Some([("k".to_owned(), ByteString(b"a-key".to_vec()))].into());
    kube.put_object(&secret);
    kube.put_object(&open);
    kube.put_object(&keyed);
    let ctx = Arc::new(WorkerContext::test(kube.client(), reflector::store().0));
    for w in [&open, &keyed] {
        let _ = curatorworker::reconcile(Arc::new(w.clone()), ctx.clone()).await;
    }
    let reachable = |ns: &str| {
        let w = kube
            .get(&curator_operator::testing::kube::worker_path(ns, "curator"))
            .expect("worker");
        w["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "TemporalReachable").cloned())
            .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(reachable("open").as_deref(), Some("True"));
    assert_eq!(
        reachable("keyed").as_deref(),
        Some("False"),
        "the keyed worker must not be served the open one's backlog"
    );
}

#[tokio::test]
async fn an_address_outside_the_allowed_list_is_never_contacted() {
    let server = common::shared();
    let (hole, _task) = black_hole().await;
    let kube = Arc::new(FakeKube::default());
    kube.put_object(&CuratorWorker::test("other", &hole));
    kube.put_object(&CuratorWorker::test("local", &server.address));
    kube.put_object(&FeedSource::test("other", "o"));
    kube.put_object(&FeedSource::test("local", "l"));
    // Only loopback frontends on the shared server's port are allowed.
    let port = server.address.rsplit(':').next().expect("port");
    let allowed = [format!("127.0.0.*:{port}"), "*.tmprl.cloud:7233".into()];
    let pool = Pool::new("tenants-test", Duration::from_secs(5))
        .with_allowed_addresses(AllowList::parse(&allowed).expect("patterns"));
    let shared = Shared::new(kube.client(), pool.clone(), Duration::from_secs(300));
    let ctx = Arc::new(FeedContext::new(
        Arc::new(shared),
        BuildOptions::new("tenants", "tenants-test"),
    ));
    reconcile(&kube, &ctx, "other", "o").await;
    reconcile(&kube, &ctx, "local", "l").await;
    assert!(ready(&kube, "local", "l"), "an allowed address works");
    let f = kube.get(&feed_path("other", "o")).expect("feed");
    let c = f["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .expect("Ready");
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("False"), Some("AddressNotAllowed"))
    );
    assert!(
        c["message"].as_str().unwrap_or_default().contains(&hole),
        "{c}"
    );
    // One connection, to the allowed frontend; none was even attempted to the other.
    assert_eq!(pool.len(), 1);
}
