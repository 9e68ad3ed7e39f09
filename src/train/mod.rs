//! Training: optimisers ([`optim`]), learning-rate schedules ([`lr`]), the one training loop
//! ([`trainer`]) and its batches ([`batch`]),
//! evaluation ([`eval`]), checkpoints ([`checkpoint`]), the run-directory lock ([`lock`]), the
//! mix-plan trace ([`trace`]), progress output ([`progress`]), the per-seed driver ([`run`])
//! the step benchmark ([`bench`]) and the core's measured peak ([`peak`]). What a step computes is behind [`crate::method`]; what a
//! run leaves behind is [`crate::record`].

pub mod batch;
pub mod bench;
pub mod checkpoint;
pub mod eval;
pub mod lr;
pub mod optim;
pub mod peak;
pub mod progress;
pub mod robustness;
pub mod run;
pub mod saved;
pub mod trace;
pub mod trainer;
