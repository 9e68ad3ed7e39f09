//! The model: runtime-width layers on dfdx tensors ([`layers`]), the named parameter store
//! ([`params`]) and the multimodal network ([`network`]).

pub mod backend;
pub mod conv;
pub mod host;
pub mod layers;
pub mod network;
pub mod params;

pub use backend::Backend;
pub use network::Model;
pub use params::{Dev, Matrix, ParamStore, Vector};
