//! Modality valuation (Wei et al., CVPR 2024, "Enhancing multimodal cooperation via
//! sample-level modality valuation"), as BalanceBenchmark's `Sample_trainer.py`,
//! `evaluation/modalitys.py` (`Calculate_Shapley_Sample`) and `datasets/__init__.py` run it
//! (docs/methods.md §3).
//!
//! The step is the plain fused cross-entropy. From epoch `warmup_epochs` on, each epoch's
//! training list is rebuilt before its first step (seam hook (e)):
//!
//! 1. Every training sample's Shapley value per modality, φ_m(i) = Σ_{S ⊆ M∖{m}}
//!    |S|!(M−|S|−1)!/M! · (v(S∪{m}) − v(S)), where v(S) is 1 when the model (evaluation mode,
//!    no gradient) predicts the sample's label with the inputs of the modalities outside S
//!    zeroed (and still encoded), and v(∅) = 0.
//! 2. `level = "modality"` (released default): the mean φ_m over `part_ratio`·n training
//!    samples drawn with replacement, gap_m = 1 − mean, D = (2/3)·Σ_{m≠m'} |gap_m − gap_m'| /
//!    (M − 1); ⌊D·n⌋ samples drawn with replacement are appended M times each, the copy for
//!    modality m with every modality of smaller gap than m's zeroed.
//!    `level = "sample"`: each sample gains, per modality m, 1, 2 or 3 copies when φ_m lies in
//!    (0.4, 1), (−0.1, 0.4) or below −0.1, each copy with every modality but m zeroed.
//! 3. The whole list is shuffled. All draws come from the `resample` stream of the epoch.
//!
//! Designed out, as documented in docs/methods.md: BalanceBenchmark creates the subset cache of
//! `Calculate_Shapley_Sample` once, outside its batch loop, so every batch reuses batch 0's
//! correctness; it reads `model.pridiction` (a typo of `prediction`); it considers only the
//! first multiple of 64 training samples and rebuilds its loader with batch size 64 whatever
//! the recipe says. balmix values every sample on its own inputs, considers every training
//! sample and keeps `train.batch_size`.

use super::engine::{StepContext, StepError, StepStats};
use super::epoch_samples::EpochSamples;
use super::hooks::EpochContext;
use super::metrics::{self, MetricColumn, Reduce};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::media::source::View;
use crate::mixup::contribution::argmax;
use crate::model::params::Matrix;
use crate::model::{Backend, Model};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Epochs of plain training before the first valuation (BalanceBenchmark's
/// `modulation_starts`).
pub const VALUATION_WARMUP: usize = 1;
/// Share of the training samples whose mean φ sets the modality-level rebuild
/// (BalanceBenchmark's `part_ratio`).
pub const VALUATION_PART_RATIO: f64 = 0.2;

/// How the training list is rebuilt from the Shapley values.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ValuationLevel {
    /// From the modalities' mean values (BalanceBenchmark's `Modality-level`, its default).
    #[default]
    Modality,
    /// From each sample's values (BalanceBenchmark's `Sample-level`).
    Sample,
}

/// `[method]` with `kind = "valuation"`: the keys modality valuation takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ValuationConfig {
    /// valuation: how each epoch's training list is rebuilt: `"modality"` (extra copies of
    /// random samples, the less-contributing modality kept alone in one of them; the released
    /// default) or `"sample"` (1–3 copies per sample and modality by the sample's value, each
    /// with that modality alone). Default `"modality"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<ValuationLevel>,
    /// valuation: epochs of plain training before the first rebuild. Default `1` (the released
    /// `modulation_starts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_epochs: Option<usize>,
    /// valuation: the share of training samples (drawn with replacement) whose mean value sets
    /// the modality-level rebuild, in (0, 1]. Default `0.2` (the released `part_ratio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_ratio: Option<f64>,
}

/// Modality valuation's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValuationSettings {
    /// How the list is rebuilt.
    pub level: ValuationLevel,
    /// Epochs before the first rebuild.
    pub warmup_epochs: usize,
    /// The sampled share of the modality-level mean.
    pub part_ratio: f64,
}

