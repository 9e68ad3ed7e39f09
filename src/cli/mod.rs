//! Commands: `run`, `check`, `data`, `table`, `plot`, `bench`, `eval`. anyhow lives here only.

mod args;
mod commands;
mod data;
mod eval;
mod table;

use anyhow::Result;
use clap::Parser;
use std::process::ExitCode;

pub use args::Cli;

/// A command-line flag with a value it cannot take (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {problem}")]
pub struct BadFlag {
    /// The flag, e.g. `--threads`.
    pub flag: &'static str,
    /// What is wrong and how to fix it.
    pub problem: String,
}

/// Parse arguments and run the chosen command.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    commands::dispatch(cli)
}

/// 2 for bad input (recipes, unknown manifests, flags), 128 + the signal for a run stopped by
/// an interrupt (130 for SIGINT, 143 for SIGTERM), 1 for everything else.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    for c in err.chain() {
        if let Some(balmix::train::run::RunError::Stopped { signal, .. }) = c.downcast_ref() {
            return ExitCode::from(balmix::interrupt::exit_status(*signal));
        }
        if c.downcast_ref::<BadFlag>().is_some() {
            return ExitCode::from(2);
        }
    }
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
