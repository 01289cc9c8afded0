//! Results shared per key for a time, with concurrent askers waiting for the one fetch in
//! flight: task queue loads (one poll per distinct queue per interval, however many workers
//! share it), schedule listings (one paged listing per Temporal namespace per interval) and
//! buun-curator's feed list (one per API and token per interval). And locks per key.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    curator_api::{ApiError, FeedRow},
    temporal::{TemporalError, queue::QueueLoad},
};

/// Identifies a task queue as seen with some credentials (a tenant's cached result is never
/// another's).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueKey {
    /// Frontend address.
    pub address: String,
    /// Temporal namespace.
    pub namespace: String,
    /// Task queue.
    pub task_queue: String,
    /// Digest of the credentials (`Credentials::tag`).
    pub creds: String,
}

/// A Temporal namespace as seen with some credentials: frontend address, namespace, digest of
/// the credentials.
pub type NamespaceKey = (String, String, String);

/// A result, when its fetch started and how long it took.
struct Fetched<V, E> {
    at: Instant,
    took: Duration,
    result: Result<V, E>,
}

type Slot<V, E> = Arc<tokio::sync::Mutex<Option<Fetched<V, E>>>>;

/// A fetch for news starts no sooner than this many times the last fetch's duration after that
/// one started: fetching takes at most a fifth of the time, however slow the source has become
/// (a listing of thousands of schedules on a loaded server takes minutes, and competes with
/// the creates it reports on).
pub const NEWS_PACE: u32 = 5;
/// The longest wait [`NEWS_PACE`] imposes between two fetches for news.
pub const NEWS_PACE_MAX: Duration = Duration::from_secs(300);

/// PURE: how long after a fetch that started at `at` and took `took` the next fetch for news
/// may start: `min_interval`, or [`NEWS_PACE`] times `took` (at most [`NEWS_PACE_MAX`]) when
/// that is longer.
pub fn news_interval(took: Duration, min_interval: Duration) -> Duration {
    took.saturating_mul(NEWS_PACE)
        .min(NEWS_PACE_MAX)
        .max(min_interval)
}

/// Results nobody fetched for this long are dropped (a deleted worker's queue, a rotated
/// credential's listing), so the cache stays as large as what is in use.
pub const EVICT_AFTER: Duration = Duration::from_secs(3600);

/// A cache of fetch results (values or errors `E`) by key.
pub struct TtlCache<K, V, E = TemporalError> {
    slots: Mutex<HashMap<K, Slot<V, E>>>,
    evict_after: Duration,
}

impl<K, V, E> Default for TtlCache<K, V, E> {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
            evict_after: EVICT_AFTER,
        }
    }
}

impl<K, V, E> TtlCache<K, V, E> {
    /// A cache that drops results not fetched for `after` (default [`EVICT_AFTER`]).
    pub fn evicting_after(after: Duration) -> Self {
        Self {
            slots: Mutex::default(),
            evict_after: after,
        }
    }

    /// How many keys the cache holds.
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Task queue loads by queue.
pub type LoadCache = TtlCache<QueueKey, QueueLoad>;

/// Schedule listings by Temporal namespace and credentials.
pub type ListCache = TtlCache<NamespaceKey, Arc<HashMap<String, crate::temporal::Listed>>>;

/// buun-curator's feeds by API (base URL and token digest).
pub type FeedCache = TtlCache<String, Arc<Vec<FeedRow>>, ApiError>;

impl<K: Clone + Eq + std::hash::Hash, V: Clone, E: Clone> TtlCache<K, V, E> {
    /// The value for `key`, fetched with `fetch` unless a result younger than `max_age` exists.
    pub async fn get<F, Fut>(&self, key: &K, max_age: Duration, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        let mut guard = slot.lock().await;
        if let Some(f) = guard.as_ref()
            && f.at.elapsed() < max_age
        {
            return f.result.clone();
        }
        let at = Instant::now();
        let result = fetch().await;
        *guard = Some(Fetched {
            at,
            took: at.elapsed(),
            result: result.clone(),
        });
        result
    }

    /// The value for `key` as fetched at or after `since` (a fetch that started later); many
    /// callers waiting for news share one fetch per [`news_interval`] (at least `min_interval`,
    /// longer when fetches are slow), whatever their `since`. Only the caller that fetched
    /// sees a failure; the others are told to come back ([`News::TooSoon`]).
    /// Never waits for another caller's fetch ([`News::InFlight`] at once), so that callers who
    /// can come back later (a reconcile requeued) do not hold their place meanwhile; only the
    /// caller that fetches waits.
    pub async fn get_since<F, Fut>(
        &self,
        key: &K,
        since: Instant,
        min_interval: Duration,
        fetch: F,
    ) -> News<Result<V, E>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        let Ok(mut guard) = slot.try_lock() else {
            return News::InFlight;
        };
        if let Some(f) = guard.as_ref() {
            // A failed fetch is no news; the next one, paced, may bring some.
            if f.at >= since && f.result.is_ok() {
                return News::Fresh(f.result.clone());
            }
            let wait = news_interval(f.took, min_interval).saturating_sub(f.at.elapsed());
            if !wait.is_zero() {
                return News::TooSoon(wait);
            }
        }
        let at = Instant::now();
        let result = fetch().await;
        let took = at.elapsed();
        *guard = Some(Fetched {
            at,
            took,
            result: result.clone(),
        });
        if at >= since {
            News::Fresh(result)
        } else {
            News::TooSoon(news_interval(took, min_interval).saturating_sub(took))
        }
    }