impl ValuationConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<ValuationSettings, ConfigProblem> {
        let level = *self.level.get_or_insert_default();
        let warmup_epochs = *self.warmup_epochs.get_or_insert(VALUATION_WARMUP);
        let part_ratio = *self.part_ratio.get_or_insert(VALUATION_PART_RATIO);
        ConfigProblem::in_range("part_ratio", part_ratio, "(0, 1]", |v| v > 0.0 && v <= 1.0)?;
        // The step reports the modalities' contributions from the decomposed head.
        if !cx.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "kind".into(),
                what: None,
            });
        }
        Ok(ValuationSettings {
            level,
            warmup_epochs,
            part_ratio,
        })
    }
}

/// The Shapley weight |S|!(M−|S|−1)!/M! of a coalition of `s` modalities out of `m`.
pub fn shapley_weight(s: usize, m: usize) -> f64 {
    let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
    fact(s) * fact(m - s - 1) / fact(m)
}

/// Per modality, per sample: φ_m(i) from `correct[S][i]`, whether sample i is predicted right
/// with the modalities of bit set `S` kept (the others zeroed); `correct[0]` (the empty set) is
/// v(∅) = 0 whatever it holds.
pub fn shapley_values(correct: &[Vec<bool>], modalities: usize) -> Vec<Vec<f64>> {
    let n = correct.first().map_or(0, Vec::len);
    let v = |s: usize, i: usize| -> f64 { f64::from(u8::from(s != 0 && correct[s][i])) };
    (0..modalities)
        .map(|m| {
            let bit = 1usize << m;
            (0..n)
                .map(|i| {
                    (0..1usize << modalities)
                        .filter(|s| s & bit == 0)
                        .map(|s| {
                            let w = shapley_weight(s.count_ones() as usize, modalities);
                            w * (v(s | bit, i) - v(s, i))
                        })
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// `correct[S][i]` for the samples `idx` (see [`shapley_values`]): the model in evaluation mode
/// on the inputs in `view`, the modalities outside S zeroed and still encoded (`S` = 0 is left
/// all false).
pub fn subset_correctness<D: Backend>(
    model: &Model<D>,
    data: &crate::data::Dataset,
    idx: &[usize],
    view: View,
) -> Result<Vec<Vec<bool>>, StepError> {
    let dev = model.store.dev.clone();
    let modalities = data.modalities.len();
    let k = model.classes;
    // In evaluation mode a row's features do not depend on the other rows: one encoded zero
    // row per modality stands for every zeroed input.
    let zero: Vec<Vec<f32>> = data
        .modalities
        .iter()
        .enumerate()
        .map(|(m, modality)| {
            let x: Matrix<D> = dev.tensor_from_vec(vec![0.0; modality.width], (1, modality.width));
            model.encode(m, x).as_vec()
        })
        .collect();
    let mut correct = vec![Vec::with_capacity(idx.len()); 1 << modalities];
    correct[0] = vec![false; idx.len()];
    for chunk in idx.chunks(data.chunk()) {
        let n = chunk.len();
        let mut real = Vec::with_capacity(modalities);
        for (m, modality) in data.modalities.iter().enumerate() {
            let x: Matrix<D> =
                dev.tensor_from_vec(modality.rows(chunk, view)?, (n, modality.width));
            real.push(model.encode(m, x).as_vec());
        }
        for (s, out) in correct.iter_mut().enumerate().skip(1) {
            let zs: Vec<Matrix<D>> = (0..modalities)
                .map(|m| {
                    let d = zero[m].len();
                    let host = if s & (1 << m) != 0 {
                        real[m].clone()
                    } else {
                        zero[m].repeat(n)
                    };
                    dev.tensor_from_vec(host, (n, d))
                })
                .collect();
            let logits = model.head(model.fuse(zs)).as_vec();
            out.extend(
                chunk
                    .iter()
                    .enumerate()
                    .map(|(r, &i)| argmax(&logits[r * k..(r + 1) * k]) == data.labels[i]),
            );
        }
    }
    Ok(correct)
}

/// The modality-level gaps gap_m = 1 − mean φ_m over the sample positions `part` (drawn with
/// replacement; repeats count again).
pub fn modality_gaps(phi: &[Vec<f64>], part: &[usize]) -> Vec<f64> {
    phi.iter()
        .map(|p| 1.0 - part.iter().map(|&i| p[i]).sum::<f64>() / part.len() as f64)
        .collect()
}

/// The share of extra samples D = (2/3)·Σ over ordered pairs m ≠ m' of |gap_m − gap_m'|, over
/// M − 1 (the released `linear` rule).
pub fn modality_difference(gaps: &[f64]) -> f64 {
    let mut d = 0.0;
    for (m, a) in gaps.iter().enumerate() {
        for (o, b) in gaps.iter().enumerate() {
            if m != o {
                d += (a - b).abs();
            }
        }
    }
    d / (gaps.len() - 1) as f64 / 3.0 * 2.0
}

/// The M copies of one drawn sample in the modality-level rebuild: in the copy for modality
/// m, every modality whose gap is smaller than m's is zeroed.
pub fn modality_copies(gaps: &[f64]) -> Vec<Vec<bool>> {
    gaps.iter()
        .map(|&g| gaps.iter().map(|&other| g > other).collect())
        .collect()
}

/// How many copies the sample-level rebuild adds for a modality of value `phi`: 1 in
/// (0.4, 1), 2 in (−0.1, 0.4), 3 below −0.1, none otherwise (the released open intervals).
pub fn sample_copies(phi: f64) -> usize {
    if 0.4 < phi && phi < 1.0 {
        1
    } else if -0.1 < phi && phi < 0.4 {
        2
    } else if phi < -0.1 {
        3
    } else {
        0
    }
}

/// One epoch's valuation: the mean φ per modality over the training split and the entries
/// added to the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Valued {
    /// Mean φ_m over the training split.
    pub mean_phi: Vec<f64>,
    /// Entries appended to the training list.
    pub added: usize,
}

/// The modality-level rebuild's entries: each of the `drawn` training positions once per
/// modality, with [`modality_copies`] of `gaps`.
pub fn modality_level_entries(gaps: &[f64], drawn: &[usize]) -> Vec<(usize, Vec<bool>)> {
    let copies = modality_copies(gaps);
    drawn
        .iter()
        .flat_map(|&i| copies.iter().map(move |z| (i, z.clone())))
        .collect()
}

/// The sample-level rebuild's entries from `phi[m][position]`: per position, per modality m,
/// [`sample_copies`] of φ_m copies with every modality but m zeroed.
pub fn sample_level_entries(phi: &[Vec<f64>]) -> Vec<(usize, Vec<bool>)> {
    let modalities = phi.len();
    let n = phi.first().map_or(0, Vec::len);
    let mut out = Vec::new();
    for i in 0..n {
        for (m, p) in phi.iter().enumerate() {
            let alone: Vec<bool> = (0..modalities).map(|o| o != m).collect();
            out.extend(std::iter::repeat_n((i, alone), sample_copies(p[i])));
        }
    }
    out
}

/// The rebuilt list's extra entries (training positions and their zeroing rows) from the values
/// `phi[m][position]`, drawing from `rng` (modality level: the part, then the extra samples,
/// uniformly with replacement).
pub fn extra_entries(
    settings: &ValuationSettings,
    phi: &[Vec<f64>],
    rng: &mut impl Rng,
) -> Vec<(usize, Vec<bool>)> {
    let n = phi.first().map_or(0, Vec::len);
    if n == 0 {
        return Vec::new();
    }
    match settings.level {
        ValuationLevel::Modality => {
            // At least one sample: the released int(length * part_ratio) of a tiny split is
            // 0, and its mean then divides by zero.
            let count = ((n as f64 * settings.part_ratio) as usize).max(1);
            let part: Vec<usize> = (0..count).map(|_| rng.gen_range(0..n)).collect();
            let gaps = modality_gaps(phi, &part);
            let extra = (modality_difference(&gaps) * n as f64) as usize;
            let drawn: Vec<usize> = (0..extra).map(|_| rng.gen_range(0..n)).collect();
            modality_level_entries(&gaps, &drawn)
        }
        ValuationLevel::Sample => sample_level_entries(phi),
    }
}

/// Modality valuation with its settings and the latest valuation.
pub struct Valuation {
    settings: ValuationSettings,
    latest: Option<Valued>,
}

impl Valuation {
    /// Modality valuation with `settings`.
    pub fn new(settings: ValuationSettings) -> Valuation {
        Valuation {
            settings,
            latest: None,
        }
    }
}

impl OwnStep for ValuationSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(Valuation::new(*self))
    }
}

impl<D: Backend> Method<D> for Valuation {
    fn metric_columns(&self, modalities: &[String]) -> Vec<MetricColumn> {
        let mut c = metrics::standard_columns(modalities);
        for m in modalities {
            c.push(MetricColumn::per_modality("shapley", m, Reduce::Latest));
        }
        c.push(MetricColumn {
            name: "valuation_added".into(),
            tag: "valuation/added".into(),
            reduce: Reduce::Latest,
        });
        c
    }

    /// The standard values, each modality's mean φ of the latest valuation and the entries it
    /// added (blank before the first).
    fn step_metrics(&self, stats: &StepStats, n: usize, modalities: usize) -> Vec<Option<f64>> {
        let mut v = metrics::standard_values(stats, n, modalities);
        let latest = self.latest.as_ref();
        v.extend((0..modalities).map(|m| latest.map(|l| l.mean_phi[m])));
        v.push(latest.map(|l| l.added as f64));
        v
    }

    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        cx.plain_ce_step()
    }

    fn epoch_samples(
        &mut self,
        cx: &mut EpochContext<'_, D>,
        order: Vec<usize>,
    ) -> Result<EpochSamples, StepError> {
        if cx.epoch < self.settings.warmup_epochs {
            return Ok(EpochSamples::plain(order));
        }
        // The released pass reads the training loader (its training transforms) in
        // evaluation mode: here the epoch's training view.
        let view = View::Train {
            seed: cx.seed,
            epoch: cx.epoch,
        };
        let correct = subset_correctness(cx.model, cx.data, cx.train, view)?;
        let modalities = cx.data.modalities.len();
        let phi = shapley_values(&correct, modalities);
        let mut rng = cx.resample_rng();
        let extra = extra_entries(&self.settings, &phi, &mut rng);
        let n = cx.train.len().max(1) as f64;
        self.latest = Some(Valued {
            mean_phi: phi.iter().map(|p| p.iter().sum::<f64>() / n).collect(),
            added: extra.len(),
        });
        let mut entries: Vec<(usize, Vec<bool>)> = order
            .into_iter()
            .map(|i| (i, vec![false; modalities]))
            .collect();
        entries.extend(extra.into_iter().map(|(p, z)| (cx.train[p], z)));
        entries.shuffle(&mut rng);
        let (order, zeroed) = entries.into_iter().unzip();
        Ok(EpochSamples { order, zeroed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand values of the released formulas (BalanceBenchmark 4c1482f datasets/__init__.py)
    /// at points where a dropped or swapped term shows; the reference case has two modalities
    /// and a part without repeats, which leave some terms untested.
    #[test]
    fn released_rebuild_formulas_at_three_modalities_repeats_and_boundaries() {
        // L260–L269: Σ over ordered pairs |gap_m − gap_m'| = 2·(0.3 + 0.9 + 0.6) = 3.6, over
        // M − 1 = 2 gives 1.8, times 2/3 gives 1.2 (at M = 2 the division by M − 1 is by 1).
        assert!((modality_difference(&[0.0, 0.3, 0.9]) - 1.2).abs() < 1e-12);
        // L253–L259: the part is drawn with replacement and a repeat counts again:
        // (1 + 1 + 0) / 3 = 2/3, gap 1/3 (a de-duplicated part would give 1/2).
        let gaps = modality_gaps(&[vec![1.0, 0.0, 0.5]], &[0, 0, 1]);
        assert!((gaps[0] - 1.0 / 3.0).abs() < 1e-12);
        // L322–L326 at three modalities: the copy for m zeroes the modalities of smaller gap.
        assert_eq!(
            modality_copies(&[0.2, 0.9, 0.5]),
            vec![
                vec![false, false, false],
                vec![true, false, true],
                vec![true, false, false]
            ]
        );
        // L157–L164: open intervals; 0.4, −0.1 and 1 themselves add nothing.
        let copies: Vec<usize> = [0.41, 0.4, 0.39, 0.0, -0.1, -0.11, 1.0]
            .iter()
            .map(|&p| sample_copies(p))
            .collect();
        assert_eq!(copies, vec![1, 0, 2, 2, 0, 3, 0]);
        // modalitys.py L96: |S|!(M − |S| − 1)!/M! at M = 3.
        let w: Vec<f64> = (0..3).map(|s| shapley_weight(s, 3)).collect();
        for (got, want) in w.iter().zip([1.0 / 3.0, 1.0 / 6.0, 1.0 / 3.0]) {
            assert!((got - want).abs() < 1e-15);
        }
    }
}
