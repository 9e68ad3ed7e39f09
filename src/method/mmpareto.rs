//! MMPareto (Wei & Hu, ICML 2024; docs/methods.md §3): a method with its own step, built on the
//! engine's fresh-gradient backward.
//!
//! The step captures, one backward each (so captures never mix — the zero between them is
//! built in), the encoder gradients of the fused loss L_mm = CE(f) and of each modality's own
//! loss L_m = CE(u_m): u_m from the modality's own linear head `unimodal_head.<m>` (the
//! released model, `method.unimodal_heads = "separate"`, default) or the fused head split by
//! modality, u_m = z_m W_mᵀ + b/M (BalanceBenchmark's port, `"split"`). Per modality, with g_mm and g_u its
//! whole-encoder gradients: if cos(g_mm, g_u) > 0 the weights are (½, ½), else the min-norm
//! point of the segment between them. Then every parameter holds the gradient of the uniform sum
//! L_mm + Σ_m L_m, and each encoder tensor p of modality m is replaced by
//! γ · (‖g_sum[p]‖ / ‖new‖) · new if ‖g_sum[p]‖ > ‖new‖, else γ · new, with
//! new = 2(k₀ g_mm[p] + k₁ g_u[p]) (γ · g_sum[p] when ‖new‖ ≈ 0: the NaN guard the released code
//! lacks). Heads keep g_sum. One update. Cost: M + 2 forwards and backwards per step; only the
//! first forward queues running-statistics updates (batch norm), as the released single
//! forward does — the others recompute it in [`Mode::TrainUnrecorded`].

use super::engine::{all_groups, StepContext, StepError, StepStats, NEEDS_DECOMPOSABLE_HEAD};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::model::grads::edit_grad;
use crate::model::layers::detach;
use crate::model::params::{Group, Matrix, Tape};
use crate::model::resnet::Mode;
use crate::model::Backend;
use dfdx::prelude::*;
use dfdx::tensor::Gradients;
use serde::{Deserialize, Serialize};

/// MMPareto's γ in the released code (hard-coded there).
pub const MMPARETO_GAMMA: f64 = 1.5;

/// `[method]` with `kind = "mmpareto"`: the keys MMPareto takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MmParetoConfig {
    /// mmpareto: γ, the factor on every encoder gradient. Default `1.5` (hard-coded in the
    /// released code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// mmpareto: where the unimodal logits come from. Default `"separate"`: a linear head per
    /// modality beside the fused head, as the released model has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unimodal_heads: Option<MmParetoHeads>,
}

/// Where MMPareto's unimodal logits come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MmParetoHeads {
    /// A linear head per modality (`unimodal_head.<modality>`), trained by its unimodal loss
    /// beside the fused head: the released model.
    #[default]
    Separate,
    /// The fused head split by modality, u_m = z_m W_mᵀ + b/M: BalanceBenchmark's port.
    Split,
}

/// MMPareto's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmParetoSettings {
    /// γ, the factor on every encoder gradient.
    pub gamma: f64,
    /// Where the unimodal logits come from.
    pub heads: MmParetoHeads,
}

impl MmParetoConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<MmParetoSettings, ConfigProblem> {
        let gamma = *self.gamma.get_or_insert(MMPARETO_GAMMA);
        ConfigProblem::positive("gamma", gamma)?;
        let heads = *self.unimodal_heads.get_or_insert_default();
        if heads == MmParetoHeads::Split && !cx.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "unimodal_heads".into(),
                what: Some("unimodal_heads = \"split"),
            });
        }
        Ok(MmParetoSettings { gamma, heads })
    }
}

/// MMPareto with its γ and where its unimodal logits come from.
pub struct MmPareto {
    gamma: f64,
    heads: MmParetoHeads,
}

/// Below this norm a combined gradient counts as zero.
const EPSILON: f64 = 1e-12;

/// The weights (k₀ on the fused-loss gradient, k₁ on the unimodal one) of one encoder: (½, ½)
/// without conflict (cos > 0), else the minimum-norm point of the segment between the two
/// gradients, clamped to [0.001, 0.999] as the released solver does at its ends.
pub fn pareto_weights(g_mm: &[f32], g_u: &[f32]) -> (f64, f64) {
    let dot =
        |a: &[f32], b: &[f32]| -> f64 { a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum() };
    let (mm, uu, mu) = (dot(g_mm, g_mm), dot(g_u, g_u), dot(g_mm, g_u));
    let cos = mu / (mm.sqrt() * uu.sqrt()).max(f64::MIN_POSITIVE);
    if cos > 0.0 {
        return (0.5, 0.5);
    }
    let k0 = if mu >= mm {
        0.999
    } else if mu >= uu {
        0.001
    } else {
        // ⟨g_u, g_u − g_mm⟩ / ‖g_mm − g_u‖²
        let denom = mm + uu - 2.0 * mu;
        if denom <= EPSILON {
            0.5
        } else {
            ((uu - mu) / denom).clamp(0.0, 1.0)
        }
    };
    (k0, 1.0 - k0)
}

