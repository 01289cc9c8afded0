//! What each watch of the controllers last saw, told once per change.
//!
//! - A CRD the API server does not serve (a list or watch answered 404): one error line naming
//!   it, `curator_crd_installed{crd} 0` and a `/readyz` note. The watch keeps retrying, so its
//!   controller starts when the CRD appears (one info line), without a restart. Readiness does
//!   not wait for a missing CRD.
//! - Any other failure (API server unreachable, forbidden): one warning per change of reason, a
//!   `/readyz` note, `curator_watch_errors_total{kind,reason}` for every failure, one info line
//!   when the watch resumes.
//! - The first full list of each cache: readiness.
//!
//! Errors stop here: the controllers never see them, so kube-runtime's trigger backoff never
//! pauses a whole controller because one of its watches fails.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, SystemTime},
};

use futures::{Stream, StreamExt, future};
use kube::runtime::{WatchStreamExt, utils::Backoff, watcher};

use crate::runtime::backoff::delay_within;
use crate::{
    http::{ControllerReport, Health},
    metrics::{Crd, KindReason, Metrics},
};

/// First retry delay of a failing watch.
pub const RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest retry delay of a failing watch: a CRD that appears, or an API server that comes
/// back, is seen within this time.
pub const RETRY_CAP: Duration = Duration::from_secs(5);

/// What one watch is for.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    /// The kind watched (`FeedSource`, `Deployment`, …).
    pub kind: &'static str,
    /// The CRD that serves the kind, for the operator's own kinds.
    pub crd: Option<String>,
    /// `None`: all namespaces.
    pub scope: Option<String>,
    /// Its cache gates readiness (a controller's own kind).
    pub cache: bool,
}

struct Failure {
    reason: String,
    message: String,
}

struct Watch {
    spec: WatchSpec,
    synced: bool,
    failure: Option<Failure>,
    attempts: Arc<AtomicU32>,
}

impl Watch {
    fn label(&self) -> String {
        let what = if self.spec.cache { "cache" } else { "watch" };
        let scope = match &self.spec.scope {
            Some(ns) => format!("namespace {ns}"),
            None => "all namespaces".into(),
        };
        format!("{} {what} ({scope})", self.spec.kind)
    }
}

#[derive(Default)]
struct State {
    watches: Vec<Watch>,
    /// CRD name → (kind, served).
    crds: BTreeMap<String, (&'static str, bool)>,
}

impl State {
    fn crd_missing(&self, w: &Watch) -> bool {
        w.spec
            .crd
            .as_ref()
            .and_then(|c| self.crds.get(c))
            .is_some_and(|(_, served)| !served)
    }

    /// PURE: what `/readyz` says.
    fn report(&self) -> ControllerReport {
        let mut notes: Vec<String> = self
            .crds
            .iter()
            .filter(|(_, (_, served))| !served)
            .map(|(crd, (kind, _))| {
                format!("CRD {crd} is not installed: the {kind} controller waits for it")
            })
            .collect();
        for w in &self.watches {
            let note = match &w.failure {
                Some(f) => format!("{}: {}: {}", w.label(), f.reason, f.message),
                None if w.spec.cache && !w.synced && !self.crd_missing(w) => {
                    format!("{}: first list in progress", w.label())
                }
                None => continue,
            };
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        let synced = self
            .watches
            .iter()
            .filter(|w| w.spec.cache)
            .all(|w| w.synced || self.crd_missing(w));
        ControllerReport { synced, notes }
    }
}

/// The watches of one run of the controllers.
pub struct WatchHealth {
    state: Mutex<State>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

impl WatchHealth {
    /// Reports to `health` (for `/readyz`) and `metrics`.
    pub fn new(health: Arc<Health>, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            health,
            metrics,
        })
    }

    /// Retries `events` with backoff, and follows what it sees; errors are told here and never
    /// passed on.
    pub fn watch<K, S>(
        self: &Arc<Self>,
        spec: WatchSpec,
        events: S,
    ) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + use<K, S>
    where
        K: Send + 'static,
        S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    {
        let attempts = Arc::new(AtomicU32::new(0));
        self.track(
            spec,
            attempts.clone(),
            events.backoff(WatchBackoff { attempts }),
        )
    }

