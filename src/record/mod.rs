//! Run records, written by training and read by tables and reports: the run directory and its
//! files ([`files`]), the per-epoch rows of `metrics.csv` ([`metrics`]) what a finished or diverged run records ([`summary`]), its scores under test-time corruptions ([`robustness`]) and its TensorBoard event file ([`tensorboard`]).

pub mod files;
pub mod lock;
pub mod metrics;
pub mod robustness;
pub mod summary;
pub mod tensorboard;

pub use files::*;
pub use robustness::*;
pub use summary::*;
