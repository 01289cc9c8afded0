//! The end of the controllers: once stopping, no reconcile starts, and the shutdown waits for
//! the reconciles in flight, and only for them.
//!
//! kube-runtime's graceful shutdown alone does not end a controller whose cache never synced
//! (its runner waits for the cache before it looks at anything else), so the shutdown cannot
//! simply wait for the controllers: it waits until nothing is in flight, then drops them.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use kube::runtime::controller::Action;
use tokio::{sync::watch, time::Instant};

use crate::{
    http::Progress,
    metrics::{Kind, Metrics},
    runtime::fair::{self, FairShare},
};

/// Reconciles in flight, and whether new ones may start.
pub struct Drain {
    stopping: AtomicBool,
    in_flight: watch::Sender<usize>,
    metrics: Arc<Metrics>,
    /// When each reconcile in flight started, and of what (for `/livez`).
    started: Mutex<HashMap<u64, (Instant, &'static str, String)>>,
    next_id: AtomicU64,
    /// Each namespace's share of the reconcile slots.
    fair: Option<Arc<FairShare>>,
}

impl Drain {
    /// Nothing in flight, not stopping; `curator_reconciles_in_flight` goes to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Self::build(metrics, None)
    }

    /// The same, with `slots` reconciles per kind shared fairly between namespaces
    /// ([`FairShare`]): a reconcile over its namespace's share while others want slots is put
    /// off ([`fair::DEFER`]) and counted in `curator_reconciles_deferred_total`.
    pub fn with_slots(metrics: Arc<Metrics>, slots: usize) -> Arc<Self> {
        Self::build(metrics, Some(FairShare::new(slots)))
    }

    fn build(metrics: Arc<Metrics>, fair: Option<Arc<FairShare>>) -> Arc<Self> {
        Arc::new(Self {
            stopping: AtomicBool::new(false),
            in_flight: watch::Sender::new(0),
            metrics,
            started: Mutex::default(),
            next_id: AtomicU64::new(0),
            fair,
        })
    }

    /// Wraps one reconcile of `object` (`namespace/name`) of a `kind`: counted from now until it
    /// ends or is dropped; once stopping, it does nothing and asks for nothing more.
    pub fn reconcile<F, E>(
        self: &Arc<Self>,
        kind: &'static str,
        object: String,
        reconcile: F,
    ) -> impl Future<Output = Result<Action, E>> + Send + 'static + use<F, E>
    where
        F: Future<Output = Result<Action, E>> + Send + 'static,
        E: Send + 'static,
    {
        let stopping = self.stopping.load(Ordering::Acquire);
        let ns = object.split('/').next().unwrap_or_default();
        let slot = match (&self.fair, stopping) {
            (Some(fair), false) => fair.enter(kind, ns, std::time::Instant::now()).map(Some),
            _ => Some(None),
        };
        if slot.is_none() {
            let kind = Kind { kind: kind.into() };
            self.metrics.reconciles_deferred.get_or_create(&kind).inc();
        }
        let guard = (!stopping && slot.is_some()).then(|| InFlight::enter(self, kind, object));
        async move {
            match (guard, slot) {
                (Some(_guard), Some(_slot)) => reconcile.await,
                // Over its namespace's share: back in a moment, nothing done.
                (None, None) => Ok(Action::requeue(fair::DEFER)),
                _ => Ok(Action::await_change()),
            }
        }
    }

    /// No reconcile starts from now on.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Reconciles running now.
    pub fn in_flight(&self) -> usize {
        *self.in_flight.borrow()
    }

    /// The reconcile that has been running longest: how long, its kind and object.
    pub fn oldest(&self) -> Option<(Duration, &'static str, String)> {
        let started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        started
            .values()
            .min_by_key(|(at, _, _)| *at)
            .map(|(at, kind, object)| (at.elapsed(), *kind, object.clone()))
    }

