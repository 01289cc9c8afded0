//! One FeedSource holds a buun-curator feed, and only the operator's own record (a
//! cluster-scoped FeedClaim) decides what it may delete (issue 31, items 4 and 5): on a real
//! API server, with the real operator binary, a fake buun-curator API that counts every
//! request, and a real Temporal server.

mod common;

use std::time::Duration;

use common::{
    cluster::eventually,
    curator::{TOKEN, worker_on},
    namespace::{TestNamespace, WAIT, with_namespace},
    operator::{Operator, Options},
};
use curator_operator::{
    crd::{FeedSource, feedclaim::FeedClaim, feedsource::FeedDeletionPolicy},
    feed::normal,
    testing::curator_api::FakeCuratorApi,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

const URL: &str = "https://example.com/claims.xml";

/// A FeedSource `name` for feed URL `url` (no `feed.id`), or for feed `id`, whose feed is
/// deleted with it.
async fn feed(space: &TestNamespace<'_>, name: &str, url: &str, id: Option<&str>) {
    let mut f = FeedSource::test(&space.ns, name).unsaved();
    f.spec.feed.url = url.into();
    f.spec.feed.name = format!("{name}'s name for it");
    f.spec.feed.id = id.map(str::to_owned);
    f.spec.feed_deletion_policy = FeedDeletionPolicy::Delete;
    space
        .api::<FeedSource>()
        .create(&PostParams::default(), &f)
        .await
        .expect("feed source");
}

/// The reason and message of `name`'s `FeedRegistered` condition.
async fn registered(space: &TestNamespace<'_>, name: &str) -> Option<(String, String)> {
    let f = space.api::<FeedSource>().get(name).await.ok()?;
    let c = f.status?.conditions.find("FeedRegistered")?;
    Some((c.reason, c.message))
}

async fn wait_reason(space: &TestNamespace<'_>, name: &str, reason: &str) -> String {
    eventually(
        &format!("{name}: FeedRegistered {reason}"),
        WAIT,
        || async {
            registered(space, name)
                .await
                .is_some_and(|(r, _)| r == reason)
        },
    )
    .await;
    registered(space, name).await.expect("condition").1
}

async fn feed_id(space: &TestNamespace<'_>, name: &str) -> String {
    let f = space.wait_ready(name).await;
    f.status.and_then(|s| s.feed_id).expect("status.feedId")
}

async fn delete(space: &TestNamespace<'_>, name: &str) {
    let feeds = space.api::<FeedSource>();
    feeds
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete");
    eventually(&format!("{name} gone"), WAIT, || async {
        feeds.get_opt(name).await.expect("get").is_none()
    })
    .await;
}

fn operator(space: &TestNamespace<'_>, other: Option<&str>, extra: &[&str]) -> Operator {
    let watched = match other {
        Some(o) => format!("{},{o}", space.ns),
        None => space.ns.clone(),
    };
    let mut args = vec!["--watch-namespaces".to_owned(), watched];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    Operator::start(Options {
        kubeconfig: &space.cluster.kubeconfig,
        pod_name: "feed-claims",
        lease: None,
        args,
    })
}

/// Item 4: a second FeedSource of the same feed (here its URL spelled otherwise) writes nothing
/// and names the holder; another namespace's FeedSource cannot take the feed, by URL or by ID;
/// the creator's `Delete` policy leaves a feed someone waits for, which goes to that one; the
/// one that only adopted it never deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_feedsource_holds_a_feed_and_no_other_namespace_takes_it() {
    let Some(a) = with_namespace("claims-a").await else {
        return;
    };
    let b = TestNamespace::on(a.cluster, "claims-b").await;
    let fake = FakeCuratorApi::start(TOKEN).await;
    let op = operator(&a, Some(&b.ns), &[]);
    worker_on(&a, &fake.url).await;
    worker_on(&b, &fake.url).await;
    feed(&a, "hn", URL, None).await;
    let id = feed_id(&a, "hn").await;
    assert_eq!(fake.api.count("POST /api/feeds"), 1);

    // The same URL, spelled otherwise, in the same namespace: held, named, nothing written.
    feed(&a, "hn-copy", "https://Example.COM:443/claims.xml/", None).await;
    let message = wait_reason(&a, "hn-copy", "FeedHeld").await;
    assert!(message.contains(&format!("{}/hn", a.ns)), "{message}");
    // Another namespace, by URL and by ID.
    feed(&b, "by-url", URL, None).await;
    feed(&b, "by-id", "https://example.com/other.xml", Some(&id)).await;
    for name in ["by-url", "by-id"] {
        let message = wait_reason(&b, name, "FeedOfAnotherNamespace").await;
        assert!(message.contains(&a.ns), "{message}");
    }
    // Several reconciles of each have passed (a resync comes back at once after the first).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(fake.api.count("POST /api/feeds"), 1, "no second feed");
    assert_eq!(fake.api.count("PATCH "), 0, "no PATCH ping-pong");
    let copy = a.api::<FeedSource>().get("hn-copy").await.expect("copy");
    assert_eq!(
        copy.status.and_then(|s| s.schedule_id),
        None,
        "no second schedule ingests the feed"
    );

    // The creator goes: its Delete policy leaves the feed to the one waiting, which takes it.
    delete(&a, "hn").await;
    wait_reason(&a, "hn-copy", "Adopted").await;
    assert!(
        fake.api.feed(&id).is_some(),
        "a feed someone waits for is kept"
    );
    assert_eq!(fake.api.count("DELETE "), 0);
    eventually(
        "the new holder's spec written (one PATCH)",
        WAIT,
        || async { fake.api.count("PATCH ") == 1 },
    )
    .await;
    // The one that adopted it never deletes it; the feed stays namespace a's.
    delete(&a, "hn-copy").await;
    assert_eq!(
        fake.api.count("DELETE "),
        0,
        "only the creator deletes a feed"
    );
    let claims: Api<FeedClaim> = Api::all(a.client.clone());
    let claim = claims
        .list(&Default::default())
        .await
        .expect("claims")
        .items
        .into_iter()
        // Claims are cluster-wide, and other tests' fake APIs number their feeds alike.
        .find(|c| c.spec.feed_id == id && c.spec.api == normal::url(&fake.url))
        .expect("the feed's claim");
    assert_eq!(claim.spec.namespace, a.ns);
    assert_eq!(claim.spec.holder, None, "released");
    // Namespace b's FeedSources still write nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        registered(&b, "by-url").await.map(|r| r.0).as_deref(),
        Some("FeedOfAnotherNamespace")
    );
    assert_eq!(fake.api.count("PATCH "), 1);
    drop(op);
    claims
        .delete(&claim.name_any(), &DeleteParams::default())
        .await
        .expect("delete claim");
    b.delete_releasing_finalizers().await;
    a.delete_releasing_finalizers().await;
}

