//! I/O shell: the controllers. Each reconcile reads, builds (pure), diffs (pure), writes.

pub mod apply;
pub mod backoff;
pub mod curatorworker;
pub mod error;
pub mod feedsource;
pub mod load_cache;
pub mod secrets;
pub mod watch;

use std::{sync::Arc, time::Duration};

use futures::{StreamExt, future::join_all};
use k8s_openapi::api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget};
use kube::{
    Api,
    runtime::{
        Controller, WatchStreamExt, controller, predicates, reflector, reflector::ObjectRef,
        watcher,
    },
};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Client, Resource,
    runtime::events::{Event, EventType, Recorder, Reporter},
};

use crate::{
    crd::{CuratorWorker, FeedSource},
    http::Health,
    metrics::Metrics,
    resources::schedule::BuildOptions,
    temporal::pool::Pool,
};

/// The field manager of every write this operator makes.
pub const MANAGER: &str = "curator-operator";

/// State shared by all reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Temporal connections.
    pub pool: Pool,
    /// Schedule ID prefix and identity.
    pub build: BuildOptions,
    /// Event recorder (one per process so that repeats aggregate).
    pub recorder: Recorder,
    /// Interval of the periodic re-check of every resource.
    pub resync: Duration,
    /// Per-object failure backoff.
    pub backoff: backoff::Backoffs,
    /// Task queue loads, shared by the workers on a queue.
    pub load_cache: load_cache::LoadCache,
    /// Schedule listings, shared by the FeedSources of a Temporal namespace.
    pub list_cache: load_cache::ListCache,
    /// When the schedules created with one call, and not yet seen in a listing, were created
    /// (by UID).
    pub created: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// When each FeedSource's schedule was last fully described (by UID).
    pub verified: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// How often each schedule is fully described even when the listing shows no change (to
    /// catch edits of the action or input, which the listing does not show).
    pub full_verify: Duration,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Health flags for `/readyz`.
    pub health: Arc<Health>,
}

impl Context {
    /// Builds the context.
    pub fn new(client: Client, pool: Pool, build: BuildOptions, resync: Duration) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            pool,
            build,
            resync,
            backoff: backoff::Backoffs::default(),
            load_cache: load_cache::LoadCache::default(),
            list_cache: load_cache::ListCache::default(),
            verified: Default::default(),
            created: Default::default(),
            full_verify: Duration::from_secs(3600),
            metrics: Arc::default(),
            health: Arc::default(),
        }
    }

    /// Describes every schedule fully at least this often.
    pub fn with_full_verify(mut self, every: Duration) -> Self {
        self.full_verify = every;
        self
    }

    /// Records that `uid`'s schedule was just read or written in full.
    pub fn mark_verified(&self, uid: &str) {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_owned(), std::time::Instant::now());
    }

    /// Records that `uid`'s schedule was just created and waits for a listing (`true`), or
    /// that it no longer waits (`false`).
    pub fn awaiting_listing(&self, uid: &str, created: bool) {
        let mut m = self.created.lock().unwrap_or_else(|p| p.into_inner());
        if created {
            m.insert(uid.to_owned(), std::time::Instant::now());
        } else {
            m.remove(uid);
        }
    }

    /// When `uid`'s schedule was created, while it waits for a listing.
    pub fn created_at(&self, uid: &str) -> Option<std::time::Instant> {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .copied()
    }

    /// Whether `uid`'s schedule was read or written in full recently enough. The interval is
    /// spread per UID (75%–125%) so that verifications do not come in waves.
    pub fn verified_recently(&self, uid: &str) -> bool {
        let spread = uid
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 1000;
        let every = self.full_verify.mul_f64(0.75 + f64::from(spread) / 2000.0);
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .is_some_and(|t| t.elapsed() < every)
    }

    /// Retries failures with exponential backoff from `base` up to `cap`.
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = backoff::Backoffs::new(base, cap);
        self
    }

    /// Uses these metrics and health flags instead of private ones.
    pub fn with_observability(mut self, metrics: Arc<Metrics>, health: Arc<Health>) -> Self {
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
        if let Err(e) = self.recorder.publish(&ev, &reference).await {
            tracing::warn!(error = %e, reason, "cannot publish event");
        }
    }
}

