//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager), and the one startup
//! path for both modes: without election the channel simply always says "leader". The Lease is
//! given up on the way out, within a bound ([`Election::release`]).

use std::{future::Future, sync::atomic::Ordering, time::Duration};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

use crate::{http::Health, metrics::Metrics, runtime::MANAGER};

/// How `lead` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was requested (the lease is released).
    Shutdown,
    /// Another replica took the lease: this one must stop working at once.
    LostLeadership,
}

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// Lease duration: a standby takes over within this time after the leader dies.
    pub duration: Duration,
}

/// Waits until `leader` says true, runs `work` until `shutdown` resolves or leadership is lost,
/// and says which. `work` receives a future that resolves when it must stop.
pub async fn lead<W, Fut>(
    mut leader: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
    health: &Health,
    metrics: &Metrics,
    work: W,
) -> Ended
where
    W: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    // Standby.
    loop {
        if *leader.borrow_and_update() {
            break;
        }
        tokio::select! {
            _ = &mut shutdown => return Ended::Shutdown,
            changed = leader.changed() => {
                if changed.is_err() {
                    // The election task is gone: nobody can grant leadership any more.
                    return Ended::LostLeadership;
                }
            }
        }
    }
    tracing::info!("became leader");
    health.leader.store(true, Ordering::Release);
    metrics.leader.set(1);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = {
        let mut rx = stop_rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    };
    let work = work(stop);
    tokio::pin!(work);
    let mut ended = None;
    loop {
        tokio::select! {
            _ = &mut work => break,
            _ = &mut shutdown, if ended.is_none() => {
                ended = Some(Ended::Shutdown);
                let _ = stop_tx.send(true);
            }
            changed = leader.changed(), if ended.is_none() => {
                if changed.is_err() || !*leader.borrow() {
                    tracing::warn!("lost leadership; stopping");
                    ended = Some(Ended::LostLeadership);
                    let _ = stop_tx.send(true);
                }
            }
        }
    }
    health.leader.store(false, Ordering::Release);
    metrics.leader.set(0);
    ended.unwrap_or(Ended::Shutdown)
}

/// First retry delay when the Lease cannot be read or created.
const ELECT_RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay when the Lease cannot be read or created.
const ELECT_RETRY_CAP: Duration = Duration::from_secs(10);
/// Limit of one attempt to read or create the Lease.
const ELECT_ATTEMPT: Duration = Duration::from_secs(10);

/// A running election; [`Election::release`] ends it.
pub struct Election {
    task: tokio::task::JoinHandle<Result<LeaseManager, LeaseManagerError>>,
    /// Keeps the lease manager from releasing the Lease by itself (it would when every
    /// receiver is gone): the release is [`Election::release`]'s, bounded in time.
    _receiver: watch::Receiver<bool>,
    leases: Api<Lease>,
    name: String,
    identity: String,
}

/// How [`Election::release`] ended.
#[derive(Debug)]
pub enum Released {
    /// This replica held the Lease and gave it up: a standby takes over at once.
    Released,
    /// Another replica holds the Lease, or nobody.
    NotHeld,
    /// The API server did not answer in time or refused; the Lease expires by itself.
    Failed(String),
}

/// Starts the election; the receiver says whether this replica leads. While the Lease cannot
/// be read or created (API server unreachable, RBAC), retries with backoff, saying so once:
/// race it with the shutdown signal.
pub async fn elect(client: Client, cfg: &LeaseConfig) -> (watch::Receiver<bool>, Election) {
    let secs = cfg.duration.as_secs().max(2);
    let mut attempt = 0u32;
    let manager = loop {
        let built = LeaseManagerBuilder::new(client.clone(), &cfg.name)
            .with_namespace(&cfg.namespace)
            .with_identity(&cfg.identity)
            .with_duration(secs)
            .with_grace((secs / 3).max(1))
            .with_field_manager(MANAGER)
            .build();
        let error = match tokio::time::timeout(ELECT_ATTEMPT, built).await {
            Ok(Ok(m)) => break m,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {ELECT_ATTEMPT:?}"),
        };
        if attempt == 0 {
            tracing::warn!(lease = %cfg.name, %error, "cannot read or create the Lease; retrying");
        }
        let delay =
            crate::runtime::backoff::delay_within(ELECT_RETRY_BASE, ELECT_RETRY_CAP, attempt, 0.5);
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(delay).await;
    };
    if attempt > 0 {
        tracing::info!(lease = %cfg.name, "Lease reachable again");
    }
    let (rx, task) = manager.watch().await;
    let election = Election {
        task,
        _receiver: rx.clone(),
        leases: Api::namespaced(client, &cfg.namespace),
        name: cfg.name.clone(),
        identity: cfg.identity.clone(),
    };
    (rx, election)
}

