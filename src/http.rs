//! The HTTP endpoints: `/livez`, `/readyz`, `/metrics`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};

use crate::metrics::Metrics;

/// What the controllers tell `/readyz`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerReport {
    /// Every cache has its first full list, or waits for a CRD that is not installed (a missing
    /// CRD does not hold readiness: GitOps tools that install the CRDs after the Deployment
    /// would otherwise wait for each other forever).
    pub synced: bool,
    /// One line per problem: a missing CRD, a cache not synced yet, a failing watch.
    pub notes: Vec<String>,
}

/// What `/livez` asks the controllers: whether work has stopped moving.
pub trait Progress: Send + Sync {
    /// `Some(why)` when a piece of work has run for longer than `limit`.
    fn stalled(&self, limit: std::time::Duration) -> Option<String>;
}

/// Process health, shared with the controllers.
#[derive(Default)]
pub struct Health {
    /// This replica leads (or leader election is off).
    pub leader: AtomicBool,
    /// SIGTERM arrived: the process is on its way out.
    pub stopping: AtomicBool,
    report: Mutex<ControllerReport>,
    /// The reconciles in flight, and how long one may run (`--stall-timeout`).
    progress: Mutex<Option<(Arc<dyn Progress>, std::time::Duration)>>,
}

impl Health {
    /// Replaces what the controllers last reported.
    pub fn report(&self, report: ControllerReport) {
        *self.report.lock().unwrap_or_else(|p| p.into_inner()) = report;
    }

    /// What the controllers last reported.
    pub fn controllers(&self) -> ControllerReport {
        self.report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// PURE but for the flags: whether this replica is ready, and the `/readyz` body saying why.
    /// A standby is ready to take over; a leader once its caches are synced; nobody while
    /// shutting down.
    pub fn readiness(&self) -> (bool, String) {
        if self.stopping.load(Ordering::Acquire) {
            return (false, "shutting down".into());
        }
        if !self.leader.load(Ordering::Acquire) {
            return (true, "ok: standby".into());
        }
        let report = self.controllers();
        let head = if report.synced {
            "ok"
        } else {
            "caches not synced"
        };
        let body = std::iter::once(head.to_owned())
            .chain(report.notes)
            .collect::<Vec<_>>()
            .join("\n");
        (report.synced, body)
    }

    /// Lets `/livez` fail when `progress` reports work running for longer than `limit`.
    pub fn watch_progress(&self, progress: Arc<dyn Progress>, limit: std::time::Duration) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = Some((progress, limit));
    }

    /// Whether the process is alive, and the `/livez` body. Only a wedged process fails: a
    /// reconcile running for longer than the stall limit, although each of its calls is
    /// bounded. A missing CRD, an unreachable API server or Temporal never fail it.
    pub fn liveness(&self) -> (bool, String) {
        let progress = self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match progress.and_then(|(p, limit)| p.stalled(limit)) {
            Some(why) => (false, format!("stalled: {why}")),
            None => (true, "ok".into()),
        }
    }

    /// Ready (see [`Health::readiness`]).
    pub fn ready(&self) -> bool {
        self.readiness().0
    }
}

/// Shared state of the endpoints.
#[derive(Clone)]
pub struct AppState {
    /// Health flags.
    pub health: Arc<Health>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

async fn livez(State(s): State<AppState>) -> impl IntoResponse {
    let (alive, body) = s.health.liveness();
    if !alive {
        tracing::error!(%body, "liveness failing");
    }
    let code = if alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body + "\n")
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let (ready, body) = s.health.readiness();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body + "\n")
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves the endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_says_why() {
        let h = Health::default();
        assert_eq!(h.readiness(), (true, "ok: standby".into()));
        h.leader.store(true, Ordering::SeqCst);
        assert_eq!(h.readiness(), (false, "caches not synced".into()));
        h.report(ControllerReport {
            synced: false,
            notes: vec!["FeedSource cache (all namespaces): Forbidden: no".into()],
        });
        assert_eq!(
            h.readiness(),
            (
                false,
                "caches not synced\nFeedSource cache (all namespaces): Forbidden: no".into()
            )
        );
        h.report(ControllerReport {
            synced: true,
            notes: vec!["CRD feedsources.curator.buun.dev is not installed".into()],
        });
        assert_eq!(
            h.readiness(),
            (
                true,
                "ok\nCRD feedsources.curator.buun.dev is not installed".into()
            )
        );
        h.stopping.store(true, Ordering::SeqCst);
        assert_eq!(h.readiness(), (false, "shutting down".into()));
    }

    struct Stuck(std::time::Duration);

    impl Progress for Stuck {
        fn stalled(&self, limit: std::time::Duration) -> Option<String> {
            (self.0 > limit).then(|| format!("running for {:?}", self.0))
        }
    }

    #[test]
    fn liveness_fails_only_on_stalled_work() {
        let h = Health::default();
        assert_eq!(h.liveness(), (true, "ok".into()), "nothing watched yet");
        h.stopping.store(true, Ordering::SeqCst);
        h.report(ControllerReport {
            synced: false,
            notes: vec!["CRD feedsources.curator.buun.dev is not installed".into()],
        });
        assert!(
            h.liveness().0,
            "readiness problems are not liveness problems"
        );
        let limit = std::time::Duration::from_secs(300);
        h.watch_progress(Arc::new(Stuck(std::time::Duration::from_secs(10))), limit);
        assert!(h.liveness().0);
        h.watch_progress(Arc::new(Stuck(std::time::Duration::from_secs(301))), limit);
        assert_eq!(h.liveness(), (false, "stalled: running for 301s".into()));
    }
}
