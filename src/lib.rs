//! # balmix
//!
//! A declarative, config-driven reproduction harness for balanced multimodal mixup
//! ("Mixup Helps Understanding Multimodal Video Better", arXiv 2510.10986): one recipe file runs
//! one experiment on a deterministic dfdx runtime.
//!
//! The data flows one way, one module per stage:
//!
//! * [`manifest`] — what a dataset is: classes, modalities, sources, checksums, splits;
//! * [`recipe`] — recipe files (TOML/YAML, `extends`, `--set`, `BALMIX_*`), validated into a
//!   [`recipe::Recipe`];
//! * [`data`] — manifests and sources, splits, standardisation;
//! * [`model`] — runtime-width layers on dfdx tensors, encoders, fusion, head, probes;
//! * [`mixup`] — pairing, λ, MM, B-MM, contributions, OGM-GE coefficients (pure functions);
//! * [`method`] — training methods behind one seam (mixers, gradient editors, loss terms);
//! * [`train`] — optimisers, schedules, the training loop, evaluation, checkpoints, run records;
//! * [`record`] — run records: the run directory, metrics, summaries, run identity;
//! * [`table`] — table files run (or reused) over seeds with parallel jobs;
//! * [`report`] — the report of a table (Markdown, CSV, JSON) and SVG plots;
//! * [`rng`] — the named random streams that make every run reproducible;
//! * [`interrupt`] — SIGINT/SIGTERM/SIGHUP as a flag checked at step boundaries;
//! * [`term`] — output that a closed pipe cannot turn into a panic.
//!
//! ```no_run
//! use balmix::{recipe::Recipe, train::run::{run_seed, RunOptions}};
//! let recipe = Recipe::load("recipes/quickstart.toml".as_ref(), &[]).unwrap();
//! let outcome = run_seed(&recipe, recipe.seeds()[0], &RunOptions::default()).unwrap();
//! match outcome.summary() {
//!     Some(s) => println!("test accuracy {:.3}", s.test_accuracy),
//!     None => println!("stopped early; continue with resume"),
//! }
//! ```
#![warn(missing_docs)]

pub mod atomic_file;
pub mod build_info;
pub mod config_problem;
pub mod data;
pub mod digest;
pub mod epoch_window;
pub mod interrupt;
pub mod kind_keys;
pub mod kind_name;
pub mod kmeans;
pub mod manifest;
pub mod media;
pub mod method;
pub mod mixup;
pub mod model;
pub mod optim;
pub mod recipe;
pub mod record;
pub mod report;
pub mod rng;
pub mod table;
pub mod term;
pub mod train;

pub use build_info::{code_fingerprint, code_version};
