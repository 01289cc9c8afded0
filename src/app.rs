//! Entry points of the subcommands: one startup path, one shutdown path.

use std::{process::ExitCode, sync::Arc};

use kube::Client;

use crate::{
    config::{Cli, Command, RunArgs, TemporalArgs},
    controller::{self, Context},
    crd,
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
    let signal = async {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
    };
    controller::run(client, ctx, scopes, args.concurrency, signal).await;
    Ok(())
}
