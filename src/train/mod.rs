//! Training: optimisers ([`optim`]), learning-rate schedules ([`lr`]), the one training loop
//! ([`trainer`]), evaluation ([`eval`]), metrics ([`metrics`]), checkpoints ([`checkpoint`]),
//! run records ([`record`]), the mix-plan trace ([`trace`]) and the per-seed driver ([`run`]).

pub mod batch;
pub mod bench;
pub mod checkpoint;
pub mod eval;
pub mod lr;
pub mod metrics;
pub mod modulation;
pub mod optim;
pub mod progress;
pub mod record;
pub mod run;
pub mod trace;
pub mod trainer;
