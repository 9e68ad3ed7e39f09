//! Training: optimisers ([`optim`]), learning-rate schedules ([`lr`]), the one training loop ([`trainer`]) and its batches ([`batch`]),
//! gradient modulation ([`modulation`]), evaluation ([`eval`]), metrics ([`metrics`]),
//! checkpoints ([`checkpoint`]), run records ([`record`]), the run-directory lock ([`lock`]),
//! the mix-plan trace ([`trace`]), progress output ([`progress`]), the per-seed driver
//! ([`run`]) and the step benchmark ([`bench`]).

pub mod batch;
pub mod bench;
pub mod checkpoint;
pub mod eval;
pub mod lock;
pub mod lr;
pub mod metrics;
pub mod modulation;
pub mod optim;
pub mod progress;
pub mod record;
pub mod run;
pub mod trace;
pub mod trainer;
