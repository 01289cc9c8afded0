//! Entry points of the subcommands: one startup path, one shutdown path.

use std::{process::ExitCode, sync::Arc};

use kube::Client;

use crate::{
    config::{Cli, Command, RunArgs},
    controller::{self, Shared, feedsource::FeedContext},
    crd,
    http::{self, Health},
    leader,
    metrics::Metrics,
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

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The Kubernetes client could not be built.
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// The HTTP port could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    /// Leader election could not start.
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    /// Another replica took the lease; exiting lets Kubernetes restart this one as a standby.
    #[error("lost leadership")]
    LostLeadership,
}

/// Runs the controllers until SIGTERM: one startup path with or without leader election.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .map_err(|e| RunError::Listen(args.http_addr, e))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let http = tokio::spawn(http::serve(
        listener,
        http::AppState {
            health: health.clone(),
            metrics: metrics.clone(),
        },
        stopped(),
    ));
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    });
    let pool = Pool::new(&args.temporal.identity, args.temporal.temporal_timeout)
        .with_metrics(metrics.clone())
        .with_rps(args.temporal.temporal_rps)
        .with_allowed_addresses(args.allowed_temporal_addresses.clone());
    let shared = Shared::new(client.clone(), pool, args.resync_interval)
        .with_observability(metrics.clone(), health.clone())
        .with_backoff(std::time::Duration::from_secs(1), args.max_backoff);
    let ctx = Arc::new(
        FeedContext::new(Arc::new(shared), args.temporal.build_options())
            .with_full_verify(args.full_verify_interval)
            .with_api_timeout(args.temporal.temporal_timeout),
    );
    let scopes: Vec<Option<String>> = if args.watch_namespaces.is_empty() {
        vec![None]
    } else {
        args.watch_namespaces.iter().cloned().map(Some).collect()
    };
    let (leader_rx, election, _always) = if args.leader_election {
        let cfg = leader::LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args
                .lease_namespace
                .clone()
                .or_else(|| std::env::var("POD_NAMESPACE").ok())
                .unwrap_or_else(|| "default".into()),
            identity: std::env::var("POD_NAME").unwrap_or_else(|_| args.temporal.identity.clone()),
            duration: args.lease_duration,
        };
        tracing::info!(lease = %cfg.name, namespace = %cfg.namespace, identity = %cfg.identity, "waiting for leadership");
        let (rx, task) = leader::elect(client.clone(), &cfg).await?;
        (rx, Some(task), None)
    } else {
        let (tx, rx) = leader::always();
        (rx, None, Some(tx))
    };
    tracing::info!(namespaces = ?args.watch_namespaces, "starting");
    let concurrency = args.concurrency;
    let ended = leader::lead(leader_rx, stopped(), &health, &metrics, |stop| {
        controller::run(ctx, scopes, concurrency, stop)
    })
    .await;
    // The lease is released when the election task sees its receiver dropped (inside lead).
    if let Some(task) = election {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), http).await;
    match ended {
        leader::Ended::Shutdown => Ok(()),
        leader::Ended::LostLeadership => Err(RunError::LostLeadership),
    }
}
