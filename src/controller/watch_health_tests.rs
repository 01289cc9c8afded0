use super::*;
use futures::stream;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::core::Status;

const CRD: &str = "feedsources.curator.buun.dev";

fn api(code: u16, reason: &str, message: &str) -> watcher::Error {
    watcher::Error::InitialListFailed(kube::Error::Api(
        Status::failure(message, reason).with_code(code).boxed(),
    ))
}

fn not_found() -> watcher::Error {
    api(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn spec(kind: &'static str, crd: Option<&str>, cache: bool) -> WatchSpec {
    WatchSpec {
        kind,
        crd: crd.map(str::to_owned),
        scope: None,
        cache,
    }
}

type Item = Result<watcher::Event<ConfigMap>, watcher::Error>;

/// Runs `items` through a tracked watch (without the retry delays) and returns what passed.
async fn run(health: &Arc<WatchHealth>, spec: WatchSpec, items: Vec<Item>) -> Vec<Item> {
    health
        .track(spec, Arc::default(), stream::iter(items))
        .collect()
        .await
}

#[test]
fn failures_are_classified_for_the_metric() {
    assert_eq!(classify(&not_found()), ("NotFound".into(), true));
    assert_eq!(
        classify(&api(403, "Forbidden", "no")),
        ("Forbidden".into(), false)
    );
    assert_eq!(
        classify(&api(410, "Expired", "old")),
        ("Expired".into(), false)
    );
    assert_eq!(classify(&api(500, "", "boom")), ("Http500".into(), false));
    assert_eq!(
        classify(&watcher::Error::NoResourceVersion),
        ("NoResourceVersion".into(), false)
    );
    assert_eq!(
        describe(&api(403, "Forbidden", "feedsources is forbidden")),
        "feedsources is forbidden"
    );
}

#[tokio::test]
async fn a_missing_crd_is_reported_and_does_not_hold_readiness() {
    let h = Arc::new(Health::default());
    let metrics = Arc::new(Metrics::default());
    let wh = WatchHealth::new(h.clone(), metrics.clone());
    let passed = run(
        &wh,
        spec("FeedSource", Some(CRD), true),
        vec![Ok(watcher::Event::Init), Err(not_found()), Err(not_found())],
    )
    .await;
    assert_eq!(passed.len(), 1, "errors never reach the controller");
    let r = h.controllers();
    assert!(r.synced, "a missing CRD does not hold readiness");
    assert_eq!(
        r.notes,
        vec![format!(
            "CRD {CRD} is not installed: the FeedSource controller waits for it"
        )]
    );
    let text = metrics.encode();
    assert!(text.contains(&format!("curator_crd_installed{{crd=\"{CRD}\"}} 0")));
    assert!(text.contains("curator_watch_errors_total{kind=\"FeedSource\",reason=\"NotFound\"} 2"));
}

#[tokio::test]
async fn a_cache_is_synced_after_its_first_full_list_and_the_crd_counts_as_installed() {
    let h = Arc::new(Health::default());
    let metrics = Arc::new(Metrics::default());
    let wh = WatchHealth::new(h.clone(), metrics.clone());
    let _ = run(
        &wh,
        spec("FeedSource", Some(CRD), true),
        vec![Err(not_found())],
    )
    .await;
    let _ = run(
        &wh,
        spec("CuratorWorker", None, true),
        vec![Ok(watcher::Event::Init)],
    )
    .await;
    let r = h.controllers();
    assert!(!r.synced, "the second cache has no full list yet");
    assert!(
        r.notes
            .contains(&"CuratorWorker cache (all namespaces): first list in progress".into()),
        "{r:?}"
    );
    // The first watch's CRD appears: its next list succeeds.
    let _ = run(
        &wh,
        spec("FeedSource", Some(CRD), true),
        vec![Ok(watcher::Event::Init), Ok(watcher::Event::InitDone)],
    )
    .await;
    assert!(
        metrics
            .encode()
            .contains(&format!("curator_crd_installed{{crd=\"{CRD}\"}} 1"))
    );
    let r = h.controllers();
    assert!(
        !r.notes.iter().any(|n| n.contains("not installed")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_failing_watch_is_noted_until_it_resumes() {
    let h = Arc::new(Health::default());
    let wh = WatchHealth::new(h.clone(), Arc::default());
    let forbidden = || api(403, "Forbidden", "feedsources is forbidden");
    let _ = run(
        &wh,
        spec("FeedSource", Some(CRD), true),
        vec![Err(forbidden()), Err(forbidden())],
    )
    .await;
    let r = h.controllers();
    assert!(!r.synced);
    assert_eq!(
        r.notes,
        vec!["FeedSource cache (all namespaces): Forbidden: feedsources is forbidden".to_owned()]
    );
    let wh2 = WatchHealth::new(h.clone(), Arc::default());
    let _ = run(
        &wh2,
        spec("Deployment", None, false),
        vec![Err(forbidden()), Ok(watcher::Event::InitDone)],
    )
    .await;
    assert_eq!(
        h.controllers(),
        ControllerReport {
            synced: true,
            notes: vec![]
        }
    );
}

#[test]
fn the_retry_delay_grows_until_an_answer_resets_it() {
    let attempts = Arc::new(AtomicU32::new(0));
    let mut b = WatchBackoff {
        attempts: attempts.clone(),
    };
    let delays: Vec<Duration> = (0..8).filter_map(|_| b.next()).collect();
    assert!(delays[0] <= RETRY_BASE.mul_f64(1.2));
    assert!(delays[3] >= RETRY_BASE * 8 * 8 / 10);
    assert!(delays[7] <= RETRY_CAP && delays[7] >= RETRY_CAP.mul_f64(0.8));
    // kube-runtime resets the backoff on every Ok, including the `Init` of each retry: ignored.
    b.reset();
    assert!(b.next().is_some_and(|d| d >= RETRY_CAP.mul_f64(0.8)));
    attempts.store(0, Ordering::Relaxed);
    assert!(b.next().is_some_and(|d| d <= RETRY_BASE.mul_f64(1.2)));
}
