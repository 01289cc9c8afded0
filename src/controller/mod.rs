//! The I/O shell: one controller per kind. Each reconcile runs the same named stages, with one
//! exit: observe (read Kubernetes and Temporal) → decide (pure, in `schedule`/`worker`) → write
//! the children (Temporal schedule, Deployment, PDB) → write the status (once, only when it
//! changed, with a Warning event when Ready turns False).

pub mod apply;
pub mod backoff;
pub mod cache;
pub mod curatorworker;
pub mod error;
pub mod feedsource;
pub mod secrets;
pub mod shared;
pub mod status;
pub mod watch;

use std::sync::Arc;

use futures::{StreamExt, future::join_all};
use k8s_openapi::api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget};
use kube::{
    Api, Client,
    runtime::{Controller, WatchStreamExt, controller, reflector, reflector::ObjectRef, watcher},
};

pub use shared::{MANAGER, Shared};

use crate::crd::{CuratorWorker, FeedSource};

/// Runs the controllers for every scope (`None` = all namespaces) until `shutdown` resolves.
pub async fn run(
    feeds: Arc<feedsource::FeedContext>,
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
            scope.clone(),
            feeds.clone(),
            concurrency,
            (reader.clone(), writer),
            stopper(&stop_tx),
        )));
        controllers.push(futures::future::Either::Right(worker_controller(
            scope,
            Arc::new(curatorworker::WorkerContext::new(
                feeds.shared.clone(),
                reader,
            )),
            concurrency,
            stopper(&stop_tx),
        )));
    }
    let health = feeds.shared.health.clone();
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
    scope: Option<String>,
    ctx: Arc<feedsource::FeedContext>,
    concurrency: u16,
    (reader, writer): (
        reflector::Store<FeedSource>,
        reflector::store::Writer<FeedSource>,
    ),
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.shared.client.clone();
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
    scope: Option<String>,
    ctx: Arc<curatorworker::WorkerContext>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.shared.client.clone();
    let workers: Api<CuratorWorker> = scoped(client.clone(), &scope);
    let deployments: Api<Deployment> = scoped(client.clone(), &scope);
    let pdbs: Api<PodDisruptionBudget> = scoped(client, &scope);
    let (reader, writer) = reflector::store();
    // Spec, deletion and finalizers: the controller's own status writes do not trigger it again.
    let trigger = watcher(workers, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(watch::spec_or_lifecycle, Default::default());
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
