//! One poll per distinct (frontend, namespace, task queue) per interval, shared by every
//! CuratorWorker on that queue; concurrent askers wait for the one poll in flight.

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

type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Result<QueueLoad, TemporalError>)>>>;

/// The cache.
#[derive(Default)]
pub struct LoadCache {
    slots: Mutex<HashMap<QueueKey, Slot>>,
}

impl LoadCache {
    /// The queue's load, polled with `fetch` unless a result younger than `max_age` exists.
    pub async fn get<F, Fut>(
        &self,
        key: &QueueKey,
        max_age: Duration,
        fetch: F,
    ) -> Result<QueueLoad, TemporalError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<QueueLoad, TemporalError>>,
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