/// The gradient of one encoder tensor from its three captures and the weights.
pub fn combine(
    g_mm: &[f32],
    g_u: &[f32],
    g_sum: &[f32],
    (k0, k1): (f64, f64),
    gamma: f64,
) -> Vec<f32> {
    let new: Vec<f64> = g_mm
        .iter()
        .zip(g_u)
        .map(|(&a, &b)| 2.0 * (k0 * a as f64 + k1 * b as f64))
        .collect();
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let new_norm = norm(&mut new.iter().copied());
    let sum_norm = norm(&mut g_sum.iter().map(|&x| x as f64));
    if new_norm < EPSILON {
        return g_sum.iter().map(|&x| (gamma * x as f64) as f32).collect();
    }
    let scale = if sum_norm > new_norm {
        sum_norm / new_norm
    } else {
        1.0
    };
    new.iter().map(|&x| (gamma * scale * x) as f32).collect()
}

/// Host copies of the gradients of the encoder parameters of modality `m` (store order).
fn encoder_grads<D: Backend>(
    cx: &StepContext<'_, D>,
    grads: &mut Gradients<f32, D>,
    m: usize,
) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for p in cx.model.store.trainable() {
        if p.group == Group::Encoder(m) {
            let mut copy = Vec::new();
            edit_grad(&cx.model.store.dev, grads, &p.tensor, &mut |g| {
                copy = g.to_vec()
            });
            out.push(copy);
        }
    }
    out
}

/// Modality `m`'s unimodal logits on its taped feature `z`: its own head (separate heads) or
/// the fused head split by modality.
fn unimodal_logits<D: Backend>(
    cx: &StepContext<'_, D>,
    heads: MmParetoHeads,
    m: usize,
    z: Matrix<D, Tape<D>>,
) -> Result<Matrix<D, Tape<D>>, StepError> {
    match heads {
        MmParetoHeads::Separate => Ok(cx.model.unimodal_heads[m].forward(z, &cx.model.store)),
        MmParetoHeads::Split => cx
            .model
            .unimodal_taped(m, z, cx.modalities())
            .ok_or(StepError::Unsupported(NEEDS_DECOMPOSABLE_HEAD)),
    }
}

impl OwnStep for MmParetoSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(MmPareto::new(self.gamma, self.heads))
    }
}

impl<D: Backend> Method<D> for MmPareto {
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let m_count = cx.modalities();
        let labels = cx.labels();
        let targets = cx.one_hot(&labels);
        let host = cx.host_batch()?;

        // The released code makes one forward (one running-statistics update per batch norm)
        // and back-propagates each loss from it with the graph retained. A dfdx tape serves
        // one backward, so the later captures recompute the forward in training mode without
        // a second running update: the same values and gradients.
        // L_mm alone.
        let zs = cx.encode(host.clone());
        // Host unimodal logits of the clean batch, for the contribution records.
        let unimodal: Vec<Vec<f32>> = match self.heads {
            MmParetoHeads::Separate => zs
                .iter()
                .zip(&cx.model.unimodal_heads)
                .map(|(z, head)| head.forward(detach(z), &cx.model.store).as_vec())
                .collect(),
            MmParetoHeads::Split => cx.model.unimodal(&zs),
        };
        let fused =
            cross_entropy_with_logits_loss(cx.model.head(cx.model.fuse(zs)), targets.clone());
        let loss_value = fused.as_vec()[0] as f64;
        let mut g_mm = cx.backward(fused)?;
        // Each L_m alone (its gradient on the other encoders is exactly zero).
        let mut g_u = Vec::with_capacity(m_count);
        for m in 0..m_count {
            let mut zs = cx.encode_mode(host.clone(), Mode::TrainUnrecorded);
            let z = zs.swap_remove(m);
            let u = unimodal_logits(cx, self.heads, m, z)?;
            let mut g = cx.backward(cross_entropy_with_logits_loss(
                u,
                cx.unimodal_targets(m, &labels),
            ))?;
            g_u.push(encoder_grads(cx, &mut g, m));
        }
        // The uniform sum, which the update starts from.
        let zs = cx.encode_mode(host, Mode::TrainUnrecorded);
        let mut total = cross_entropy_with_logits_loss(
            cx.model.head(
                cx.model
                    .fuse(zs.iter().map(|z| z.retaped::<Tape<D>>()).collect()),
            ),
            targets.clone(),
        );
        for (m, z) in zs.into_iter().enumerate() {
            let u = unimodal_logits(cx, self.heads, m, z)?;
            total = total + cross_entropy_with_logits_loss(u, cx.unimodal_targets(m, &labels));
        }
        let mut g_sum = cx.backward(total)?;

