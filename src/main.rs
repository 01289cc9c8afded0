//! The `curator-operator` binary: parses flags and hands over to the library.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use curator_operator::{app, config::Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(app::main(cli));
    // A blocking task still running (a DNS lookup that hangs) never holds the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}
