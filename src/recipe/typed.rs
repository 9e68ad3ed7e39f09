//! The resolved recipe as the engine reads it: one enum per choice (optimiser, schedule,
//! encoder, fusion, mixer, gradient modulation, method), each variant carrying its own
//! parameters with every default applied. Only validation builds these, so no code downstream
//! unwraps an option "because validation filled it in"; each default that depends on a kind
//! is a constant here, and validation is the one place that applies it.

pub use crate::data::robustness::Robustness;
pub use crate::method::config::{
    AgmSettings, GblendingSettings, Losses, Method, MlaSettings, MmParetoSettings, Modulation,
    OgmGeSettings, PmrSettings, AGM_ALPHA, AGM_CLIP_NORM, AGM_CLIP_TRIGGER, GBLENDING_SUPER_EPOCH,
    MMPARETO_GAMMA, OGM_ALPHA, OGM_NOISE,
};
pub use crate::mixup::config::{MixKind, Mixer};
pub use crate::model::config::{Encoder, EncoderBody, Fusion, Model, CONV_KERNEL, RESNET_WIDTH};
pub use crate::optim::config::{
    Optimizer, Schedule, ScheduleShape, UpdateRule, ADAM_BETAS, ADAM_EPS, COSINE_MIN_LR,
    SGD_MOMENTUM, STEP_GAMMA,
};