    /// Follows what `events` sees (without retry delays); `attempts` is reset by a real answer.
    fn track<K, S>(
        self: &Arc<Self>,
        spec: WatchSpec,
        attempts: Arc<AtomicU32>,
        events: S,
    ) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + use<K, S>
    where
        K: Send + 'static,
        S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    {
        let id = {
            let mut st = self.lock();
            st.watches.push(Watch {
                spec,
                synced: false,
                failure: None,
                attempts,
            });
            self.health.report(st.report());
            st.watches.len() - 1
        };
        let this = self.clone();
        events.filter_map(move |item| {
            future::ready(match item {
                Ok(event) => {
                    this.saw(id, &event);
                    Some(Ok(event))
                }
                Err(e) => {
                    this.failed(id, &e);
                    None
                }
            })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn saw<K>(&self, id: usize, event: &watcher::Event<K>) {
        // `Init` comes before the list is even asked for: no evidence of anything.
        if matches!(event, watcher::Event::Init) {
            return;
        }
        let mut st = self.lock();
        let Some(w) = st.watches.get_mut(id) else {
            return;
        };
        w.attempts.store(0, Ordering::Relaxed);
        let mut changed = false;
        if matches!(event, watcher::Event::InitDone) && !w.synced {
            w.synced = true;
            changed = true;
        }
        if let Some(f) = w.failure.take() {
            tracing::info!(watch = %w.label(), after = %f.reason, "watch resumed");
            changed = true;
        }
        let kind = w.spec.kind;
        if let Some(crd) = w.spec.crd.clone() {
            let was = st.crds.insert(crd.clone(), (kind, true));
            if was.is_none_or(|(_, served)| !served) {
                self.metrics
                    .crd_installed
                    .get_or_create(&Crd { crd: crd.clone() })
                    .set(1);
                changed = true;
            }
            if was.is_some_and(|(_, served)| !served) {
                tracing::info!(%crd, kind, "CRD {crd} installed: the {kind} controller starts");
            }
        }
        if changed {
            self.health.report(st.report());
        }
    }

    fn failed(&self, id: usize, e: &watcher::Error) {
        let (reason, not_found) = classify(e);
        let mut st = self.lock();
        let Some(w) = st.watches.get_mut(id) else {
            return;
        };
        let kind = w.spec.kind;
        self.metrics
            .watch_errors
            .get_or_create(&KindReason {
                kind: kind.into(),
                reason: reason.clone(),
            })
            .inc();
        if reason == "Expired" {
            // The watch fell behind (410 Gone): the watcher lists again, nothing is wrong.
            tracing::debug!(watch = %w.label(), "watch expired; listing again");
            return;
        }
        match w.spec.crd.clone() {
            Some(crd) if not_found => {
                w.failure = None;
                let was = st.crds.insert(crd.clone(), (kind, false));
                if was.is_none_or(|(_, served)| served) {
                    tracing::error!(
                        %crd,
                        kind,
                        "CRD {crd} is not installed: the {kind} controller waits for it and \
                         starts when it appears (kubectl apply --server-side -f crds/)"
                    );
                    self.metrics
                        .crd_installed
                        .get_or_create(&Crd { crd })
                        .set(0);
                }
            }
            _ => {
                let message = describe(e);
                if w.failure.as_ref().is_none_or(|f| f.reason != reason) {
                    tracing::warn!(
                        watch = %w.label(),
                        %reason,
                        error = %message,
                        "watch failed; retrying with backoff"
                    );
                }
                w.failure = Some(Failure { reason, message });
            }
        }
        self.health.report(st.report());
    }
}

/// PURE: the reason of a watch failure (a metric label), and whether the API server does not
/// serve the resource at all (a CRD not installed).
pub fn classify(e: &watcher::Error) -> (String, bool) {
    let status = |s: &kube::core::Status| match s.code {
        404 => ("NotFound".to_owned(), true),
        410 => ("Expired".to_owned(), false),
        _ if !s.reason.is_empty() => (s.reason.clone(), false),
        code => (format!("Http{code}"), false),
    };
    match e {
        watcher::Error::InitialListFailed(c)
        | watcher::Error::WatchStartFailed(c)
        | watcher::Error::WatchFailed(c) => match c {
            kube::Error::Api(s) => status(s),
            kube::Error::HyperError(_) | kube::Error::Service(_) => ("Unreachable".into(), false),
            _ => ("WatchFailed".into(), false),
        },
        watcher::Error::WatchError(s) => status(s),
        watcher::Error::NoResourceVersion => ("NoResourceVersion".into(), false),
    }
}

/// PURE: a one-line description of a watch failure: the API server's message, or the chain of
/// causes of a connection failure.
pub fn describe(e: &watcher::Error) -> String {
    let client = match e {
        watcher::Error::InitialListFailed(c)
        | watcher::Error::WatchStartFailed(c)
        | watcher::Error::WatchFailed(c) => c,
        watcher::Error::WatchError(s) => return s.message.clone(),
        watcher::Error::NoResourceVersion => return e.to_string(),
    };
    if let kube::Error::Api(s) = client {
        return s.message.clone();
    }
    let mut text = client.to_string();
    let mut source = std::error::Error::source(client);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        source = s.source();
    }
    text
}

/// Retry delays of a failing watch: [`RETRY_BASE`] doubling to [`RETRY_CAP`], ±20 % jitter.
/// Reset only by a real answer (see [`WatchHealth::watch`]), not by the watcher's `Init`, which
/// it emits before every list and which would otherwise keep the delay at its minimum.
struct WatchBackoff {
    attempts: Arc<AtomicU32>,
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let jitter = f64::from(nanos % 1000) / 1000.0;
        Some(delay_within(RETRY_BASE, RETRY_CAP, attempt, jitter))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {}
}

#[cfg(test)]
#[path = "watch_health_tests.rs"]
mod tests;
