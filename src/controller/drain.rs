//! The end of the controllers: once stopping, no reconcile starts, and the shutdown waits for
//! the reconciles in flight, and only for them.
//!
//! kube-runtime's graceful shutdown alone does not end a controller whose cache never synced
//! (its runner waits for the cache before it looks at anything else), so the shutdown cannot
//! simply wait for the controllers: it waits until nothing is in flight, then drops them.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use kube::runtime::controller::Action;
use tokio::sync::watch;

use crate::metrics::{Kind, Metrics};

/// Reconciles in flight, and whether new ones may start.
pub struct Drain {
    stopping: AtomicBool,
    in_flight: watch::Sender<usize>,
    metrics: Arc<Metrics>,
}

impl Drain {
    /// Nothing in flight, not stopping; `curator_reconciles_in_flight` goes to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            stopping: AtomicBool::new(false),
            in_flight: watch::Sender::new(0),
            metrics,
        })
    }

    /// Wraps one reconcile of a `kind`: counted from now until it ends or is dropped; once
    /// stopping, it does nothing and asks for nothing more.
    pub fn reconcile<F, E>(
        self: &Arc<Self>,
        kind: &'static str,
        reconcile: F,
    ) -> impl Future<Output = Result<Action, E>> + Send + 'static + use<F, E>
    where
        F: Future<Output = Result<Action, E>> + Send + 'static,
        E: Send + 'static,
    {
        let guard = (!self.stopping.load(Ordering::Acquire)).then(|| InFlight::enter(self, kind));
        async move {
            match guard {
                Some(_guard) => reconcile.await,
                None => Ok(Action::await_change()),
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
}

impl InFlight {
    fn enter(drain: &Arc<Drain>, kind: &'static str) -> Self {
        drain.in_flight.send_modify(|n| *n += 1);
        let kind = Kind { kind: kind.into() };
        drain.metrics.in_flight.get_or_create(&kind).inc();
        Self {
            drain: drain.clone(),
            kind,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.drain
            .in_flight
            .send_modify(|n| *n = n.saturating_sub(1));
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
        let running = tokio::spawn(drain.reconcile("FeedSource", async {
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
            .reconcile("FeedSource", async {
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
        let pending = drain.reconcile("CuratorWorker", async {
            std::future::pending::<Result<Action, std::convert::Infallible>>().await
        });
        assert_eq!(drain.in_flight(), 1);
        drop(pending);
        assert_eq!(drain.in_flight(), 0);
    }
}
