//! One tenant's slow buun-curator API against the others (issue 31, item 7), on a real API
//! server with the real operator binary: its FeedSources hold no more than their share of the
//! reconcile slots, and waiting on it is never a stall of the operator (`/livez`).

mod common;

use std::time::Duration;

use common::{
    cluster::eventually,
    curator::worker_on,
    namespace::{TestNamespace, WAIT, with_namespace},
    operator::{Operator, Options},
};
use curator_operator::crd::{CuratorWorker, FeedSource};
use kube::api::PostParams;

/// FeedSources `prefix-0…` registered by URL (`url(i)`), no `feed.id`.
async fn feeds(space: &TestNamespace<'_>, prefix: &str, n: usize, url: impl Fn(usize) -> String) {
    for i in 0..n {
        let mut f = FeedSource::test(&space.ns, &format!("{prefix}-{i}")).unsaved();
        f.spec.feed.id = None;
        f.spec.feed.url = url(i);
        space
            .api::<FeedSource>()
            .create(&PostParams::default(), &f)
            .await
            .expect("feed source");
    }
}

/// Whether any of the FeedSources in `space` has a Ready condition with `reason`.
async fn any_with(space: &TestNamespace<'_>, reason: &str) -> bool {
    let list = space
        .api::<FeedSource>()
        .list(&Default::default())
        .await
        .expect("list");
    list.items.iter().any(|f| {
        f.status
            .as_ref()
            .and_then(|s| s.conditions.find("Ready"))
            .is_some_and(|c| c.reason == reason)
    })
}

fn operator(space: &TestNamespace<'_>, args: &[&str]) -> Operator {
    Operator::start(Options {
        kubeconfig: &space.cluster.kubeconfig,
        pod_name: "tenancy-load",
        lease: None,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// Item 7: namespace a's FeedSources wait on an API that never answers (each call ends at the
/// 20 s timeout) and would fill every slot; namespace b's FeedSource, created after them, is
/// Ready before any of a's calls has even timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_tenant_holds_no_more_than_its_share_of_the_slots() {
    // A control plane of its own: watching every namespace, this operator must see only a's
    // and b's FeedSources, not those of the tests running beside it.
    let Some(cluster) = common::cluster::private() else {
        return;
    };
    let a = TestNamespace::on(&cluster, "load-hang").await;
    let b = TestNamespace::on(&cluster, "load-quiet").await;
    let (hole, _) = common::black_hole().await;
    // Every namespace, so one controller's 4 slots serve both; a call to the API that never
    // answers ends after 20 s.
    let op = operator(&a, &["--concurrency", "4", "--temporal-timeout", "20s"]);
    worker_on(&a, &format!("http://{hole}")).await;
    feeds(&a, "hang", 8, |i| {
        format!("https://example.com/hang-{i}.xml")
    })
    .await;
    // b's worker has no API: its FeedSource (feed.id set) needs only Temporal.
    b.api::<CuratorWorker>()
        .create(
            &PostParams::default(),
            &CuratorWorker::test(&b.ns, &common::shared().address).unsaved(),
        )
        .await
        .expect("worker");
    // a's reconciles have taken their share of the slots, 2 of 4 (and wait on the API); the
    // other 6 wait in a's queue, and cost nothing there.
    eventually("six of a's reconciles wait for a slot", WAIT, || async {
        op.metric_sum("curator_reconciles_waiting", &["kind=\"FeedSource\""])
            .await
            == 6.0
    })
    .await;
    b.api::<FeedSource>()
        .create(
            &PostParams::default(),
            &FeedSource::test(&b.ns, "quiet").unsaved(),
        )
        .await
        .expect("feed source");
    b.wait_ready("quiet").await;
    assert!(
        !any_with(&a, "CuratorApiUnavailable").await,
        "b waited until a's calls had timed out: a held every slot\n{}",
        op.log()
    );
    assert!(
        op.metric_sum(
            "curator_reconciles_deferred_total",
            &["kind=\"FeedSource\""]
        )
        .await
            > 0.0,
        "a's reconciles over its share waited while slots were free"
    );
    eventually("a's FeedSources report the API", WAIT, || {
        any_with(&a, "CuratorApiUnavailable")
    })
    .await;
    drop(op);
}

/// Item 7: twelve FeedSources of one feed URL (their names differ) on a slow API (4 s a call)
/// wait for each other, one registration per URL at a time. Once the first holds the feed the
/// others write nothing, and no wait is unbounded, so no reconcile runs towards
/// `--stall-timeout` and `/livez` never fails. (Before: each PATCHed the feed in turn, 4 s
/// each while the others waited, and the seventh in line had run 32 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_a_slow_tenant_is_not_a_stall() {
    let Some(a) = with_namespace("load-stall").await else {
        return;
    };
    let fake =
        curator_operator::testing::curator_api::FakeCuratorApi::start(common::curator::TOKEN).await;
    fake.api
        .delay_ms
        .store(4000, std::sync::atomic::Ordering::Relaxed);
    let op = operator(
        &a,
        &[
            "--watch-namespaces",
            &a.ns,
            "--stall-timeout",
            "30s",
            "--temporal-timeout",
            "10s",
        ],
    );
    worker_on(&a, &fake.url).await;
    feeds(&a, "same", 12, |_| "https://example.com/same.xml".into()).await;
    for _ in 0..60 {
        let (code, body) = op.get("/livez").await;
        assert_eq!(code, 200, "/livez failed: {body}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(fake.api.count("POST "), 1, "one feed for the URL");
    assert!(fake.api.count("PATCH ") <= 1, "no PATCH ping-pong");
    drop(op);
    a.delete_releasing_finalizers().await;
}
