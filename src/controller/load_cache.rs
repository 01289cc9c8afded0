//! Results shared per key for a time, with concurrent askers waiting for the one fetch in
//! flight: task queue loads (one poll per distinct queue per interval, however many workers
//! share it) and schedule listings (one paged listing per Temporal namespace per interval).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{scaling::QueueLoad, temporal::TemporalError};

/// Identifies a task queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueKey {
    /// Frontend address.
    pub address: String,
    /// Temporal namespace.
    pub namespace: String,
    /// Task queue.
    pub task_queue: String,
}

type Slot<V> = Arc<tokio::sync::Mutex<Option<(Instant, Result<V, TemporalError>)>>>;

/// A cache of fetch results by key.
pub struct TtlCache<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
        }
    }
}

/// Task queue loads by queue.
pub type LoadCache = TtlCache<QueueKey, QueueLoad>;

/// Schedule listings by (frontend address, Temporal namespace).
pub type ListCache = TtlCache<(String, String), Arc<HashMap<String, crate::temporal::Listed>>>;

impl<K: Clone + Eq + std::hash::Hash, V: Clone> TtlCache<K, V> {
    /// The value for `key`, fetched with `fetch` unless a result younger than `max_age` exists.
    pub async fn get<F, Fut>(
        &self,
        key: &K,
        max_age: Duration,
        fetch: F,
    ) -> Result<V, TemporalError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, TemporalError>>,
    {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let mut guard = slot.lock().await;
        if let Some((at, result)) = guard.as_ref()
            && at.elapsed() < max_age
        {
            return result.clone();
        }
        let result = fetch().await;
        *guard = Some((Instant::now(), result.clone()));
        result
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
        }
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
}
