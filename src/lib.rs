//! # balmix
//!
//! A declarative, config-driven reproduction harness for balanced multimodal mixup
//! ("Mixup Helps Understanding Multimodal Video Better", arXiv 2510.10986): one recipe file runs
//! one experiment on a deterministic dfdx runtime.
//!
//! The data flows one way, one module per stage:
//!
//! * [`recipe`] — recipe files (TOML/YAML, `extends`, `--set`, `BALMIX_*`), validated into a
//!   [`recipe::Recipe`];
//! * [`data`] — manifests and sources, splits, standardisation;
//! * [`model`] — runtime-width layers on dfdx tensors, encoders, fusion, head, probes;
//! * [`mixup`] — pairing, λ, MM, B-MM, contributions, OGM-GE coefficients (pure functions);
//! * [`train`] — optimisers, schedules, the training loop, evaluation, checkpoints, run records;
//! * [`rng`] — the named random streams that make every run reproducible.
//!
//! ```no_run
//! use balmix::{recipe::Recipe, train::run::{run_seed, Outcome, RunOptions}};
//! let recipe = Recipe::load("recipes/quickstart.toml".as_ref(), &[]).unwrap();
//! match run_seed(&recipe, recipe.seeds()[0], &RunOptions::default()).unwrap() {
//!     Outcome::Trained(s) | Outcome::AlreadyComplete(s) => println!("test accuracy {:.3}", s.test_accuracy),
//!     Outcome::Stopped { epochs_done } => println!("stopped after {epochs_done} epochs"),
//! }
//! ```
#![warn(missing_docs)]

pub mod data;
pub mod mixup;
pub mod model;
pub mod recipe;
pub mod report;
pub mod rng;
pub mod train;

/// The code version recorded in runs and reports: crate version and git commit.
pub fn code_version() -> String {
    format!("{} ({})", env!("CARGO_PKG_VERSION"), env!("BALMIX_GIT"))
}
