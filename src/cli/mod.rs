//! Commands: `run`, `check`, `data`. anyhow lives here only.

mod args;
mod commands;
mod data;
mod table;

use anyhow::Result;
use clap::Parser;
use std::process::ExitCode;

pub use args::Cli;

/// Parse arguments and run the chosen command.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    commands::dispatch(cli)
}

/// 2 for bad input (recipes, unknown manifests), 1 for everything else.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    let bad_input = err.chain().any(|c| {
        c.downcast_ref::<balmix::recipe::RecipeError>().is_some()
            || c.downcast_ref::<balmix::data::manifest::ManifestError>()
                .is_some()
    });
    if bad_input {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
