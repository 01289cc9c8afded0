//! The `curator-operator` binary: parses flags and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use curator_operator::{app, config::Cli};

#[tokio::main]
async fn main() -> ExitCode {
    app::main(Cli::parse()).await
}
