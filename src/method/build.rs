//! Which method a recipe asks for.

use super::{agm, gblending, mixer, mla, mmpareto, multitask, ogm_ge, pmr, standard, Method};
use crate::model::Backend;
use crate::recipe::file::MethodKind;
use crate::recipe::Recipe;

/// The recipe's method: a method with its own step (`[method]`), else the
/// [`standard::Standard`] step with the recipe's mixer (`[mixup]`),
/// gradient editors (`[modulation]`) and loss terms (`[losses]`). `batches_per_epoch` is the
/// run's number of steps per epoch (MLA's projection schedule uses it). Each part's file decides
/// from the recipe whether it applies.
pub fn build<D: Backend>(recipe: &Recipe, batches_per_epoch: usize) -> Box<dyn Method<D>> {
    match recipe.method().kind {
        MethodKind::Mmpareto => return Box::new(mmpareto::from_recipe(recipe)),
        MethodKind::Agm => return Box::new(agm::from_recipe(recipe)),
        MethodKind::Mla => return Box::new(mla::from_recipe(recipe, batches_per_epoch)),
        MethodKind::Gblending => return Box::new(gblending::from_recipe(recipe)),
        MethodKind::Standard => {}
    }
    let editors = ogm_ge::from_recipe(recipe).into_iter().collect();
    let losses = multitask::from_recipe(recipe)
        .into_iter()
        .chain(pmr::from_recipe(recipe))
        .collect();
    Box::new(standard::Standard::new(
        mixer::build(recipe.mixup()),
        editors,
        losses,
    ))
}
