//! Which method a recipe asks for.

use super::config::{Method as Kind, MethodSettings, Modulation};
use super::mixer::{self, MixAt};
use super::{
    agm, amco, bmm, cml, gblending, lfm, mbsd, mla, mmcosine, mmpareto, multitask, ogm_ge, opm,
    pmr, standard, Method,
};
use crate::mixup::config::MixPoint;
use crate::mixup::config::{MixKind, Mixer as MixerSettings};
use crate::model::Backend;

/// The method of `settings`: a method with its own step (`[method]`), else the
/// [`standard::Standard`] step with its mixer (`[mixup]`), gradient editors (`[modulation]`)
/// and loss terms (`[losses]`). Each part's file decides from the settings whether it applies.
pub fn build<D: Backend>(settings: &MethodSettings) -> Box<dyn Method<D>> {
    match settings.method {
        Kind::Mmpareto(s) => return Box::new(mmpareto::MmPareto::new(s.gamma, s.heads)),
        Kind::Agm(s) => return Box::new(agm::Agm::new(s)),
        Kind::Mla(s) => {
            return Box::new(mla::Mla::new(
                s,
                settings.batch_size,
                settings.steps_per_epoch,
            ))
        }
        Kind::Gblending(s) => {
            return Box::new(gblending::GBlending::new(
                s.super_epoch,
                s.estimate,
                settings.batch_size,
            ));
        }
        Kind::Mmcosine(s) => return Box::new(mmcosine::MmCosine::new(s)),
        Kind::Cml(s) => return Box::new(cml::Cml::new(s)),
        Kind::Mbsd(s) => return Box::new(mbsd::Mbsd::new(s)),
        Kind::Amco(s) => return Box::new(amco::Amco::new(s)),
        Kind::Opm(s) => return Box::new(opm::Opm::new(s)),
        Kind::Lfm(s) => return Box::new(lfm::Lfm::new(s, settings.batch_size)),
        Kind::Standard => {}
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