    /// Changes a cached value in place (after a write the cache should reflect); nothing when
    /// there is no value for `key`.
    pub async fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        let slot = self.slot(key);
        let mut guard = slot.lock().await;
        if let Some(Fetched { result: Ok(v), .. }) = guard.as_mut() {
            change(v);
        }
    }

    fn slot(&self, key: &K) -> Slot<V, E> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let keep_for = self.evict_after;
        // Keep what someone uses now (or fetches: its lock is held) and what was fetched
        // recently; drop the rest.
        slots.retain(|k, s| {
            k == key
                || Arc::strong_count(s) > 1
                || s.try_lock().map_or(true, |g| {
                    g.as_ref().is_some_and(|f| f.at.elapsed() < keep_for)
                })
        });
        slots.entry(key.clone()).or_default().clone()
    }
}

/// What [`TtlCache::get_since`] has for a caller waiting for news.
#[derive(Debug, PartialEq)]
pub enum News<T> {
    /// A result fetched after the caller's `since`.
    Fresh(T),
    /// Another caller is fetching now: its result comes later.
    InFlight,
    /// Nothing new, and the last fetch is too recent for another: ask again after this long.
    TooSoon(Duration),
}

/// One async lock per key, so that work on one key (say, a feed URL) never runs twice at once.
#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// Waits for the lock of `key`; it is released when the guard is dropped.
    pub async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut m = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            // Forget locks nobody holds or waits for, so the map stays as small as the work.
            m.retain(|_, l| Arc::strong_count(l) > 1);
            m.entry(key.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

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
            .get_since(&key("a"), before, Duration::from_secs(60), fetch)
            .await;
        let backlog = |n: News<Result<QueueLoad, TemporalError>>| match n {
            News::Fresh(r) => Some(r.expect("load").backlog),
            _ => None,
        };
        assert_eq!(backlog(first), Some(0));
        // Already fetched after `before`: served without a fetch.
        let again = cache
            .get_since(&key("a"), before, Duration::from_secs(60), fetch)
            .await;
        assert_eq!(backlog(again), Some(0));
        // News after the last fetch: not yet, within the interval.
        let later = Instant::now();
        assert_eq!(
            backlog(
                cache
                    .get_since(&key("a"), later, Duration::from_secs(60), fetch)
                    .await
            ),
            None
        );
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        // Once the interval has passed, one fetch serves it.
        assert!(matches!(
            cache
                .get_since(&key("a"), later, Duration::from_secs(60), fetch)
                .await,
            News::TooSoon(w) if w > Duration::from_secs(59) && w <= Duration::from_secs(60)
        ));
        let fresh = cache
            .get_since(&key("a"), later, Duration::ZERO, fetch)
            .await;
        assert_eq!(backlog(fresh), Some(1));
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_no_news_for_the_other_waiters() {
        let cache = LoadCache::default();
        let since = Instant::now();
        let failed = cache
            .get_since(&key("a"), since, Duration::from_secs(60), || async {
                Err(TemporalError::Timeout("ListSchedules"))
            })
            .await;
        assert!(matches!(failed, News::Fresh(Err(_))), "the fetcher sees it");
        let other = cache
            .get_since(&key("a"), since, Duration::from_secs(60), || async {
                panic!("paced: no second fetch within the interval")
            })
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
    async fn waiters_for_news_do_not_wait_for_a_fetch_in_flight() {
        let cache = Arc::new(LoadCache::default());
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let slow = tokio::spawn({
            let cache = cache.clone();
            async move {
                cache
                    .get(&key("a"), Duration::ZERO, || async {
                        let _ = released.await;
                        Ok(QueueLoad {
                            backlog: 7,
                            running: 0,
                        })
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        let since = Instant::now();
        let asked = tokio::time::timeout(
            Duration::from_secs(1),
            cache.get_since(&key("a"), since, Duration::ZERO, || async {
                panic!("a second fetch while one is in flight")
            }),
        )
        .await
        .expect("answers at once");
        assert!(
            matches!(asked, News::InFlight),
            "not yet: the fetch in flight answers later"
        );
        let _ = release.send(());
        assert_eq!(slow.await.expect("join").expect("load").backlog, 7);
    }
}
