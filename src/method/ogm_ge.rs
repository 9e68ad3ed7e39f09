//! OGM-GE as a gradient editor of the [`super::standard`] method (docs/methods.md §3): between
//! backward and the update, within its epoch window, each modality's encoder weight gradients
//! are scaled by k_m and get generalisation-enhancement noise. The coefficients are the pure
//! maths of [`crate::mixup::ogm`]; the edit itself is [`modulate`] (this file).

use super::engine::StepContext;
use super::parts::GradientEditor;
use super::resolve::{ConfigProblem, MethodContext};
use crate::epoch_window::EpochWindow;
use crate::mixup::config::OgmVariant;
use crate::mixup::{mix, ogm};
use crate::model::grads::edit_grad;
use crate::model::params::{Group, ParamTensor};
use crate::model::{Backend, Model};
use crate::rng::{stream, Stream};
use dfdx::tensor::Gradients;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// OGM-GE: α (OGM-GE's CREMA-D setting).
pub const OGM_ALPHA: f64 = 0.8;

/// OGM-GE: generalisation-enhancement noise on.
pub const OGM_NOISE: bool = true;

/// `[modulation]` with `kind = "ogm-ge"`: the keys OGM-GE takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct OgmGeConfig {
    /// ogm-ge: α of k_m = 1 − tanh(α ρ_m). Default `0.8` (OGM-GE's CREMA-D setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// ogm-ge: add N(0, std(g)) to modulated gradients (GE). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<bool>,
    /// ogm-ge: epoch window of the modulation. Default: every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
    /// ogm-ge: `published` (Eq. 10 as the public code computes it) or `continuous`. Default
    /// `"published"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<OgmVariant>,
    /// ogm-ge: which encoder gradients are modulated. Default `"weights"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<OgmParams>,
}

/// Which encoder parameters OGM-GE modulates (biases never).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OgmParams {
    /// Every weight matrix of the encoder (linear and convolution): the choice for MLP encoders.
    #[default]
    Weights,
    /// Only the convolution weights, as the released code does (its 4-D tensors); needs a conv
    /// or resnet18 encoder.
    ConvWeights,
}

/// OGM-GE's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OgmGeSettings {
    /// α of the coefficient.
    pub alpha: f64,
    /// Generalisation-enhancement noise.
    pub noise: bool,
    /// Epochs `[start, stop)` in which gradients are modulated.
    pub window: EpochWindow,
    /// Coefficient formula.
    pub variant: OgmVariant,
    /// Which encoder gradients are modulated.
    pub params: OgmParams,
}

impl OgmGeConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<OgmGeSettings, ConfigProblem> {
        if cx.modalities < 2 {
            return Err(ConfigProblem::NeedsTwoModalities {
                key: "kind".into(),
                what: None,
            });
        }
        let alpha = *self.alpha.get_or_insert(OGM_ALPHA);
        ConfigProblem::in_range("alpha", alpha, "[0, ∞)", |v| v >= 0.0)?;
        let window = ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, cx.epochs)?;
        let params = *self.params.get_or_insert_default();
        if params == OgmParams::ConvWeights && !cx.convolutional {
            return Err(ConfigProblem::NeedsConvolutions {
                key: "params".into(),
            });
        }
        Ok(OgmGeSettings {
            alpha,
            noise: *self.noise.get_or_insert(OGM_NOISE),
            window,
            variant: *self.variant.get_or_insert_default(),
            params,
        })
    }
}

/// OGM-GE with the recipe's `[modulation]`.
pub struct OgmGe {
    cfg: OgmGeSettings,
}

impl OgmGe {
    /// The editor with `settings`.
    pub fn new(settings: OgmGeSettings) -> OgmGe {
        OgmGe { cfg: settings }
    }
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
        modulate_scored(
            &self.cfg,
            cx.model,
            grads,
            &scores,
            (cx.seed, cx.step, cx.epoch),
        )
    }
}

/// OGM-GE: scale each modality's encoder weight gradients by k_m and add GE noise, inside
/// the modulation window. MLP encoders: every weight matrix of the encoder is modulated
/// (the public code modulates the 4-D convolution weights; biases are left alone in both).
pub fn modulate<D: Backend>(
    cfg: &OgmGeSettings,
    model: &Model<D>,
    grads: &mut dfdx::tensor::Gradients<f32, D>,
    unimodal: &[Vec<f32>],
    labels: &[usize],
    (seed, step, epoch): (u64, u64, usize),
) -> Vec<f64> {
    let k = model.classes;
    let scores: Vec<f64> = unimodal
        .iter()
        .map(|u| {
            let p = mix::softmax_rows(u, k);
            labels.iter().enumerate().map(|(i, &y)| p[i * k + y]).sum()
        })
        .collect();
    modulate_scored(cfg, model, grads, &scores, (seed, step, epoch))
}

/// [`modulate`] from each modality's score s_m = Σ_i softmax(u_m)_i,y_i, already computed
/// (e.g. over the rows where the modality is present).
pub fn modulate_scored<D: Backend>(
    cfg: &OgmGeSettings,
    model: &Model<D>,
    grads: &mut dfdx::tensor::Gradients<f32, D>,
    scores: &[f64],
    (seed, step, epoch): (u64, u64, usize),
) -> Vec<f64> {
    if !cfg.window.contains(epoch) {
        return vec![1.0; scores.len()];
    }
    let coeff = ogm::coefficients(scores, cfg.alpha, cfg.variant);
    let noise = cfg.noise;
    let only_conv = cfg.params == OgmParams::ConvWeights;
    let mut rng = stream(seed, Stream::Noise, step);
    for p in model.store.trainable() {
        let (Group::Encoder(m), ParamTensor::Matrix(_)) = (p.group, &p.tensor) else {
            continue;
        };
        if only_conv && !p.conv {
            continue;
        }
        let km = coeff[m] as f32;
        edit_grad(&model.store.dev, grads, &p.tensor, &mut |g| {
            let std = if noise { std_dev(g) + 1e-8 } else { 0.0 };
            for v in g.iter_mut() {
                *v *= km;
                if noise {
                    let z: f64 = rng.sample(StandardNormal);
                    *v += (z * std) as f32;
                }
            }
        });
    }
    coeff
}

fn std_dev(g: &[f32]) -> f64 {
    let n = g.len().max(1) as f64;
    let mean = g.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = g.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    var.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: `ogm.ge_noise` of tests/reference/reference.json (numpy's Bessel-corrected
    /// std of the unscaled gradient, as torch's `grad.std()` in the public OGM-GE code).
    #[test]
    fn gradient_std_matches_the_reference() {
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/reference/reference.json"))
                .expect("reference JSON");
        let ge = &reference["ogm"]["ge_noise"];
        let g: Vec<f32> = ge["gradient"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let want = ge["std_original"].as_f64().unwrap();
        assert!(
            (std_dev(&g) - want).abs() <= 1e-12 * want,
            "{} vs {want}",
            std_dev(&g)
        );
        // The scaled gradient's std is a different number: the test can tell them apart.
        let scaled = ge["std_scaled"].as_f64().unwrap();
        assert!((want - scaled).abs() > 0.1 * want);
    }
}
