//! Tests of the shared caches.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn key(q: &str) -> QueueKey {
    QueueKey {
        address: "t:7233".into(),
        namespace: "default".into(),
        task_queue: q.into(),
        creds: String::new(),
    }
}

#[tokio::test]
async fn results_nobody_fetches_any_more_are_dropped() {
    let cache = LoadCache::evicting_after(Duration::from_millis(50));
    let fetch = || async {
        Ok(QueueLoad {
            backlog: 0,
            running: 0,
        })
    };
    for q in ["gone-1", "gone-2", "kept"] {
        cache
            .get(&key(q), Duration::from_secs(60), fetch)
            .await
            .ok();
    }
    assert_eq!(cache.len(), 3);
    tokio::time::sleep(Duration::from_millis(80)).await;
    cache.get(&key("kept"), Duration::ZERO, fetch).await.ok();
    assert_eq!(cache.len(), 1, "only the key in use is left");
}

#[tokio::test]
async fn polls_once_per_queue_per_interval() {
    let cache = LoadCache::default();
    let polls = AtomicU32::new(0);
    let fetch = || async {
        polls.fetch_add(1, Ordering::SeqCst);
        Ok(QueueLoad {
            backlog: 3,
            running: 1,
        })
    };
    for _ in 0..100 {
        let l = cache.get(&key("a"), Duration::from_secs(60), fetch).await;
        assert_eq!(l.expect("load").backlog, 3);
    }
    for _ in 0..100 {
        cache
            .get(&key("b"), Duration::from_secs(60), fetch)
            .await
            .expect("load");
    }
    assert_eq!(
        polls.load(Ordering::SeqCst),
        2,
        "100 workers on each of 2 queues: 2 polls"
    );
    cache
        .get(&key("a"), Duration::ZERO, fetch)
        .await
        .expect("load");
    assert_eq!(
        polls.load(Ordering::SeqCst),
        3,
        "an expired entry polls again"
    );
}

#[tokio::test]
async fn waiters_for_news_share_one_fetch_per_interval() {
    let cache = LoadCache::default();
    let polls = AtomicU32::new(0);
    let fetch = || async {
        let n = polls.fetch_add(1, Ordering::SeqCst);
        Ok(QueueLoad {
            backlog: i64::from(n),
            running: 0,
        })
    };
    let before = Instant::now();
    let first = cache
        .get_since(&key("a"), (before, before), Duration::from_secs(60), fetch)
        .await;
    let backlog = |n: News<Result<QueueLoad, TemporalError>>| match n {
        News::Fresh(r) => Some(r.expect("load").backlog),
        _ => None,
    };
    assert_eq!(backlog(first), Some(0));
    // Already fetched after `before`: served without a fetch.
    let again = cache
        .get_since(&key("a"), (before, before), Duration::from_secs(60), fetch)
        .await;
    assert_eq!(backlog(again), Some(0));
    // News after the last fetch: not yet, within the interval.
    let later = Instant::now();
    assert_eq!(
        backlog(
            cache
                .get_since(&key("a"), (later, later), Duration::from_secs(60), fetch)
                .await
        ),
        None
    );
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    // Once the interval has passed, one fetch serves it.
    assert!(matches!(
        cache
            .get_since(&key("a"), (later, later), Duration::from_secs(60), fetch)
            .await,
        News::TooSoon(w) if w > Duration::from_secs(59) && w <= Duration::from_secs(60)
    ));
    let fresh = cache
        .get_since(&key("a"), (later, later), Duration::ZERO, fetch)
        .await;
    assert_eq!(backlog(fresh), Some(1));
    assert_eq!(polls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_fetch_is_no_news_for_the_other_waiters() {
    let cache = LoadCache::default();
    let since = Instant::now();
    let failed = cache
        .get_since(
            &key("a"),
            (since, since),
            Duration::from_secs(60),
            || async { Err(TemporalError::Timeout("ListSchedules")) },
        )
        .await;
    assert!(matches!(failed, News::Fresh(Err(_))), "the fetcher sees it");
    let other = cache
        .get_since(
            &key("a"),
            (since, since),
            Duration::from_secs(60),
            || async { panic!("paced: no second fetch within the interval") },
        )
        .await;
    assert!(matches!(other, News::TooSoon(_)), "{other:?}");
}

#[test]
fn slow_fetches_for_news_are_spaced_out() {
    let s = Duration::from_secs;
    assert_eq!(news_interval(Duration::from_millis(100), s(1)), s(1));
    assert_eq!(news_interval(s(12), s(1)), s(60), "a fifth of the time");
    assert_eq!(news_interval(s(150), s(1)), NEWS_PACE_MAX);
    assert_eq!(news_interval(s(150), s(900)), s(900));
}

#[tokio::test]
async fn waiters_do_not_wait_for_a_fetch_in_flight_and_learn_how_long_it_may_take() {
    let cache = Arc::new(LoadCache::default());
    let load = QueueLoad {
        backlog: 1,
        running: 0,
    };
    cache
        .get(&key("a"), Duration::ZERO, || async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(load)
        })
        .await
        .expect("load");
    assert!(cache.last_took(&key("a")) >= Duration::from_millis(30));
    assert_eq!(cache.last_took(&key("b")), Duration::ZERO, "never fetched");
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let slow = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get(&key("a"), Duration::ZERO, || async {
                    let _ = released.await;
                    Ok(load)
                })
                .await
        }
    });
    tokio::task::yield_now().await;
    let asked = tokio::time::timeout(
        Duration::from_secs(1),
        cache.get_since(
            &key("a"),
            news_only(Instant::now()),
            Duration::ZERO,
            || async { panic!("a second fetch while one is in flight") },
        ),
    )
    .await
    .expect("answers at once, without waiting for the fetch in flight");
    assert!(
        matches!(asked, News::InFlight(d) if d >= Duration::from_millis(30)),
        "not yet, with the last fetch's duration as a hint of when to come back: {asked:?}"
    );
    let _ = release.send(());
    assert_eq!(slow.await.expect("join").expect("load"), load);
}