impl Election {
    /// Stops renewing, and gives the Lease up if this replica holds it, within `limit`. The
    /// lease manager's own release waits behind its retry backoff (up to 30 s after an API
    /// error), so it is stopped at once and the Lease cleared here instead.
    pub async fn release(self, limit: Duration) -> Released {
        self.task.abort();
        match self.task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "lease manager stopped"),
            Err(e) if e.is_panic() => tracing::warn!(error = %e, "lease manager failed"),
            _ => {}
        }
        let give_up = give_up(&self.leases, &self.name, &self.identity);
        match tokio::time::timeout(limit, give_up).await {
            Ok(Ok(true)) => Released::Released,
            Ok(Ok(false)) => Released::NotHeld,
            Ok(Err(e)) => Released::Failed(e.to_string()),
            Err(_) => Released::Failed(format!("no answer within {limit:?}")),
        }
    }
}

/// Clears the Lease's holder when it is `identity`, on the version just read (a concurrent
/// change, such as a standby taking an expired Lease, makes the write fail and is read again).
async fn give_up(leases: &Api<Lease>, name: &str, identity: &str) -> Result<bool, kube::Error> {
    for _ in 0..3 {
        let Some(lease) = leases.get_opt(name).await? else {
            return Ok(false);
        };
        let holder = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref());
        if holder != Some(identity) {
            return Ok(false);
        }
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": lease.metadata.resource_version},
            "spec": {
                "holderIdentity": null,
                "acquireTime": null,
                "renewTime": null,
                "leaseDurationSeconds": null,
            },
        });
        let params = PatchParams {
            field_manager: Some(MANAGER.into()),
            ..PatchParams::default()
        };
        match leases.patch(name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// A channel that always says "leader", for running without election.
pub fn always() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, atomic::AtomicU32};

    async fn run_case(
        initial: bool,
        script: impl FnOnce(
            watch::Sender<bool>,
            tokio::sync::oneshot::Sender<()>,
        ) -> tokio::task::JoinHandle<()>,
    ) -> (Ended, u32, u32) {
        let (tx, rx) = watch::channel(initial);
        let (sd_tx, sd_rx) = tokio::sync::oneshot::channel::<()>();
        let started = Arc::new(AtomicU32::new(0));
        let stopped = Arc::new(AtomicU32::new(0));
        let (s1, s2) = (started.clone(), stopped.clone());
        let driver = script(tx, sd_tx);
        let health = Health::default();
        let metrics = Metrics::default();
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            lead(
                rx,
                async {
                    let _ = sd_rx.await;
                },
                &health,
                &metrics,
                move |stop| async move {
                    s1.fetch_add(1, Ordering::SeqCst);
                    stop.await;
                    s2.fetch_add(1, Ordering::SeqCst);
                },
            ),
        )
        .await
        .expect("lead returns");
        driver.abort();
        assert!(!health.leader.load(Ordering::SeqCst));
        (
            ended,
            started.load(Ordering::SeqCst),
            stopped.load(Ordering::SeqCst),
        )
    }

    #[tokio::test]
    async fn a_standby_never_works_and_stops_on_shutdown() {
        let r = run_case(false, |tx, sd| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = sd.send(());
                tokio::time::sleep(Duration::from_secs(10)).await;
                drop(tx);
            })
        })
        .await;
        assert_eq!(r, (Ended::Shutdown, 0, 0));
    }

    #[tokio::test]
    async fn work_starts_when_elected_and_stops_cleanly_on_shutdown() {
        let r = run_case(false, |tx, sd| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let _ = tx.send(true);
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = sd.send(());
                tokio::time::sleep(Duration::from_secs(10)).await;
                drop(tx);
            })
        })
        .await;
        assert_eq!(r, (Ended::Shutdown, 1, 1));
    }

    #[tokio::test]
    async fn losing_the_lease_stops_the_work_at_once() {
        let r = run_case(true, |tx, sd| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let _ = tx.send(false);
                tokio::time::sleep(Duration::from_secs(10)).await;
                drop((tx, sd));
            })
        })
        .await;
        assert_eq!(r, (Ended::LostLeadership, 1, 1));
    }

    #[tokio::test]
    async fn without_election_work_runs_until_shutdown() {
        let (tx, rx) = always();
        let health = Health::default();
        let metrics = Metrics::default();
        let (sd_tx, sd_rx) = tokio::sync::oneshot::channel::<()>();
        let ran = Arc::new(AtomicU32::new(0));
        let r2 = ran.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _ = sd_tx.send(());
        });
        let ended = lead(
            rx,
            async {
                let _ = sd_rx.await;
            },
            &health,
            &metrics,
            move |stop| async move {
                r2.fetch_add(1, Ordering::SeqCst);
                stop.await;
            },
        )
        .await;
        drop(tx);
        assert_eq!((ended, ran.load(Ordering::SeqCst)), (Ended::Shutdown, 1));
        assert!(metrics.encode().contains("curator_leader 0"));
    }
}