/// Item 4, the operator's setting: with `--allow-cross-namespace-adoption`, another namespace
/// may take a released feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespace_takes_a_released_feed_only_where_the_operator_allows_it() {
    let Some(a) = with_namespace("claims-cross-a").await else {
        return;
    };
    let b = TestNamespace::on(a.cluster, "claims-cross-b").await;
    let fake = FakeCuratorApi::start(TOKEN).await;
    let op = operator(&a, Some(&b.ns), &["--allow-cross-namespace-adoption"]);
    worker_on(&a, &fake.url).await;
    worker_on(&b, &fake.url).await;
    let url = "https://example.com/cross.xml";
    feed(&a, "mine", url, None).await;
    let id = feed_id(&a, "mine").await;
    feed(&b, "theirs", url, None).await;
    wait_reason(&b, "theirs", "FeedHeld").await;
    delete(&a, "mine").await;
    wait_reason(&b, "theirs", "Adopted").await;
    assert_eq!(fake.api.count("DELETE "), 0, "b waited for it: kept");
    assert_eq!(feed_id(&b, "theirs").await, id);
    drop(op);
    b.delete_releasing_finalizers().await;
    a.delete_releasing_finalizers().await;
}

/// Item 5: a status forged to name another's feed (`feedId`, `feedCreated`) neither writes to
/// nor deletes that feed; the FeedSource's own feed, which the operator created for it, is the
/// only one its `Delete` policy deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_status_never_writes_to_or_deletes_another_feed() {
    let Some(a) = with_namespace("claims-forge").await else {
        return;
    };
    let fake = FakeCuratorApi::start(TOKEN).await;
    let op = operator(&a, None, &[]);
    worker_on(&a, &fake.url).await;
    feed(&a, "victim", "https://example.com/victim.xml", None).await;
    feed(&a, "forger", "https://example.com/forger.xml", None).await;
    let victim = feed_id(&a, "victim").await;
    let own = feed_id(&a, "forger").await;
    assert_eq!(fake.api.count("POST /api/feeds"), 2);
    // Settled: the follow-up after the create (next runs) has written its status too.
    eventually("forger's next runs recorded", WAIT, || async {
        let f = a.api::<FeedSource>().get("forger").await.expect("get");
        f.status.is_some_and(|s| !s.next_runs.is_empty())
    })
    .await;
    // Someone with feedsources/status rights points the forger at the victim's feed.
    let forged = json!({"status": {"feedId": victim, "feedCreated": true}});
    a.api::<FeedSource>()
        .patch_status("forger", &PatchParams::default(), &Patch::Merge(&forged))
        .await
        .expect("status patch");
    // A reconcile on the forged status (a spec change brings one at once).
    let touch = json!({"spec": {"feed": {"name": "forger, renamed"}}});
    a.api::<FeedSource>()
        .patch("forger", &PatchParams::default(), &Patch::Merge(&touch))
        .await
        .expect("spec patch");
    wait_reason(&a, "forger", "FeedHeld").await;
    assert_eq!(
        fake.api.count(&format!("PATCH /api/feeds/{victim}")),
        0,
        "the victim's feed was written through a forged status"
    );
    delete(&a, "forger").await;
    assert_eq!(
        fake.api.count(&format!("DELETE /api/feeds/{victim}")),
        0,
        "the victim's feed was deleted through a forged status"
    );
    assert!(fake.api.feed(&victim).is_some());
    assert_eq!(
        fake.api.count(&format!("DELETE /api/feeds/{own}")),
        1,
        "its own feed, created for it, is deleted: {}",
        op.log()
    );
    drop(op);
    a.delete_releasing_finalizers().await;
}
