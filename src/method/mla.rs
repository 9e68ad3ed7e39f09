//! MLA, multimodal learning with alternating unimodal adaptation (Zhang et al., CVPR 2024;
//! docs/methods.md §3), as a method with its own step: per batch, for each modality in recipe
//! order, encode that modality alone, take CE(H(z_m), y) through the shared head H (the head of
//! sum fusion), optionally project the head's weight gradient, and update that encoder and the
//! head only — one optimiser update per modality, the other encoders untouched (no gradient, so
//! neither momentum nor weight decay moves them).
//!
//! The projection (`method.projection`; off in the released code, whose hook matches no
//! parameter name): with t the batch index in the epoch and T the batches per epoch,
//! a = 0.1^(t/T + 1), r = the batch mean of z_m, k = P rᵀ, P ← P − (k kᵀ) ⊘ (a + k rᵀ) with
//! the outer product and element-wise division as the released code and BalanceBenchmark
//! compute it (`denominator = "outer"`; `"scalar"` divides by a + r k), P ← P / ‖P‖_F, then
//! G ← G Pᵀ (`replace`, the original intent) or G ← G + G Pᵀ (`add`, BalanceBenchmark), from
//! the second sub-step of training on. P starts as the identity and is checkpointed with the
//! sub-step counter.
//!
//! Prediction (`test_fusion`): by default the released code's fixed fusion, 0.55 H(z_1) +
//! 0.45 H(z_2) (`main(av_alpha = 0.55)`; its `--dynamic` flag is off unless given); `"batch-entropy"`
//! is the released dynamic fusion — per evaluation batch of `train.batch_size` rows, H(z_m) is
//! turned into probabilities by a softmax over the batch's rows (per class, the released
//! `dim=0`), its entropy summed over the batch is e_m, w_m = softmax over modalities of −e_m,
//! output Σ_m w_m H(z_m); `"sample-entropy"` weighs each sample on its own (BalanceBenchmark).

use super::engine::{StepContext, StepError, StepStats};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::mixup::config::Contribution;
use crate::mixup::mix;
use crate::model::config::Fusion;
use crate::model::grads::edit_grad;
use crate::model::params::{Group, Matrix};
use crate::model::{Backend, Model};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

/// `[method]` with `kind = "mla"`: the keys MLA takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MlaConfig {
    /// mla: the head-gradient projection. Default `"off"` (the released code never runs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<MlaProjection>,
    /// mla: the denominator of the projection update (with `projection` on). Default
    /// `"outer"`: the released code and BalanceBenchmark divide k kᵀ element-wise by a + k rᵀ,
    /// the outer product, so P is not symmetric; `"scalar"` divides by a + r k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<MlaDenominator>,
    /// mla: how prediction fuses the modalities' logits through the shared head. Default
    /// `"fixed"`: the released code's default (its `--dynamic` flag is off unless given); its
    /// README runs both, "fixed fusion" and "dynamic fusion" (`"batch-entropy"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fusion: Option<MlaTestFusion>,
}

/// MLA's gradient projection of the shared head's weight gradient G.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MlaProjection {
    /// No projection: the released code's behaviour (its hook matches no parameter name).
    #[default]
    Off,
    /// G ← G Pᵀ, the original intent.
    Replace,
    /// G ← G + G Pᵀ, BalanceBenchmark's version.
    Add,
}

/// The denominator of MLA's projection update P ← P − k kᵀ / (…).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MlaDenominator {
    /// a + k rᵀ, the outer product, element-wise (the released code and BalanceBenchmark).
    #[default]
    Outer,
    /// The scalar a + r k (a recursive-least-squares reading; P stays symmetric).
    Scalar,
}

/// How MLA's prediction fuses the modalities' logits H(z_m).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MlaTestFusion {
    /// One weight per modality per evaluation batch (`train.batch_size` rows): softmax over
    /// modalities of minus the entropy of H(z_m) softmaxed over the batch's rows (per class,
    /// as the released `calculate_entropy` does), summed — the released dynamic fusion
    /// (`--dynamic`).
    BatchEntropy,
    /// Per sample: softmax over modalities of −entropy(softmax(H(z_m,i))) (BalanceBenchmark's
    /// form; balmix's former default).
    SampleEntropy,
    /// Fixed weights 0.55 on the first modality and 0.45 on the second (the released code's
    /// default, `main(av_alpha = 0.55)`); two modalities.
    #[default]
    Fixed,
}

