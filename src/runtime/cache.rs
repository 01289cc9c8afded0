//! Results shared per key for a time, with concurrent askers waiting for the one fetch in
//! flight (task queue loads, schedule listings, buun-curator's feed lists), and locks per key.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// A result, when its fetch started and how long it took.
#[derive(Clone)]
struct Fetched<V, E> {
    at: Instant,
    took: Duration,
    result: Result<V, E>,
}

/// One key's last result, and how long the last fetch took. The result is readable while the
/// next fetch is in flight (it holds `fetching`, never `kept`).
struct Cell<V, E> {
    fetching: tokio::sync::Mutex<()>,
    kept: Mutex<Option<Fetched<V, E>>>,
    last_took_ms: AtomicU64,
}

impl<V, E> Default for Cell<V, E> {
    fn default() -> Self {
        Self {
            fetching: tokio::sync::Mutex::new(()),
            kept: Mutex::new(None),
            last_took_ms: AtomicU64::new(0),
        }
    }
}

impl<V, E> Cell<V, E> {
    /// How long the last completed fetch took (zero before the first).
    fn last_took(&self) -> Duration {
        Duration::from_millis(self.last_took_ms.load(Ordering::Relaxed))
    }
}

impl<V: Clone, E: Clone> Cell<V, E> {
    /// The last result (a copy: values are cheap handles, such as an `Arc`).
    fn last(&self) -> Option<Fetched<V, E>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `fetch` and keeps its result (the caller holds `fetching`); returns it.
    async fn refetch<Fut>(&self, fetch: impl FnOnce() -> Fut) -> Fetched<V, E>
    where
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let at = Instant::now();
        let result = fetch().await;
        let took = at.elapsed();
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.last_took_ms.store(ms, Ordering::Relaxed);
        let fetched = Fetched { at, took, result };
        *self.kept.lock().unwrap_or_else(|p| p.into_inner()) = Some(fetched.clone());
        fetched
    }
}

/// No fetch can start now (`otherwise` says why): `last`, the kept value, if it started at or
/// after `kept_since` and succeeded.
fn kept_or<V, E>(
    last: Option<Fetched<V, E>>,
    kept_since: Instant,
    otherwise: News<Result<V, E>>,
) -> News<Result<V, E>> {
    match last {
        Some(Fetched {
            at, result: Ok(v), ..
        }) if at >= kept_since => News::Kept(Ok(v)),
        _ => otherwise,
    }
}

type Slot<V, E> = Arc<Cell<V, E>>;

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
pub struct TtlCache<K, V, E> {
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

    /// How long the last fetch for `key` took (zero before the first), even while another is
    /// in flight.
    pub fn last_took(&self, key: &K) -> Duration
    where
        K: Eq + std::hash::Hash,
    {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get(key).map_or(Duration::ZERO, |c| c.last_took())
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Clone + Eq + std::hash::Hash, V: Clone, E: Clone> TtlCache<K, V, E> {
    /// The value for `key`, fetched with `fetch` unless a result younger than `max_age` exists.
    pub async fn get<F, Fut>(&self, key: &K, max_age: Duration, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        let _fetching = slot.fetching.lock().await;
        if let Some(f) = slot.last()
            && f.at.elapsed() < max_age
        {
            return f.result;
        }
        slot.refetch(fetch).await.result
    }

    /// The value for `key` as fetched at or after `since` (a fetch that started later); many
    /// callers waiting for news share one fetch per [`news_interval`] (at least `min_interval`,
    /// longer when fetches are slow), whatever their `since`. Only the caller that fetched
    /// sees a failure; the others are told to come back ([`News::TooSoon`]).
    /// Never waits for another caller's fetch ([`News::InFlight`] at once), so that callers who
    /// can come back later (a reconcile requeued) do not hold their place meanwhile; only the
    /// caller that fetches waits.
    /// When no fetch can start now (one is in flight, or the pace forbids one), a caller that
    /// can do with an older value gets the kept one if it started at or after `kept_since`
    /// ([`News::Kept`]); `kept_since == since` asks for news only.
    pub async fn get_since<F, Fut>(
        &self,
        key: &K,
        (since, kept_since): (Instant, Instant),
        min_interval: Duration,
        fetch: F,
    ) -> News<Result<V, E>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        let Ok(_fetching) = slot.fetching.try_lock() else {
            return kept_or(slot.last(), kept_since, News::InFlight(slot.last_took()));
        };
        if let Some(f) = slot.last() {
            // A failed fetch is no news; the next one, paced, may bring some.
            if f.at >= since && f.result.is_ok() {
                return News::Fresh(f.result);
            }
            let wait = news_interval(f.took, min_interval).saturating_sub(f.at.elapsed());
            if !wait.is_zero() {
                return kept_or(Some(f), kept_since, News::TooSoon(wait));
            }
        }
        let Fetched { at, took, result } = slot.refetch(fetch).await;
        if at >= since {
            News::Fresh(result)
        } else {
            News::TooSoon(news_interval(took, min_interval).saturating_sub(took))
        }
    }

    /// Keeps `value` as if fetched now (a value read elsewhere, to share it).
    pub async fn put(&self, key: &K, value: V) {
        let slot = self.slot(key);
        let _fetching = slot.fetching.lock().await;
        slot.refetch(|| async { Ok(value) }).await;
    }

    /// Changes a cached value in place (after a write the cache should reflect); nothing when
    /// there is no value for `key`.
    pub async fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        let slot = self.slot(key);
        let _fetching = slot.fetching.lock().await;
        let mut kept = slot.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Fetched { result: Ok(v), .. }) = kept.as_mut() {
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
                || s.fetching.try_lock().is_err()
                || s.kept
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_some_and(|f| f.at.elapsed() < keep_for)
        });
        slots.entry(key.clone()).or_default().clone()
    }
}

/// What [`TtlCache::get_since`] has for a caller waiting for news.
#[derive(Debug, PartialEq)]
pub enum News<T> {
    /// A result fetched after the caller's `since`.
    Fresh(T),
    /// Another caller is fetching now: its result comes later. How long the last fetch took
    /// (zero before the first), a hint of when to ask again.
    InFlight(Duration),
    /// Nothing new, and the last fetch is too recent for another: ask again after this long.
    TooSoon(Duration),
    /// No fetch could start now, and the kept value (a success) is recent enough for the
    /// caller.
    Kept(T),
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

    /// Waits for the lock of `key` for `wait` at most (`Err` after that: someone held it too
    /// long); it is released when the guard is dropped.
    pub async fn lock_within(
        &self,
        key: &str,
        wait: std::time::Duration,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>, tokio::time::error::Elapsed> {
        tokio::time::timeout(wait, self.lock(key)).await
    }
}

#[cfg(test)]
mod lock_tests {
    use super::KeyedLocks;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_lock_held_too_long_is_given_up_and_other_keys_never_wait() {
        let locks = KeyedLocks::default();
        let held = locks.lock("api https://e.com/feed").await;
        let wait = Duration::from_secs(15);
        assert!(
            locks
                .lock_within("api https://e.com/feed", wait)
                .await
                .is_err(),
            "held past the bound: given up"
        );
        assert!(
            locks
                .lock_within("api https://e.com/other", wait)
                .await
                .is_ok()
        );
        drop(held);
        assert!(
            locks
                .lock_within("api https://e.com/feed", wait)
                .await
                .is_ok()
        );
    }
}
