//! The model: runtime-width layers on dfdx tensors ([`layers`], [`conv`], [`host`]), the
//! encoders, each kind building itself ([`encoder`]; ResNet-18 with batch norm and its
//! train/eval [`resnet::Mode`] in [`resnet`]), the named parameter store with its buffers
//! ([`params`]) and its gradients ([`grads`]), devices ([`backend`]), cross-modal blocks
//! between the encoders' stages ([`exchange`]) and the multimodal network ([`network`]).

pub mod backend;
pub mod config;
pub mod conv;
pub mod cosine;
pub mod encoder;
pub mod exchange;
pub mod fusion;
pub mod grads;
pub mod host;
pub mod layers;
pub mod network;
pub mod params;
pub mod resnet;
pub mod resolve;

pub use backend::Backend;
pub use network::Model;
pub use params::{Dev, Matrix, ParamStore, Vector};
