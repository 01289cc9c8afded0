//! The I/O shell: one controller per kind. Each reconcile runs the same named stages, with one
//! exit: observe (read Kubernetes and Temporal) → decide (pure, in `schedule`/`worker`) → write
//! the children (Temporal schedule, Deployment, PDB) → write the status (once, only when it
//! changed, with a Warning event when Ready turns False).
//!
//! [`run`] starts both controllers for every watched scope and ends them: every watch goes
//! through [`watch_health`] (a missing CRD, a failing watch, the first full list of a cache),
//! and every reconcile through [`drain`] (a shutdown waits for the reconciles in flight, for at
//! most [`RunOptions::drain`], and for nothing else).

pub mod apply;
pub mod cache;
pub mod curatorworker;
pub mod drain;
pub mod error;
pub mod feedsource;
pub mod resync;
pub mod secrets;
pub mod shared;
pub mod status;
pub mod watch;
pub mod watch_health;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures::{FutureExt, StreamExt, future::join_all};
use k8s_openapi::api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget};
use kube::{
    Api, Client, CustomResourceExt, ResourceExt,
    core::PartialObjectMeta,
    runtime::{Controller, WatchStreamExt, controller, reflector, reflector::ObjectRef, watcher},
};

pub use crate::runtime::MANAGER;
pub use shared::Shared;

use crate::crd::{CuratorWorker, FeedSource};
use drain::Drain;
use watch_health::{WatchHealth, WatchSpec};

/// How the controllers run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The namespaces to watch, each with its own watches (`None`: all namespaces).
    pub scopes: Vec<Option<String>>,
    /// Reconciles at once, per kind and scope.
    pub concurrency: u16,
    /// Share each kind's slots fairly between namespaces (watching all of them).
    pub fair_share: bool,
    /// How long a shutdown waits for the reconciles in flight before it cancels them (as safe
    /// as a crash: every reconcile is idempotent). `--temporal-timeout`, the limit of one
    /// Temporal call.
    pub drain: Duration,
    /// How long one reconcile may run before `/livez` fails (`--stall-timeout`).
    pub stall: Duration,
}

/// What stops the controllers of one run; each controller gets its own receiver.
type Stop = tokio::sync::broadcast::Sender<()>;

fn stopped(stop: &Stop) -> impl Future<Output = ()> + Send + Sync + 'static {
    let mut rx = stop.subscribe();
    async move {
        let _ = rx.recv().await;
    }
}

/// Runs the controllers for every scope until `shutdown` resolves, then ends them: no new
/// reconcile starts, the ones in flight get at most `opts.drain`.
pub async fn run(
    feeds: Arc<feedsource::FeedContext>,
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    let shared = feeds.shared.clone();
    let watches = WatchHealth::new(shared.health.clone(), shared.metrics.clone());
    // One controller per kind for every namespace: its slots are shared between namespaces
    // (`--namespace-fair-share`, on by default; `Drain`). With watched namespaces listed, each
    // has controllers and slots of its own.
    let drain = if opts.fair_share && opts.scopes.iter().any(Option::is_none) {
        Drain::with_slots(shared.metrics.clone(), usize::from(opts.concurrency))
    } else {
        Drain::new(shared.metrics.clone())
    };
    shared.health.watch_progress(drain.clone(), opts.stall);
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut controllers: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
    for scope in opts.scopes {
        let parts = Parts {
            scope,
            concurrency: opts.concurrency,
            watches: watches.clone(),
            drain: drain.clone(),
        };
        controllers.extend(scope_controllers(&feeds, parts, &stop));
    }
    let mut all = join_all(controllers);
    tokio::select! {
        _ = &mut all => return,
        _ = shutdown => {}
    }
    drain.stop();
    let _ = stop.send(());
    let in_flight = drain.in_flight();
    tracing::info!(in_flight, "stopping the controllers");
    // A controller whose cache never synced (a CRD missing, a list forbidden) never ends by
    // itself: kube-runtime holds its runner until the cache is ready. So the wait is for the
    // reconciles in flight, not for the controllers; dropping them cancels what is left.
    tokio::select! {
        _ = &mut all => {}
        _ = drain.idle() => {}
        _ = tokio::time::sleep(opts.drain) => {
            tracing::warn!(
                in_flight = drain.in_flight(),
                limit = ?opts.drain,
                "reconciles still running at the shutdown limit; cancelled"
            );
        }
    }
}

/// The futures that serve one scope: the shared CuratorWorker watch and the two controllers.
fn scope_controllers(
    feeds: &Arc<feedsource::FeedContext>,
    parts: Parts,
    stop: &tokio::sync::broadcast::Sender<()>,
) -> [Pin<Box<dyn Future<Output = ()> + Send>>; 3] {
    let shared = &feeds.shared;
    let (reader, writer) = reflector::store();
    let worker_ctx = Arc::new(curatorworker::WorkerContext::new(
        shared.clone(),
        reader.clone(),
    ));
    // One CuratorWorker watch and cache per scope, shared by both controllers.
    let (worker_store, tee) = worker_watch(&parts, &shared.client);
    let watch::Tee {
        drive,
        first: for_workers,
        second: for_feeds,
    } = tee;
    feeds.add_worker_cache(worker_store.clone());
    let stop_drive = stopped(stop);
    let drive = async move {
        tokio::select! {
            _ = drive => {}
            _ = stop_drive => {}
        }
    };
    let feed = feed_controller(
        parts.clone(),
        feeds.clone(),
        (reader, writer),
        for_feeds,
        stopped(stop),
    );
    let worker = worker_controller(
        parts,
        worker_ctx,
        (worker_store, for_workers),
        stopped(stop),
    );
    [drive.boxed(), feed.boxed(), worker.boxed()]
}