/// MLA's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MlaSettings {
    /// The head-gradient projection.
    pub projection: MlaProjection,
    /// The projection update's denominator.
    pub denominator: MlaDenominator,
    /// How prediction fuses the modalities.
    pub test_fusion: MlaTestFusion,
}

impl MlaConfig {
    /// The settings, every default written back into the config; checked (MLA trains every
    /// modality through sum fusion's shared head; fixed test fusion weighs two modalities).
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<MlaSettings, ConfigProblem> {
        let projection = *self.projection.get_or_insert_default();
        if *cx.fusion != Fusion::Sum {
            return Err(ConfigProblem::NeedsSharedHead);
        }
        let denominator = *self.denominator.get_or_insert_default();
        let test_fusion = *self.test_fusion.get_or_insert_default();
        if test_fusion == MlaTestFusion::Fixed && cx.modalities != 2 {
            return Err(ConfigProblem::NeedsTwoModalities {
                key: "test_fusion".into(),
                what: Some("mla with test_fusion = \"fixed\""),
            });
        }
        Ok(MlaSettings {
            projection,
            denominator,
            test_fusion,
        })
    }
}
/// MLA with its projection state.
pub struct Mla {
    projection: MlaProjection,
    denominator: MlaDenominator,
    test_fusion: MlaTestFusion,
    batch_size: usize,
    batches_per_epoch: usize,
    state: Projector,
}

/// The checkpointed state: P (`d × d`, row-major; empty until first used) and the number of
/// sub-steps taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Projector {
    /// The projection matrix.
    pub p: Vec<f64>,
    /// Sub-steps (optimiser updates) taken so far.
    pub substeps: u64,
}

impl Projector {
    /// One update of P with the batch-mean feature `r` (length d), schedule value `a` and the
    /// denominator rule.
    pub fn update(&mut self, r: &[f64], a: f64, denominator: MlaDenominator) {
        let d = r.len();
        if self.p.len() != d * d {
            self.p = (0..d * d)
                .map(|i| if i / d == i % d { 1.0 } else { 0.0 })
                .collect();
        }
        let k: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| self.p[i * d + j] * r[j]).sum())
            .collect();
        let rk: f64 = r.iter().zip(&k).map(|(a, b)| a * b).sum();
        for i in 0..d {
            for j in 0..d {
                let denom = match denominator {
                    // The released arithmetic: (k kᵀ) ⊘ (a + k rᵀ), element-wise.
                    MlaDenominator::Outer => a + k[i] * r[j],
                    MlaDenominator::Scalar => a + rk,
                };
                self.p[i * d + j] -= k[i] * k[j] / denom;
            }
        }
        let norm = self.p.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            self.p.iter_mut().for_each(|v| *v /= norm);
        }
    }

    /// G Pᵀ for a gradient G (`rows × d`).
    pub fn project(&self, g: &[f32], d: usize) -> Vec<f32> {
        let rows = g.len() / d.max(1);
        let mut out = vec![0f32; g.len()];
        for row in 0..rows {
            for i in 0..d {
                // (G Pᵀ)[row, i] = Σ_j G[row, j] P[i, j]
                let v: f64 = (0..d)
                    .map(|j| g[row * d + j] as f64 * self.p[i * d + j])
                    .sum();
                out[row * d + i] = v as f32;
            }
        }
        out
    }
}

/// The projection's regulariser a = 0.1^(t/T + 1) at global step `step`, with t the batch's
/// index in its epoch and T the batches per epoch.
pub fn schedule(step: u64, batches_per_epoch: usize) -> f64 {
    let per = batches_per_epoch.max(1);
    let t = (step as usize) % per;
    0.1f64.powf(t as f64 / per as f64 + 1.0)
}

