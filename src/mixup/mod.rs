//! Mixup, pure and small (docs/methods.md §1): pairing ([`pairing`]), λ draws ([`lambda`]), the mixing
//! of rows and labels ([`mix`]), contributions and their EMA ([`contribution`]), B-MM ratios
//! ([`balanced`]), OGM-GE coefficients ([`ogm`]) and the per-step plan ([`plan`]).
//!
//! Nothing here holds training state; the training loop calls [`plan::draw`] and
//! [`plan::plan`] once per step and applies the plan to its tensors.

pub mod balanced;
pub mod config;
pub mod contribution;
pub mod lambda;
pub mod mix;
pub mod ogm;
pub mod pairing;

pub mod plan;

pub use plan::{Draws, MixPlan};
