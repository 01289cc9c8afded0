//! Entry points of the subcommands.

use std::process::ExitCode;

use crate::{
    config::{Cli, Command},
    crd,
};

/// Runs the chosen subcommand and returns the process exit code.
pub async fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Crds => print_crds(),
        Command::Run(_) | Command::Sync(_) => ExitCode::FAILURE,
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