        let mut weights = Vec::with_capacity(m_count);
        for (m, g_u_m) in g_u.iter().enumerate() {
            let g_mm_m = encoder_grads(cx, &mut g_mm, m);
            let flat = |v: &[Vec<f32>]| v.concat();
            let w = pareto_weights(&flat(&g_mm_m), &flat(g_u_m));
            weights.push(w.0);
            let mut i = 0;
            for p in cx.model.store.trainable() {
                if p.group != Group::Encoder(m) {
                    continue;
                }
                let (a, b) = (&g_mm_m[i], &g_u_m[i]);
                edit_grad(&cx.model.store.dev, &mut g_sum, &p.tensor, &mut |g| {
                    let new = combine(a, b, g, w, self.gamma);
                    g.copy_from_slice(&new);
                });
                i += 1;
            }
        }
        cx.update(&mut g_sum, &all_groups)?;
        let contribution = cx.confidences(&unimodal, &labels);
        Ok(StepStats {
            loss: loss_value,
            contribution,
            contribution_ema: None,
            plan: None,
            // The weight on the fused-loss gradient per encoder (½ without conflict).
            coefficients: weights,
        })
    }
}

impl MmPareto {
    /// MMPareto with its γ and unimodal heads.
    pub fn new(gamma: f64, heads: MmParetoHeads) -> MmPareto {
        MmPareto { gamma, heads }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_a_half_each_without_conflict_and_min_norm_with_it() {
        assert_eq!(pareto_weights(&[1.0, 0.0], &[1.0, 1.0]), (0.5, 0.5));
        // Opposite gradients of norms 1 and 3: the min-norm point is 3/4 · g_mm + 1/4 · g_u = 0.
        let (k0, k1) = pareto_weights(&[1.0, 0.0], &[-3.0, 0.0]);
        assert!((k0 - 0.75).abs() < 1e-12 && (k1 - 0.25).abs() < 1e-12);
        // Orthogonal (cos = 0 is a conflict): d lies on the segment and ⟨d, g⟩ ≥ ‖d‖² for both.
        let (k0, k1) = pareto_weights(&[2.0, 0.0], &[0.0, 1.0]);
        let d = [2.0 * k0, k1];
        let dd = d[0] * d[0] + d[1] * d[1];
        assert!(k0 >= 0.0 && k1 >= 0.0 && (k0 + k1 - 1.0).abs() < 1e-12);
        assert!(d[0] * 2.0 >= dd - 1e-9 && d[1] >= dd - 1e-9);
    }

    #[test]
    fn a_zero_gradient_gives_no_nan() {
        let w = pareto_weights(&[0.0, 0.0], &[1.0, 2.0]);
        assert!(w.0.is_finite() && w.1.is_finite());
        let g = combine(&[0.0, 0.0], &[0.0, 0.0], &[1.0, 2.0], w, 1.5);
        assert_eq!(g, vec![1.5, 3.0]);
    }

    #[test]
    fn the_tensor_norm_is_gamma_times_the_larger_of_the_sum_and_the_combination() {
        let (gm, gu, gs) = ([1.0f32, 2.0], [3.0f32, -1.0], [10.0f32, 0.0]);
        let w = (0.5, 0.5);
        let out = combine(&gm, &gu, &gs, w, 1.5);
        let norm = (out[0] as f64).hypot(out[1] as f64);
        // new = (4, 1), ‖new‖ = √17 < ‖g_sum‖ = 10: rescaled to 10, times γ.
        assert!((norm - 15.0).abs() < 1e-5, "{norm}");
        let out = combine(&gm, &gu, &[0.1, 0.0], w, 1.5);
        assert_eq!(out, vec![6.0, 1.5]);
    }
}
