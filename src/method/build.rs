//! Which method a recipe asks for.

use super::mixer::{self, MixAt};
use super::{agm, bmm, gblending, mla, mmpareto, multitask, ogm_ge, pmr, standard, Method};
use crate::model::Backend;
use crate::recipe::file::{MixPoint, MixupSection};
use crate::recipe::typed::{self, Method as Kind};
use crate::recipe::Recipe;

/// The recipe's method: a method with its own step (`[method]`), else the
/// [`standard::Standard`] step with the recipe's mixer (`[mixup]`),
/// gradient editors (`[modulation]`) and loss terms (`[losses]`). `batches_per_epoch` is the
/// run's number of steps per epoch (MLA's projection schedule uses it). Each part's file decides
/// from the recipe whether it applies.
pub fn build<D: Backend>(recipe: &Recipe, batches_per_epoch: usize) -> Box<dyn Method<D>> {
    match *recipe.method() {
        Kind::Mmpareto { gamma, heads } => return Box::new(mmpareto::MmPareto::new(gamma, heads)),
        Kind::Agm(cfg) => return Box::new(agm::Agm::new(cfg)),
        Kind::Mla {
            projection,
            denominator,
            test_fusion,
        } => {
            return Box::new(mla::Mla::new(
                (projection, denominator, test_fusion),
                recipe.train().batch_size,
                batches_per_epoch,
            ))
        }
        Kind::Gblending {
            super_epoch,
            estimate,
        } => {
            let batch_size = recipe.train().batch_size;
            return Box::new(gblending::GBlending::new(super_epoch, estimate, batch_size));
        }
        Kind::Standard => {}
    }
    let editors = ogm_ge::from_recipe(recipe).into_iter().collect();
    let losses = multitask::from_recipe(recipe)
        .into_iter()
        .chain(pmr::from_recipe(recipe))
        .collect();
    Box::new(standard::Standard::new(
        mixer(recipe.mixer(), recipe.mixup()),
        editors,
        losses,
    ))
}

/// The recipe's mixer: a stateless [`mixer::Uniform`] (none, input mixup, MM) or B-MM.
fn mixer(kind: &typed::Mixer, cfg: &MixupSection) -> Box<dyn mixer::Mixer> {
    let uniform = |at| Box::new(mixer::Uniform::new(at, cfg.clone()));
    match kind {
        typed::Mixer::None => uniform(None),
        typed::Mixer::Input => uniform(Some(MixAt::Input)),
        typed::Mixer::Mm(point) => uniform(Some(match point {
            MixPoint::Fused => MixAt::Fused,
            MixPoint::Encoder => MixAt::Encoder,
        })),
        typed::Mixer::Bmm(balance) => Box::new(bmm::Bmm::new(cfg, balance.clone())),
    }
}
