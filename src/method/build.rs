//! Which method a recipe asks for.

use super::config::{MethodSettings, Modulation};
use super::mixer::{self, MixAt};
use super::own_step::BuildContext;
use super::{bmm, multitask, ogm_ge, pmr, standard, Method};
use crate::mixup::config::MixPoint;
use crate::mixup::config::{MixKind, Mixer as MixerSettings};
use crate::model::Backend;

/// The method of `settings`: a method with its own step (`[method]`), else the
/// [`standard::Standard`] step with its mixer (`[mixup]`), gradient editors (`[modulation]`)
/// and loss terms (`[losses]`). Each part's file decides from the settings whether it applies.
pub fn build<D: Backend>(settings: &MethodSettings) -> Box<dyn Method<D>> {
    let cx = BuildContext {
        batch_size: settings.batch_size,
        steps_per_epoch: settings.steps_per_epoch,
    };
    if let Some(own) = settings.method.build_own(&cx) {
        return own;
    }
    let editors = match settings.modulation {
        Modulation::OgmGe(s) => vec![Box::new(ogm_ge::OgmGe::new(s)) as _],
        Modulation::None => Vec::new(),
    };
    let losses = multitask::from_settings(settings)
        .into_iter()
        .chain((settings.losses.pmr).map(|s| pmr::term(s, settings.batch_size)))
        .collect();
    Box::new(standard::Standard::new(
        mixer(&settings.mixer),
        editors,
        losses,
    ))
}

/// The recipe's mixer: a stateless [`mixer::Uniform`] (none, input mixup, MM) or B-MM.
fn mixer(settings: &MixerSettings) -> Box<dyn mixer::Mixer> {
    let draw = settings.draw;
    let uniform = |at| Box::new(mixer::Uniform::new(at, draw));
    match &settings.kind {
        MixKind::None => uniform(None),
        MixKind::Input => uniform(Some(MixAt::Input)),
        MixKind::Mm(point) => uniform(Some(match point {
            MixPoint::Fused => MixAt::Fused,
            MixPoint::Encoder => MixAt::Encoder,
        })),
        MixKind::Bmm(balance) => Box::new(bmm::Bmm::new(draw, balance.clone())),
    }
}
