//! The model: runtime-width layers on dfdx tensors ([`layers`], [`conv`], [`host`]), the
//! named parameter store ([`params`]) and its gradients ([`grads`]), devices ([`backend`]) and
//! the multimodal network ([`network`]).

pub mod backend;
pub mod conv;
pub mod grads;
pub mod host;
pub mod layers;
pub mod network;
pub mod params;

pub use backend::Backend;
pub use network::Model;
pub use params::{Dev, Matrix, ParamStore, Vector};
