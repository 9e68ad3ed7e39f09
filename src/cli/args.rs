//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// balmix — reproduce balanced multimodal mixup (MM, B-MM) from declarative recipes.
#[derive(Debug, Parser)]
#[command(name = "balmix", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a recipe: one run per seed, recorded under OUT/<name>/seed-<n>/.
    Run(RunArgs),
    /// Validate a recipe and print it fully resolved (every default written out).
    Check(RecipeArgs),
}

/// A recipe and its overrides.
#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// Recipe file (.toml, .yaml or .yml).
    pub recipe: PathBuf,
    /// Override a key: --set mixup.alpha=0.2 (value parsed as TOML, else a string). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// `balmix run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The recipe.
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Root folder of run directories.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Delete existing runs of this recipe's seeds and train again.
    #[arg(long)]
    pub force: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// CPU threads for the kernels (same as --set train.threads=N; results do not change).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write every step's mix plan (pairs, λ per modality, label λ, contributions) to this CSV.
    /// With several seeds, `.seed-<n>` is added before the extension.
    #[arg(long, value_name = "FILE.csv")]
    pub trace_mixup: Option<PathBuf>,
    /// Download cache folder (default: $BALMIX_CACHE, else ~/.cache/balmix).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}
