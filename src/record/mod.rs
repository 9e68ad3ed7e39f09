//! Run records, written by training and read by tables and reports: the run directory and its
//! files ([`files`]), the per-epoch rows of `metrics.csv` ([`metrics`]) and what a finished or diverged run records ([`summary`]).

pub mod files;
pub mod metrics;
pub mod summary;

pub use files::*;
pub use summary::*;
