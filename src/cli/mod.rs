//! Commands: `run`, `check`. anyhow lives here only.

mod args;
mod commands;

use anyhow::Result;
use clap::Parser;
use std::process::ExitCode;

pub use args::Cli;

/// Parse arguments and run the chosen command.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    commands::dispatch(cli)
}

/// 2 for bad input (recipes), 1 for everything else.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    if err
        .chain()
        .any(|c| c.downcast_ref::<balmix::recipe::RecipeError>().is_some())
    {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
