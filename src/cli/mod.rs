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

/// 2 for bad input (recipes, unknown manifests, flags, and data whose content is wrong — see
/// [`balmix::data::DataError::is_bad_input`]), 128 + the signal for a run stopped by an
/// interrupt (130 for SIGINT, 143 for SIGTERM), 1 for everything else (I/O, fetching, tools,
/// the cache, a download's checksum, a diverged run…).
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    for c in err.chain() {
        if let Some(balmix::train::run::RunError::Stopped { signal, .. }) = c.downcast_ref() {
            return ExitCode::from(balmix::interrupt::exit_status(*signal));
        }
        if c.downcast_ref::<BadFlag>().is_some() {
            return ExitCode::from(2);
        }
        if let Some(e) = c.downcast_ref::<balmix::train::run::RunError>() {
            if e.is_bad_input() {
                return ExitCode::from(2);
            }
        }
    }
    let bad_input = err.chain().any(|c| {
        c.downcast_ref::<balmix::recipe::RecipeError>().is_some()
            || c.downcast_ref::<balmix::data::manifest::ManifestError>()
                .is_some()
            || data_error(c).is_some_and(balmix::data::DataError::is_bad_input)
    });
    if bad_input {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// The data error `c` is or wraps (run and saved-run errors show it transparently, so it is
/// not a link of its own in the chain).
fn data_error<'a>(c: &'a (dyn std::error::Error + 'static)) -> Option<&'a balmix::data::DataError> {
    use balmix::train::{run::RunError, saved::SavedRunError};
    if let Some(d) = c.downcast_ref::<balmix::data::DataError>() {
        return Some(d);
    }
    match (
        c.downcast_ref::<RunError>(),
        c.downcast_ref::<SavedRunError>(),
    ) {
        (Some(RunError::Data(d)), _) | (_, Some(SavedRunError::Data(d))) => Some(d),
        _ => None,
    }
}
