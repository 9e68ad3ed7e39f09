//! Which method a recipe asks for.

use super::{agm, gblending, mixer, mla, mmpareto, multitask, ogm_ge, pmr, standard, Method};
use crate::model::Backend;
use crate::recipe::typed::Method as Kind;
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
        mixer::build(recipe.mixer(), recipe.mixup()),
        editors,
        losses,
    ))
}
