//! Training: the one training loop ([`trainer`]) and its batches ([`batch`]), evaluation ([`eval`]), checkpoints
//! ([`checkpoint`]), the mix-plan trace ([`trace`]), progress output ([`progress`]), the
//! per-seed driver ([`run`]), finished runs read back ([`saved`]) and as frozen models for a
//! method ([`frozen`]), the step benchmark ([`bench`]) and the core's measured peak
//! ([`peak`]). What a step computes is behind [`crate::method`]; what a run leaves behind
//! (and the run-directory lock) is [`crate::record`].

pub mod batch;
pub mod bench;
pub mod checkpoint;
pub mod eval;
pub mod frozen;
pub mod peak;
pub mod progress;
pub mod robustness;
pub mod run;
pub mod saved;
pub mod trace;
pub mod trainer;
