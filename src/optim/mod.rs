//! The optimiser concern: its settings and rules ([`config`]), the update rules over the
//! parameter store with checkpointable state ([`optimizer`]), the per-epoch learning-rate
//! schedule ([`schedule`]) and the interface a step updates through ([`updater`]). It sits
//! above the model (it updates the model's parameters) and below the methods, so a method that
//! trains in stages can own optimisers of its own.

pub mod config;
pub mod optimizer;
pub mod schedule;
pub mod updater;