/// Per-sample dynamic fusion weights of M modalities' logits (`n × k` each): softmax over
/// modalities of −entropy(softmax(u_m,i)).
pub fn dynamic_weights(logits: &[Vec<f32>], k: usize) -> Vec<Vec<f64>> {
    let n = logits.first().map_or(0, |u| u.len() / k.max(1));
    let entropies: Vec<Vec<f64>> = logits
        .iter()
        .map(|u| {
            let p = mix::softmax_rows(u, k);
            (0..n)
                .map(|i| {
                    -(0..k)
                        .map(|c| p[i * k + c])
                        .filter(|&x| x > 0.0)
                        .map(|x| x * x.ln())
                        .sum::<f64>()
                })
                .collect()
        })
        .collect();
    (0..n)
        .map(|i| {
            let neg: Vec<f64> = entropies.iter().map(|h| -h[i]).collect();
            let max = neg.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = neg.iter().map(|v| (v - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            e.iter().map(|v| v / sum).collect()
        })
        .collect()
}

/// Per-batch dynamic fusion weights (the released rule, main.py `calculate_entropy`): for each
/// modality the softmax of its logits u_m (`n × k`) taken over the batch's rows — per class
/// column, the released code's `dim=0` — and the entropy of that summed over rows and classes,
/// H_m; weights = softmax over modalities of −H_m.
pub fn batch_weights(logits: &[Vec<f32>], k: usize) -> Vec<f64> {
    let neg: Vec<f64> = logits
        .iter()
        .map(|u| {
            let n = u.len() / k.max(1);
            (0..k)
                .map(|c| {
                    let col: Vec<f64> = (0..n).map(|i| u[i * k + c] as f64).collect();
                    let max = col.iter().cloned().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = col.iter().map(|v| (v - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    e.iter()
                        .map(|v| v / sum)
                        .filter(|&x| x > 0.0)
                        .map(|x| x * x.ln())
                        .sum::<f64>()
                })
                .sum::<f64>()
        })
        .collect();
    let max = neg.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = neg.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// The fixed weights of the released code's `av_alpha`: 0.55 on the first modality, 0.45 on the
/// second.
pub const FIXED_WEIGHTS: [f64; 2] = [0.55, 0.45];

/// Fused logits Σ_m w_m,i u_m,i (`n × k`) of rows `rows` with per-row weights `w(i)`.
fn weighted_sum(
    logits: &[Vec<f32>],
    k: usize,
    n: usize,
    w: &dyn Fn(usize) -> Vec<f64>,
) -> Vec<f32> {
    let mut out = vec![0f32; n * k];
    for i in 0..n {
        let wi = w(i);
        for (m, u) in logits.iter().enumerate() {
            for c in 0..k {
                out[i * k + c] += (wi[m] * u[i * k + c] as f64) as f32;
            }
        }
    }
    out
}

/// MLA's prediction from each modality's shared-head logits (`n × k` each): `fusion`, with
/// evaluation batches of `batch` rows for the per-batch rule.
pub fn fuse_predictions(
    logits: &[Vec<f32>],
    k: usize,
    fusion: MlaTestFusion,
    batch: usize,
) -> Vec<f32> {
    let n = logits.first().map_or(0, |u| u.len() / k.max(1));
    match fusion {
        MlaTestFusion::SampleEntropy => {
            let weights = dynamic_weights(logits, k);
            weighted_sum(logits, k, n, &|i| weights[i].clone())
        }
        MlaTestFusion::Fixed => weighted_sum(logits, k, n, &|_| FIXED_WEIGHTS.to_vec()),
        MlaTestFusion::BatchEntropy => {
            let batch = batch.max(1);
            let weights: Vec<Vec<f64>> = (0..n)
                .step_by(batch)
                .map(|start| {
                    let end = (start + batch).min(n);
                    let part: Vec<Vec<f32>> = logits
                        .iter()
                        .map(|u| u[start * k..end * k].to_vec())
                        .collect();
                    batch_weights(&part, k)
                })
                .collect();
            weighted_sum(logits, k, n, &|i| weights[i / batch].clone())
        }
    }
}

impl OwnStep for MlaSettings {
    fn build<D: Backend>(&self, cx: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Mla::new(*self, cx.batch_size, cx.steps_per_epoch))
    }
}

impl<D: Backend> Method<D> for Mla {
    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let n = labels.len();
        let host = cx.host_batch()?;
        let a = schedule(cx.step, self.batches_per_epoch);
        let (mut losses, mut contribution) = (Vec::new(), Vec::new());
        for (m, rows) in host.into_iter().enumerate() {
            let z = cx.model.encode_input(m, rows, n);
            let z_host = z.as_vec();
            let u = cx.model.head(z);
            contribution.push(cx.contribution(
                m,
                Contribution::Confidence,
                &u.as_vec(),
                &[],
                &labels,
            ));
            // Only the rows where m is present (after modality dropout) count.
            let loss = cross_entropy_with_logits_loss(u, cx.unimodal_targets(m, &labels));
            losses.push(loss.as_vec()[0] as f64);
            let mut g = cx.backward(loss)?;
            if self.projection != MlaProjection::Off {
                let d = z_host.len() / n.max(1);
                if self.state.substeps > 0 {
                    let r: Vec<f64> = (0..d)
                        .map(|j| (0..n).map(|i| z_host[i * d + j] as f64).sum::<f64>() / n as f64)
                        .collect();
                    self.state.update(&r, a, self.denominator);
                    let head = &cx.model.store.params[cx.model.heads[0].weight].tensor;
                    let (projector, mode) = (&self.state, self.projection);
                    edit_grad(&cx.model.store.dev, &mut g, head, &mut |grad| {
                        let projected = projector.project(grad, d);
                        for (v, p) in grad.iter_mut().zip(projected) {
                            *v = match mode {
                                MlaProjection::Add => *v + p,
                                _ => p,
                            };
                        }
                    });
                }
            }
            cx.update(&mut g, &|group| {
                group == Group::Encoder(m) || group == Group::Fusion
            })?;
            self.state.substeps += 1;
        }
        Ok(StepStats {
            loss: losses.iter().sum::<f64>() / losses.len().max(1) as f64,
            contribution,
            contribution_ema: None,
            plan: None,
            coefficients: vec![1.0; losses.len()],
        })
    }

    fn predict(&self, model: &Model<D>, zs: Vec<Matrix<D>>) -> Vec<f32> {
        let logits: Vec<Vec<f32>> = zs.into_iter().map(|z| model.head(z).as_vec()).collect();
        fuse_predictions(&logits, model.classes, self.test_fusion, self.batch_size)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.state = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl Mla {
    /// MLA with its settings and the run's batch size and batches per epoch, before any step.
    pub fn new(
        MlaSettings {
            projection,
            denominator,
            test_fusion,
        }: MlaSettings,
        batch_size: usize,
        batches_per_epoch: usize,
    ) -> Mla {
        Mla {
            projection,
            denominator,
            test_fusion,
            batch_size,
            batches_per_epoch,
            state: Projector::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_schedule_is_a_tenth_to_the_power_of_one_plus_the_epoch_fraction() {
        // T = 4 batches per epoch: t = 0, 1, 2, 3, then the next epoch starts again at t = 0.
        let want = [
            0.1,
            0.1f64.powf(1.25),
            0.1f64.powf(1.5),
            0.1f64.powf(1.75),
            0.1,
        ];
        for (step, w) in want.iter().enumerate() {
            assert!((schedule(step as u64, 4) - w).abs() < 1e-15, "step {step}");
        }
        assert_eq!(schedule(7, 1), 0.1);
    }

    #[test]
    fn the_outer_denominator_breaks_symmetry_and_keeps_unit_frobenius_norm() {
        let mut p = Projector::default();
        let mut asymmetry = 0f64;
        for (t, r) in [[1.0, 0.5, -0.25], [0.2, -1.0, 0.7]].iter().enumerate() {
            p.update(r, 0.1f64.powf(t as f64 / 3.0 + 1.0), MlaDenominator::Outer);
            let norm = p.p.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12);
            for i in 0..3 {
                for j in 0..3 {
                    asymmetry = asymmetry.max((p.p[i * 3 + j] - p.p[j * 3 + i]).abs());
                }
            }
        }
        assert!(asymmetry > 1e-3, "P stayed symmetric: {asymmetry}");
    }

    #[test]
    fn the_scalar_projection_stays_symmetric_finite_and_of_unit_frobenius_norm() {
        let mut p = Projector::default();
        for (t, r) in [[1.0, 0.5, -0.25], [0.2, -1.0, 0.7], [3.0, 0.0, 1.0]]
            .iter()
            .enumerate()
        {
            p.update(r, 0.1f64.powf(t as f64 / 3.0 + 1.0), MlaDenominator::Scalar);
            let norm = p.p.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12);
            for i in 0..3 {
                for j in 0..3 {
                    assert!((p.p[i * 3 + j] - p.p[j * 3 + i]).abs() < 1e-12);
                    assert!(p.p[i * 3 + j].is_finite());
                }
            }
        }
        // G Pᵀ with P = I/√d scales G by 1/√d.
        let q = Projector {
            p: vec![0.5, 0.0, 0.0, 0.5],
            substeps: 0,
        };
        assert_eq!(
            q.project(&[2.0, 4.0, 6.0, 8.0], 2),
            vec![1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn dynamic_weights_favour_the_confident_modality_and_sum_to_one() {
        // Sample 0: modality 0 confident, modality 1 uniform; sample 1: both uniform.
        let u0 = vec![5.0, 0.0, 0.0, 0.0];
        let u1 = vec![0.0, 0.0, 0.0, 0.0];
        let w = dynamic_weights(&[u0, u1], 2);
        assert!(w[0][0] > w[0][1] && w[0].iter().all(|&x| x > 0.0));
        assert!((w[0].iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(w[1], vec![0.5, 0.5]);
    }
}
