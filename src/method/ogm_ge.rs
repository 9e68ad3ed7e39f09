//! OGM-GE as a gradient editor of the [`super::standard`] method (docs/methods.md §3): between
//! backward and the update, within its epoch window, each modality's encoder weight gradients
//! are scaled by k_m and get generalisation-enhancement noise. The coefficients are the pure
//! maths of [`crate::mixup::ogm`]; the edit itself is [`crate::train::modulation::modulate`].

use super::engine::StepContext;
use super::parts::GradientEditor;
use crate::model::Backend;
use crate::recipe::typed::{self, Modulation};
use crate::recipe::Recipe;
use dfdx::tensor::Gradients;

/// OGM-GE with the recipe's `[modulation]`.
pub struct OgmGe {
    cfg: typed::OgmGe,
}

impl<D: Backend> GradientEditor<D> for OgmGe {
    fn edit(
        &mut self,
        cx: &StepContext<'_, D>,
        grads: &mut Gradients<f32, D>,
        unimodal: &[Vec<f32>],
        labels: &[usize],
    ) -> Vec<f64> {
        // Each modality's score over the rows where it is present (after modality dropout).
        let scores: Vec<f64> = unimodal
            .iter()
            .enumerate()
            .map(|(m, u)| cx.label_score(m, u, labels))
            .collect();
        crate::train::modulation::modulate_scored(
            &self.cfg,
            cx.model,
            grads,
            &scores,
            (cx.seed, cx.step, cx.epoch),
        )
    }
}

/// The recipe's OGM-GE editor, if `[modulation]` asks for it.
pub fn from_recipe<D: Backend>(recipe: &Recipe) -> Option<Box<dyn GradientEditor<D>>> {
    match *recipe.modulation() {
        Modulation::OgmGe(cfg) => Some(Box::new(OgmGe { cfg })),
        Modulation::None => None,
    }
}
