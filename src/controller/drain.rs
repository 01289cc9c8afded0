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
    runtime::fair::{Entry, FairShare},
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
    /// ([`FairShare`]): a reconcile over its namespace's share waits in its namespace's queue
    /// (`curator_reconciles_waiting`; `curator_reconciles_deferred_total` when a slot was free
    /// for another namespace). The controllers then run every reconcile they have: the slots
    /// are counted here.
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

    /// Wraps one reconcile of `object` (`namespace/name`) of a `kind`: counted from the moment
    /// it has a slot until it ends or is dropped; once stopping, it does nothing and asks for
    /// nothing more. `make` makes the reconcile when its slot comes (reading the object then:
    /// `None` when it is gone, and nothing is done). Until then a reconcile waiting for its
    /// namespace's share is small: `make` and a place in a queue.
    pub fn reconcile<M, F, E>(
        self: &Arc<Self>,
        kind: &'static str,
        object: String,
        make: M,
    ) -> impl Future<Output = Result<Action, E>> + Send + 'static + use<M, F, E>
    where
        M: FnOnce() -> Option<F> + Send + 'static,
        F: Future<Output = Result<Action, E>> + Send + 'static,
        E: Send + 'static,
    {
        let stopping = self.stopping.load(Ordering::Acquire);
        let ns = object.split('/').next().unwrap_or_default();
        let entry = match (&self.fair, stopping) {
            (_, true) => Some(Entry::Closed),
            (Some(fair), false) => Some(fair.enter(kind, ns)),
            (None, false) => None,
        };
        let (slot, queued) = match entry {
            Some(Entry::Now(slot)) => (Some(slot), None),
            Some(Entry::Queued(q)) => (None, Some(q)),
            Some(Entry::Closed) => {
                return futures::future::Either::Left(async { Ok(Action::await_change()) });
            }
            None => (None, None),
        };
        // At once (no queue): counted in flight from now, so that a shutdown sees it.
        let guard = queued
            .is_none()
            .then(|| InFlight::enter(self, kind, object.clone()));
        let waiting = queued
            .as_ref()
            .map(|q| Waiting::enter(&self.metrics, kind, q.deferred));
        let drain = self.clone();
        futures::future::Either::Right(async move {
            let (_slot, _guard) = match queued {
                None => (slot, guard),
                Some(q) => {
                    let slot = q.slot().await;
                    drop(waiting);
                    if slot.is_none() || drain.stopping.load(Ordering::Acquire) {
                        return Ok(Action::await_change());
                    }
                    (slot, Some(InFlight::enter(&drain, kind, object)))
                }
            };
            // Boxed in one statement, so that the reconcile's own state is no part of this
            // future's (a `match make()` would keep its scrutinee across the await): the
            // reconciles waiting for a slot stay small.
            let Some(reconcile) = make().map(Box::pin) else {
                return Ok(Action::await_change());
            };
            reconcile.await
        })
    }

    /// No reconcile starts from now on, and those waiting for a slot end.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(fair) = &self.fair {
            fair.close();
        }
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

/// One reconcile waiting for its namespace's share: `curator_reconciles_waiting` while it waits.
struct Waiting {
    metrics: Arc<Metrics>,
    kind: Kind,
}

impl Waiting {
    fn enter(metrics: &Arc<Metrics>, kind: &'static str, deferred: bool) -> Self {
        let kind = Kind { kind: kind.into() };
        if deferred {
            metrics.reconciles_deferred.get_or_create(&kind).inc();
        }
        metrics.reconciles_waiting.get_or_create(&kind).inc();
        Self {
            metrics: metrics.clone(),
            kind,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.metrics
            .reconciles_waiting
            .get_or_create(&self.kind)
            .dec();
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
#[path = "drain_tests.rs"]
mod tests;
