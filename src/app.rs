//! Entry points of the subcommands: one startup path, one shutdown path.

use std::{
    process::ExitCode,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    config::{Cli, Command, RunArgs},
    controller::{self, Shared, feedsource::FeedContext},
    crd,
    http::{self, Health},
    leader,
    metrics::Metrics,
    sync_cli, telemetry,
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

/// Limit of giving the Lease up on the way out.
const RELEASE_LIMIT: Duration = Duration::from_secs(1);
/// Limit of the HTTP server's goodbye to open connections.
const HTTP_LIMIT: Duration = Duration::from_millis(250);

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The Kubernetes client could not be built.
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// The HTTP port could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    /// A setting is unusable (e.g. the HTTP client for buun-curator's API).
    #[error("{0}")]
    Config(String),
    /// Another replica took the lease; exiting lets Kubernetes restart this one as a standby.
    #[error("lost leadership")]
    LostLeadership,
}

/// Runs the controllers until SIGTERM: one startup path with or without leader election, and
/// one way out, bounded in every state: the controllers stop (reconciles in flight get at most
/// `--temporal-timeout`), the Lease is given up (at most 1 s), the endpoints close.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let client = crate::kube_client::client(metrics.clone()).await?;
    let health = Arc::new(Health::default());
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .map_err(|e| RunError::Listen(args.http_addr, e))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    // The endpoints answer until the very end (`/readyz` says "shutting down" meanwhile).
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(http::serve(
        listener,
        http::AppState {
            health: health.clone(),
            metrics: metrics.clone(),
        },
        async {
            let _ = http_stopped.await;
        },
    ));
    {
        let health = health.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested");
            health.stopping.store(true, Ordering::Release);
            let _ = stop_tx.send(true);
        });
    }
    let ctx = feed_context(&args, client.clone(), metrics.clone(), health.clone())?;
    let opts = controller::RunOptions {
        scopes: scopes(&args.watch_namespaces),
        concurrency: args.concurrency,
        fair_share: args.namespace_fair_share,
        drain: args.temporal.temporal_timeout,
        stall: args.stall_timeout,
    };
    let (leader_rx, election, _always) = wait_for_leadership(&args, &client, stopped()).await;
    tracing::info!(namespaces = ?args.watch_namespaces, "starting");
    let ended = leader::lead(leader_rx, stopped(), &health, &metrics, |stop| {
        controller::run(ctx, opts, stop)
    })
    .await;
    if let Some(election) = election {
        match election.release(RELEASE_LIMIT).await {
            leader::Released::Released => tracing::info!("lease released"),
            leader::Released::NotHeld => {}
            leader::Released::Failed(error) => {
                tracing::warn!(%error, "lease not released; it expires after the lease duration");
            }
        }
    }
    let _ = http_stop.send(());
    let _ = tokio::time::timeout(HTTP_LIMIT, http).await;
    tracing::info!("stopped");
    match ended {
        leader::Ended::Shutdown => Ok(()),
        leader::Ended::LostLeadership => Err(RunError::LostLeadership),
    }
}

/// The FeedSource controller's context: the Temporal pool, what both controllers share, and
/// the flags of the schedules.
fn feed_context(
    args: &RunArgs,
    client: kube::Client,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<Arc<FeedContext>, RunError> {
    let pool = args
        .temporal
        .pool()
        .with_metrics(metrics.clone())
        .with_allowed_addresses(crate::crd::address::AllowList::new(
            args.allowed_temporal_addresses.clone(),
        ));
    let endpoints = args
        .curator_api
        .endpoints(args.temporal.temporal_timeout)
        .map_err(|e| RunError::Config(e.to_string()))?;
    let shared = Shared::new(client.clone(), pool, args.resync_interval)
        .with_observability(metrics.clone(), health.clone())
        .with_feed_apis(endpoints)
        .with_global_schedule(args.allow_global_schedule_pause, &args.temporal.identity)
        .with_backoff(Duration::from_secs(1), args.max_backoff);
    Ok(Arc::new(
        FeedContext::new(Arc::new(shared), args.temporal.build_options())
            .with_full_verify(args.full_verify_interval)
            .with_cross_namespace_adoption(args.allow_cross_namespace_adoption),
    ))
}

/// Leadership: the Lease's receiver when elected (or at once without leader election), the
/// election to release at the end, and the sender that keeps an unelected receiver open.
async fn wait_for_leadership(
    args: &RunArgs,
    client: &kube::Client,
    stopped: impl Future<Output = ()>,
) -> (
    watch::Receiver<bool>,
    Option<leader::Election>,
    Option<watch::Sender<bool>>,
) {
    if args.leader_election {
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
        tokio::select! {
            (rx, election) = leader::elect(client.clone(), &cfg) => (rx, Some(election), None),
            // Stopped before the Lease could even be read: never leads, `lead` returns at once.
            _ = stopped => {
                let (tx, rx) = watch::channel(false);
                (rx, None, Some(tx))
            }
        }
    } else {
        let (tx, rx) = leader::always();
        (rx, None, Some(tx))
    }
}

/// PURE: one scope per watched namespace, each once (a namespace listed twice would get two
/// controllers reconciling the same objects), or one for all namespaces.
fn scopes(watched: &[String]) -> Vec<Option<String>> {
    let mut names: Vec<&str> = watched
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return vec![None];
    }
    names.into_iter().map(|n| Some(n.to_owned())).collect()
}

#[cfg(test)]
mod scope_tests {
    use super::scopes;

    #[test]
    fn a_namespace_listed_twice_is_watched_once() {
        let listed = |v: &[&str]| scopes(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            listed(&["news", "blogs", "news"]),
            vec![Some("blogs".to_owned()), Some("news".to_owned())]
        );
        assert_eq!(listed(&[]), vec![None]);
        assert_eq!(listed(&[""]), vec![None], "an empty value is no namespace");
    }
}
