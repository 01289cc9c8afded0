//! What both controllers share: the clients, the event recorder, the backoff and the
//! observability.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Api, Client, Resource,
    runtime::events::{Event, EventType, Recorder, Reporter},
};

use crate::{
    curator_api::http::{EndpointOptions, Endpoints},
    http::Health,
    metrics::Metrics,
    runtime::{MANAGER, backoff},
    temporal::pool::{Credentials, Pool},
};

/// What both controllers share: the clients, the event recorder and the observability.
pub struct Shared {
    /// Kubernetes client.
    pub client: Client,
    /// Temporal connections.
    pub pool: Pool,
    /// buun-curator's APIs: the one HTTP client, and where the token may go.
    pub feed_apis: Endpoints,
    /// Whether a CuratorWorker may pause buun-curator's global schedule
    /// (`--allow-global-schedule-pause`).
    pub global_pause_allowed: bool,
    /// The operator's `--identity`: it signs the pause notes.
    pub identity: String,
    /// Recorder of Warning events, one per process so that repeats aggregate into a series
    /// (kube-runtime keeps each event for 6 minutes to count its repeats).
    pub recorder: Recorder,
    /// Who records the events.
    reporter: Reporter,
    /// Interval of the periodic re-check of every resource.
    pub resync: Duration,
    /// Per-object failure backoff.
    pub backoff: backoff::Backoffs,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Health flags for `/readyz`.
    pub health: Arc<Health>,
    /// The credentials each worker's connection was last made with, by (namespace, worker):
    /// the cleanup of a schedule uses them when the Secrets are already gone (a namespace being
    /// deleted). Forgotten with the worker.
    known_credentials: Mutex<HashMap<(String, String), (String, Credentials)>>,
}

impl Shared {
    /// Shared state with default backoff and private metrics and health flags.
    pub fn new(client: Client, pool: Pool, resync: Duration) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            reporter,
            client,
            pool,
            feed_apis: Endpoints::new(EndpointOptions::new(Duration::from_secs(10)))
                .expect("an HTTP client without a proxy always builds"),
            global_pause_allowed: false,
            identity: MANAGER.into(),
            resync,
            backoff: backoff::Backoffs::default(),
            metrics: Arc::default(),
            health: Arc::default(),
            known_credentials: Mutex::default(),
        }
    }

    /// Lets CuratorWorkers pause buun-curator's global schedule (`allowed`), the notes signed
    /// by `identity`.
    pub fn with_global_schedule(mut self, allowed: bool, identity: &str) -> Self {
        self.global_pause_allowed = allowed;
        self.identity = identity.to_owned();
        self
    }

    /// Reaches buun-curator's APIs through `endpoints` (metrics recorded).
    /// Call after [`Shared::with_observability`].
    pub fn with_feed_apis(mut self, endpoints: Endpoints) -> Self {
        self.feed_apis = endpoints.with_metrics(self.metrics.clone());
        self
    }

    /// Remembers that worker `namespace/worker` connected to `address` with `creds`.
    pub fn remember_credentials(
        &self,
        namespace: &str,
        worker: &str,
        address: &str,
        creds: &Credentials,
    ) {
        let mut m = self
            .known_credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.insert(
            (namespace.to_owned(), worker.to_owned()),
            (address.to_owned(), creds.clone()),
        );
    }

    /// The credentials worker `namespace/worker` last connected to `address` with.
    pub fn remembered_credentials(
        &self,
        namespace: &str,
        worker: &str,
        address: &str,
    ) -> Option<Credentials> {
        let m = self
            .known_credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.get(&(namespace.to_owned(), worker.to_owned()))
            .filter(|(a, _)| a == address)
            .map(|(_, c)| c.clone())
    }

    /// Forgets what was remembered for worker `namespace/worker`.
    pub fn forget_worker(&self, namespace: &str, worker: &str) {
        let mut m = self
            .known_credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.remove(&(namespace.to_owned(), worker.to_owned()));
    }

    /// How many workers' credentials are remembered.
    pub fn remembered_workers(&self) -> usize {
        self.known_credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Retries failures with exponential backoff from `base` up to `cap`.
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = backoff::Backoffs::new(base, cap);
        self
    }

    /// Uses these metrics and health flags instead of private ones.
    pub fn with_observability(mut self, metrics: Arc<Metrics>, health: Arc<Health>) -> Self {
        self.feed_apis = self.feed_apis.clone().with_metrics(metrics.clone());
        self.metrics = metrics;
        self.health = health;
        self
    }

    /// Publishes an event about `obj`; a failure to publish is logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let reference: ObjectReference = obj.object_ref(&());
        let ev = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        // Normal events report one change each (a schedule created, updated, deleted): they
        // never repeat, so they skip the shared recorder, whose cache would hold one event per
        // FeedSource for 6 minutes (and keep its table at that size), growing with the number
        // of FeedSources (BENCHMARKS.md).
        let once;
        let recorder = match type_ {
            EventType::Warning => &self.recorder,
            EventType::Normal => {
                once = Recorder::new(self.client.clone(), self.reporter.clone());
                &once
            }
        };
        if let Err(e) = recorder.publish(&ev, &reference).await {
            tracing::warn!(error = %e, reason, "cannot publish event");
        }
    }

    /// The API of `K` in `namespace`.
    pub fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }
}