    /// Resolves when no reconcile is running.
    pub async fn idle(&self) {
        let mut rx = self.in_flight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// One reconcile in flight; dropping it (when the reconcile ends or is cancelled) counts it out.
struct InFlight {
    drain: Arc<Drain>,
    kind: Kind,
    id: u64,
}

impl InFlight {
    fn enter(drain: &Arc<Drain>, kind: &'static str, object: String) -> Self {
        drain.in_flight.send_modify(|n| *n += 1);
        let id = drain.next_id.fetch_add(1, Ordering::Relaxed);
        drain
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (Instant::now(), kind, object));
        let kind = Kind { kind: kind.into() };
        drain.metrics.in_flight.get_or_create(&kind).inc();
        Self {
            drain: drain.clone(),
            kind,
            id,
        }
    }
}

impl Progress for Drain {
    fn stalled(&self, limit: Duration) -> Option<String> {
        let (took, kind, object) = self.oldest().filter(|(took, _, _)| *took > limit)?;
        Some(format!(
            "the reconcile of {kind} {object} has been running for {:.1}s (limit {}s)",
            took.as_secs_f64(),
            limit.as_secs_f64()
        ))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.drain
            .in_flight
            .send_modify(|n| *n = n.saturating_sub(1));
        self.drain
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        self.drain.metrics.in_flight.get_or_create(&self.kind).dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn counts_reconciles_and_starts_none_once_stopping() {
        let metrics = Arc::new(Metrics::default());
        let drain = Drain::new(metrics.clone());
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(drain.reconcile("FeedSource", "ns/a".into(), async {
            let _ = released.await;
            Ok::<_, std::convert::Infallible>(Action::requeue(Duration::from_secs(1)))
        }));
        assert_eq!(drain.in_flight(), 1, "counted from the moment it is made");
        assert!(
            metrics
                .encode()
                .contains("curator_reconciles_in_flight{kind=\"FeedSource\"} 1")
        );
        drain.stop();
        let skipped = drain
            .reconcile("FeedSource", "ns/b".into(), async {
                panic!("a reconcile ran after stop");
                #[allow(unreachable_code)]
                Ok::<_, std::convert::Infallible>(Action::await_change())
            })
            .await;
        assert_eq!(skipped.ok(), Some(Action::await_change()));
        let idle = tokio::spawn({
            let d = drain.clone();
            async move { d.idle().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!idle.is_finished(), "one reconcile is still in flight");
        let _ = release.send(());
        let done = running.await.expect("join");
        assert_eq!(done.ok(), Some(Action::requeue(Duration::from_secs(1))));
        tokio::time::timeout(Duration::from_secs(1), idle)
            .await
            .expect("idle once it ended")
            .expect("join");
        assert_eq!(drain.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_reconcile_is_counted_out() {
        let drain = Drain::new(Arc::default());
        let pending = drain.reconcile("CuratorWorker", "ns/w".into(), async {
            std::future::pending::<Result<Action, std::convert::Infallible>>().await
        });
        assert_eq!(drain.in_flight(), 1);
        drop(pending);
        assert_eq!(drain.in_flight(), 0);
        assert!(drain.oldest().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconcile_running_past_the_limit_is_a_stall() {
        let drain = Drain::new(Arc::default());
        let limit = Duration::from_secs(300);
        assert_eq!(drain.stalled(limit), None, "nothing in flight");
        let _stuck = drain.reconcile("FeedSource", "news/hn".into(), async {
            std::future::pending::<Result<Action, std::convert::Infallible>>().await
        });
        tokio::time::advance(Duration::from_secs(200)).await;
        let _young = drain.reconcile("FeedSource", "news/lobsters".into(), async {
            std::future::pending::<Result<Action, std::convert::Infallible>>().await
        });
        assert_eq!(drain.stalled(limit), None, "200 s is within the limit");
        tokio::time::advance(Duration::from_secs(101)).await;
        assert_eq!(
            drain.stalled(limit).as_deref(),
            Some("the reconcile of FeedSource news/hn has been running for 301.0s (limit 300s)")
        );
        drop(_stuck);
        assert_eq!(drain.stalled(limit), None, "the stuck one ended");
    }
}