/// `get_since`'s times for a caller that wants news only.
fn news_only(since: Instant) -> (Instant, Instant) {
    (since, since)
}

#[tokio::test]
async fn a_caller_that_can_do_with_an_older_value_gets_the_kept_one_while_no_fetch_may_start() {
    let cache = Arc::new(LoadCache::default());
    let load = |backlog| QueueLoad {
        backlog,
        running: 0,
    };
    let long_ago = Instant::now();
    let first = cache
        .get_since(&key("a"), news_only(long_ago), Duration::ZERO, || async {
            Ok(load(1))
        })
        .await;
    assert!(
        matches!(first, News::Fresh(Ok(l)) if l == load(1)),
        "{first:?}"
    );
    let now = Instant::now();
    // The pace forbids a fetch: the kept value for a caller that accepts it, not for another.
    let paced = cache
        .get_since(
            &key("a"),
            (now, long_ago),
            Duration::from_secs(60),
            || async { panic!("paced") },
        )
        .await;
    assert!(
        matches!(paced, News::Kept(Ok(l)) if l == load(1)),
        "{paced:?}"
    );
    let too_old = cache
        .get_since(&key("a"), (now, now), Duration::from_secs(60), || async {
            panic!("paced")
        })
        .await;
    assert!(matches!(too_old, News::TooSoon(_)), "{too_old:?}");
    // A fetch in flight: the kept value again, at once.
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let fetcher = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_since(
                    &key("a"),
                    news_only(Instant::now()),
                    Duration::ZERO,
                    || async {
                        let _ = released.await;
                        Ok(load(2))
                    },
                )
                .await
        }
    });
    tokio::task::yield_now().await;
    let during = cache
        .get_since(
            &key("a"),
            (Instant::now(), long_ago),
            Duration::ZERO,
            || async { panic!("in flight") },
        )
        .await;
    assert!(
        matches!(during, News::Kept(Ok(l)) if l == load(1)),
        "the one before, not a wait: {during:?}"
    );
    let _ = release.send(());
    let fetched = fetcher.await.expect("join");
    assert!(
        matches!(fetched, News::Fresh(Ok(l)) if l == load(2)),
        "{fetched:?}"
    );
}
