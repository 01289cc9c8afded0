//! Entry points of the subcommands: one startup path, one shutdown path.

use std::{process::ExitCode, sync::Arc};

use futures::{StreamExt, future::join_all};
use kube::{
    Api, Client,
    runtime::{Controller, WatchStreamExt, controller, reflector, reflector::ObjectRef, watcher},
};

use crate::{
    config::{Cli, Command, RunArgs, TemporalArgs},
    controller::{Context, feedsource, watch},
    crd::{self, CuratorWorker, FeedSource},
    resources::schedule::BuildOptions,
    sync_cli, telemetry,
    temporal::pool::Pool,
};

/// Runs the chosen subcommand and returns the process exit code.
pub async fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Crds => print_crds(),
        Command::Run(args) => {
            telemetry::init(&args.log_level, args.log_format);
            match run(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "operator stopped");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Sync(args) => {
            telemetry::init("warn", crate::config::LogFormat::Text);
            sync_cli::run(args).await
        }
    }
}

fn print_crds() -> ExitCode {
    for (_, crd) in crd::all() {
        match crd::to_yaml(&crd) {
            Ok(yaml) => print!("---\n{yaml}"),
            Err(e) => {
                eprintln!("cannot render CRD: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Schedule-building options from the shared Temporal flags.
pub fn build_options(t: &TemporalArgs) -> BuildOptions {
    BuildOptions {
        id_prefix: t.schedule_id_prefix.clone(),
        identity: t.identity.clone(),
    }
}

/// Resolves when the process gets SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs the controllers until SIGTERM.
pub async fn run(args: RunArgs) -> Result<(), kube::Error> {
    let client = Client::try_default().await?;
    let pool = Pool::new(&args.temporal.identity, args.temporal.temporal_timeout);
    let ctx = Arc::new(Context::new(
        client.clone(),
        pool,
        build_options(&args.temporal),
        args.resync_interval,
    ));
    let scopes: Vec<Option<String>> = if args.watch_namespaces.is_empty() {
        vec![None]
    } else {
        args.watch_namespaces.iter().cloned().map(Some).collect()
    };
    tracing::info!(namespaces = ?args.watch_namespaces, "starting FeedSource controller");
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let controllers: Vec<_> = scopes
        .into_iter()
        .map(|scope| {
            let mut stop = stop_tx.subscribe();
            feed_controller(
                client.clone(),
                scope,
                ctx.clone(),
                args.concurrency,
                async move {
                    let _ = stop.recv().await;
                },
            )
        })
        .collect();
    let signal = async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(());
    };
    let (_, _) = tokio::join!(signal, join_all(controllers));
    Ok(())
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
async fn feed_controller(
    client: Client,
    scope: Option<String>,
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let feeds: Api<FeedSource> = scoped(client.clone(), &scope);
    let workers: Api<CuratorWorker> = scoped(client, &scope);
    let (reader, writer) = reflector::store();
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
