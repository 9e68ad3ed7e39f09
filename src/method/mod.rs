//! Training methods behind one seam. The training loop ([`crate::train::trainer`]) knows no
//! method by name: it builds a [`Method`] from [`config::MethodSettings`] (never from the
//! recipe), asks it to run each step (and gives it the epoch hooks), records what the step
//! reports, and checkpoints the method's state.
//!
//! * [`Method`] — the hooks: `epoch_start` (extra passes over the data), `step` (any number
//!   of forwards and backwards, gradient edits, one or several optimiser updates of chosen
//!   parameter groups), `epoch_end`, `predict`, and the state that goes into checkpoints;
//! * [`engine`] — what a step can use: the batch, encoding, trainable unimodal logits,
//!   backward with the divergence check, clipping and group-wise updates ([`StepContext`]);
//! * [`metrics`] — the named values a step reports and how an epoch reduces them; the loop,
//!   `metrics.csv` and TensorBoard take the names from the method;
//! * [`standard`] — the one-forward method most recipes use, assembled from three parts:
//!   a [`mixer::Mixer`] (where and how a batch is mixed: [`mixer`] for none, input mixup and
//!   MM, [`bmm`] for B-MM), gradient editors ([`ogm_ge`]) and extra loss terms ([`multitask`],
//!   [`pmr`]); the part traits are in [`parts`].
//!
//! The seam's hooks for what the methods still to come need, each with a do-nothing default
//! and a test method in `tests/seam.rs`: (a) trainable parameters a method owns
//! ([`Method::add_parameters`], group `Method`, saved and optimised with the model); (b)
//! optimisers it owns, one per training stage ([`Updater::export_state`] and
//! `import_state`), checkpointed through (c) state as tensors ([`Method::state_tensors`],
//! `method/<name>` in checkpoints); (d) per-sample loss weights that carry gradient
//! ([`weighted_loss`]); (e) the epoch's training list with duplicates and per-sample modality
//! zeroing ([`Method::epoch_samples`], [`epoch_samples`], the `resample` stream); (f) frozen
//! models from other finished runs, checked by their identity ([`Method::frozen_runs`],
//! [`frozen`]); (g) cross-modal blocks between the encoders' stages, a model concern a method
//! switches on ([`crate::model::exchange`], [`Method::encode_eval`]; the stages of mlp, conv
//! and ResNet-18 encoders).
//!
//! [`mmpareto`] (several backwards, per-loss gradients), [`agm`] (masked forwards, a
//! gradient-scaling point on mono-modal logits) [`mla`] (one update per modality per batch, a
//! method-specific `predict`) and [`gblending`] (model copies trained in the epoch hook) are
//! methods with their own step.
//!
//! A new method with its own step is its file — the [`Method`] impl, its config (the
//! `[method]` keys it takes, serde, with the doc comments `balmix keys` shows), its typed
//! settings, its checks (`resolve`, reporting a [`resolve::ConfigProblem`]) and how its
//! settings build it ([`own_step::OwnStep`]) — plus its `pub mod` line here and one line in
//! [`config`]'s list of methods (`MethodSection`, `Kind(ItsConfig) => ItsSettings`), from
//! which `registry`'s macro derives the kind, the typed choice, reading and resolving
//! `[method]`, the keys it takes and building it. `recipe/` reads `[method]` by the kind's
//! config and words its problems, and knows no method's keys; `balmix keys` reads every file
//! of this folder. `[modulation]` is read the same way (OGM-GE's `OgmGeConfig` in
//! [`ogm_ge`], `config::modulation_keys`), and `[losses.pmr]` is [`pmr`]'s `PmrConfig`. A new
//! part of the standard step (a mixer, an editor, a loss term) is its file and its line in
//! `build.rs`.

pub mod agm;
pub mod amco;
pub mod bmm;
mod build;
pub mod cml;
pub mod config;
pub mod engine;
pub mod epoch_samples;
pub mod frozen;
pub mod gblending;
pub mod hooks;
pub mod lfm;
pub mod mbsd;
pub mod metrics;
pub mod mixer;
pub mod mla;
pub mod mmcosine;
pub mod mmpareto;
pub mod multitask;
pub mod ogm_ge;
pub mod opm;
pub mod own_step;
pub mod parts;
pub mod pmr;
mod registry;
pub mod relearn;
pub mod resolve;
pub mod standard;
pub mod ume;
pub mod umt;
pub mod valuation;
pub mod weighted_loss;

pub use build::build;
pub use engine::{Divergence, StepContext, StepError, StepStats, Updater, UpdaterState};
pub use epoch_samples::EpochSamples;
pub use hooks::{EpochContext, Method};