/// What both controllers of a scope share.
#[derive(Clone)]
struct Parts {
    scope: Option<String>,
    concurrency: u16,
    watches: Arc<WatchHealth>,
    drain: Arc<Drain>,
}

impl Parts {
    fn spec(&self, kind: &'static str, crd: Option<String>, cache: bool) -> WatchSpec {
        WatchSpec {
            kind,
            crd,
            scope: self.scope.clone(),
            cache,
        }
    }

    fn api<K>(&self, client: Client) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        match &self.scope {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        }
    }
}

/// The CuratorWorker watch of a scope: its cache, and its events for the CuratorWorker
/// controller (`first`) and for the FeedSource controller (`second`).
fn worker_watch(
    parts: &Parts,
    client: &Client,
) -> (reflector::Store<CuratorWorker>, watch::Tee<CuratorWorker>) {
    let workers: Api<CuratorWorker> = parts.api(client.clone());
    let (store, writer) = reflector::store();
    // Spec, deletion and finalizers are read; what no reconcile reads is dropped first.
    let watched = watcher(workers, watcher::Config::default().any_semantic()).modify(watch::slim);
    let events = parts
        .watches
        .watch(
            parts.spec(
                "CuratorWorker",
                Some(CuratorWorker::crd_name().into()),
                true,
            ),
            watched,
        )
        .reflect(writer);
    (store, watch::tee(events))
}

/// The FeedSource controller for one scope (a namespace, or all).
async fn feed_controller(
    parts: Parts,
    ctx: Arc<feedsource::FeedContext>,
    (reader, writer): (
        reflector::Store<FeedSource>,
        reflector::store::Writer<FeedSource>,
    ),
    worker_events: watch::Events<CuratorWorker>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.shared.client.clone();
    let feeds: Api<FeedSource> = parts.api(client);
    let watched =
        watcher(feeds, watcher::Config::default().any_semantic()).modify(watch::slim_feed);
    let trigger = watch::changed(
        parts
            .watches
            .watch(
                parts.spec("FeedSource", Some(FeedSource::crd_name().into()), true),
                watched,
            )
            .reflect(writer),
        watch::feed_predicate,
    );
    let worker_changes = watch::spec_changes_and_deletions(worker_events);
    let store = reader.clone();
    let drain = parts.drain.clone();
    let news = ctx.listing_news();
    let called_back = drain.callbacks::<FeedSource>("FeedSource");
    let swept = {
        let ctx = ctx.clone();
        resync::sweep(reader.clone(), ctx.shared.resync, move |fs| {
            ctx.resynced(fs)
        })
    };
    let runs = feedsource::runs_watch(reader.clone(), ctx.clone());
    Controller::for_stream(trigger, reader)
        .with_config(controller::Config::default().concurrency(parts.concurrency))
        .reconcile_on(news)
        .reconcile_on(called_back)
        .reconcile_on(swept)
        .reconcile_on(runs)
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
        .run(
            move |fs, ctx| {
                let object = format!("{}/{}", fs.namespace().unwrap_or_default(), fs.name_any());
                drain.reconcile("FeedSource", object, feedsource::reconcile(fs, ctx))
            },
            feedsource::error_policy,
            ctx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile error");
            }
        })
        .await;
}

/// The CuratorWorker controller for one scope: owns the Deployments and PDBs, so that a manual
/// edit is reverted.
async fn worker_controller(
    parts: Parts,
    ctx: Arc<curatorworker::WorkerContext>,
    (reader, events): (
        reflector::Store<CuratorWorker>,
        watch::Events<CuratorWorker>,
    ),
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.shared.client.clone();
    // Metadata only: the owner reference is all that is needed of the children.
    let deployments: Api<PartialObjectMeta<Deployment>> = parts.api(client.clone());
    let pdbs: Api<PartialObjectMeta<PodDisruptionBudget>> = parts.api(client);
    // Spec, deletion and finalizers: the controller's own status writes do not trigger it again.
    let trigger = watch::changed(events, watch::spec_or_lifecycle::<CuratorWorker>);
    let owned_deployments = parts
        .watches
        .watch(
            parts.spec("Deployment", None, false),
            watcher(deployments, watcher::Config::default().any_semantic()),
        )
        .touched_objects();
    let owned_pdbs = parts
        .watches
        .watch(
            parts.spec("PodDisruptionBudget", None, false),
            watcher(pdbs, watcher::Config::default().any_semantic()),
        )
        .touched_objects();
    let drain = parts.drain.clone();
    let called_back = drain.callbacks::<CuratorWorker>("CuratorWorker");
    Controller::for_stream(trigger, reader)
        .owns_stream(owned_deployments)
        .owns_stream(owned_pdbs)
        .reconcile_on(called_back)
        .with_config(controller::Config::default().concurrency(parts.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            move |w, ctx| {
                let object = format!("{}/{}", w.namespace().unwrap_or_default(), w.name_any());
                drain.reconcile("CuratorWorker", object, curatorworker::reconcile(w, ctx))
            },
            curatorworker::error_policy,
            ctx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile error");
            }
        })
        .await;
}
