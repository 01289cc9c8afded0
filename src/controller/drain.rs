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

use futures::Stream;
use kube::runtime::{controller::Action, reflector::ObjectRef};
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
    /// ([`FairShare`]): the object of a reconcile over its namespace's share waits in its
    /// namespace's queue (`curator_reconciles_waiting`; `curator_reconciles_deferred_total`
    /// when a slot was free for another namespace) and is called back ([`Drain::callbacks`]).
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

    /// Wraps one reconcile of `object` (`namespace/name`) of a `kind`: counted from now until
    /// it ends or is dropped; once stopping, it does nothing and asks for nothing more. With
    /// the fair share, a reconcile over its namespace's share does nothing and its object is
    /// called back ([`Drain::callbacks`]) when a slot is kept for it.
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
        let (ns, name) = object.split_once('/').unwrap_or(("", &object));
        let slot = match (&self.fair, stopping) {
            (_, true) => Err(false),
            (Some(fair), false) => match fair.enter(kind, ns, name, std::time::Instant::now()) {
                Entry::Now(slot) => Ok(Some(slot)),
                Entry::Later { deferred } => Err(deferred),
                Entry::Closed => Err(false),
            },
            (None, false) => Ok(None),
        };
        self.note_waiting(kind);
        let run = match slot {
            Ok(slot) => Some((slot, InFlight::enter(self, kind, object))),
            Err(deferred) => {
                if deferred {
                    let kind = Kind { kind: kind.into() };
                    self.metrics.reconciles_deferred.get_or_create(&kind).inc();
                }
                None
            }
        };
        let drain = self.clone();
        async move {
            let Some((slot, in_flight)) = run else {
                // Stopping, or called back when a slot is kept for it.
                return Ok(Action::await_change());
            };
            let done = reconcile.await;
            drop((slot, in_flight));
            drain.note_waiting(kind);
            done
        }
    }

    /// The objects of `kind` to reconcile again: a slot is kept for them (with the fair share;
    /// nothing otherwise).
    pub fn callbacks<K>(
        &self,
        kind: &'static str,
    ) -> impl Stream<Item = ObjectRef<K>> + Send + 'static + use<K>
    where
        K: kube::Resource<DynamicType = ()> + 'static,
    {
        let rx = self.fair.as_ref().map(|f| f.callbacks(kind));
        futures::stream::unfold(rx, |rx| async move {
            let mut rx = rx?;
            let (ns, name) = rx.recv().await?;
            Some((ObjectRef::new(&name).within(&ns), Some(rx)))
        })
    }

    /// `curator_reconciles_waiting` for `kind`, as the fair share counts it.
    fn note_waiting(&self, kind: &'static str) {
        if let Some(fair) = &self.fair {
            let kind_label = Kind { kind: kind.into() };
            let n = i64::try_from(fair.waiting(kind)).unwrap_or(i64::MAX);
            self.metrics
                .reconciles_waiting
                .get_or_create(&kind_label)
                .set(n);
        }
    }

    /// No reconcile starts from now on; the objects waiting are not called back.
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