/// Runs the controllers for every scope (`None` = all namespaces) until `shutdown` resolves.
pub async fn run(
    client: Client,
    ctx: Arc<Context>,
    scopes: Vec<Option<String>>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let stopper = |tx: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    let mut controllers = Vec::new();
    let mut stores = Vec::new();
    for scope in scopes {
        let (reader, writer) = reflector::store();
        stores.push(reader.clone());
        controllers.push(futures::future::Either::Left(feed_controller(
            client.clone(),
            scope.clone(),
            ctx.clone(),
            concurrency,
            (reader.clone(), writer),
            stopper(&stop_tx),
        )));
        controllers.push(futures::future::Either::Right(worker_controller(
            client.clone(),
            scope,
            Arc::new(curatorworker::WorkerContext {
                base: ctx.clone(),
                feeds: reader,
                lower_since: Default::default(),
            }),
            concurrency,
            stopper(&stop_tx),
        )));
    }
    let health = ctx.health.clone();
    let synced = tokio::spawn(async move {
        for s in stores {
            let _ = s.wait_until_ready().await;
        }
        health
            .caches_synced
            .store(true, std::sync::atomic::Ordering::Release);
        tracing::info!("caches synced");
    });
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(());
    };
    tokio::join!(signal, join_all(controllers));
    synced.abort();
}

fn scoped<K>(client: Client, scope: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match scope {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// The FeedSource controller for one scope (a namespace, or all).
pub async fn feed_controller(
    client: Client,
    scope: Option<String>,
    ctx: Arc<Context>,
    concurrency: u16,
    (reader, writer): (
        reflector::Store<FeedSource>,
        reflector::store::Writer<FeedSource>,
    ),
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let feeds: Api<FeedSource> = scoped(client.clone(), &scope);
    let workers: Api<CuratorWorker> = scoped(client, &scope);
    let trigger = watcher(feeds, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(watch::feed_predicate, Default::default());
    let store = reader.clone();
    let worker_changes = watch::spec_changes_and_deletions(
        watcher(workers, watcher::Config::default().any_semantic()).default_backoff(),
    );
    Controller::for_stream(trigger, reader)
        .with_config(controller::Config::default().concurrency(concurrency))
        .watches_stream(worker_changes, move |w: CuratorWorker| {
            let ns = w.metadata.namespace.clone();
            let name = w.metadata.name.clone().unwrap_or_default();
            store
                .state()
                .into_iter()
                .filter(|f| f.metadata.namespace == ns && f.spec.worker_ref.name == name)
                .map(|f| ObjectRef::from_obj(&*f))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(feedsource::reconcile, feedsource::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile error");
            }
        })
        .await;
}

/// The CuratorWorker controller for one scope: owns the Deployments and PDBs, so that a manual
/// edit is reverted.
pub async fn worker_controller(
    client: Client,
    scope: Option<String>,
    ctx: Arc<curatorworker::WorkerContext>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let workers: Api<CuratorWorker> = scoped(client.clone(), &scope);
    let deployments: Api<Deployment> = scoped(client.clone(), &scope);
    let pdbs: Api<PodDisruptionBudget> = scoped(client, &scope);
    let (reader, writer) = reflector::store();
    // Generation filter: the controller's own status writes do not trigger it again.
    let trigger = watcher(workers, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    Controller::for_stream(trigger, reader)
        .owns(deployments, watcher::Config::default().any_semantic())
        .owns(pdbs, watcher::Config::default().any_semantic())
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(curatorworker::reconcile, curatorworker::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile error");
            }
        })
        .await;
}
