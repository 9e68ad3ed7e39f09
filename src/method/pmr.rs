//! PMR, prototypical modal rebalance (Fan et al., CVPR 2023), as a loss term of the
//! [`super::standard`] step (docs/methods.md §3).
//!
//! At the start of every epoch (as BalanceBenchmark does; the released code does it before
//! training and after each epoch, the same schedule) a pass over the first `sample_fraction` of
//! the epoch's batches — drawn in an order of their own from the `prototype` stream, media in
//! the epoch's training view (`prototype_view`), batch norms evaluating — averages each
//! modality's clean features per class into prototypes c^m_k, which replace the old ones before
//! epoch `ema_start` (2: the released code's epoch argument is still 0 for the prototypes of
//! epoch 1) and are folded into them with momentum μ from then on. In each step, the prototype logits q^m_ik = −‖z^m_i − c^m_k‖₂ (the
//! non-squared distance; prototypes are constants) give each modality a score
//! s_m = Σ_i softmax(q^m)_i,y_i; the lagging modality (the lower score) gets α · CE(q^m, y),
//! the leading one nothing (`binary`, the released code), or α · clip(ρ′ − 1, 0, 1) with ρ′ the
//! leader's score over the lagger's (`ratio-clipped`). The optional entropy regulariser (PER)
//! subtracts `entropy` × the mean entropy of the dominant modality's prototype softmax in the
//! window's first `entropy_epochs` epochs.
//!
//! Pitfalls handled: a class absent from the sampled batches keeps its old prototype (and at
//! the first computation the pass reads on until every class is seen); distances are taken as
//! sqrt(‖z − c‖² + 1e-12) so their gradient exists when z equals a prototype.

use super::engine::{StepContext, StepError};
use super::parts::{add_loss, LossTerm};
use super::resolve::{ConfigProblem, MethodContext};
use super::EpochContext;
use crate::epoch_window::EpochWindow;
use crate::media::source::View;
use crate::model::params::{Matrix, Tape};
use crate::model::Backend;

use crate::rng::{stream, Stream};
use dfdx::prelude::*;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// `[losses.pmr]`: prototype cross-entropy for the lagging modality (docs/methods.md §3), as
/// written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PmrConfig {
    /// α, the weight of the lagging modality's prototype cross-entropy. Default `1.0` (the
    /// released code's default).
    #[serde(default = "crate::mixup::config::one")]
    pub alpha: f64,
    /// μ, the prototypes' moving-average momentum: c ← (1 − μ) c̃ + μ c. Default `0.2` (the
    /// released code's default).
    #[serde(default = "default_pmr_momentum")]
    pub momentum: f64,
    /// How the coefficients follow the prototype-score ratio ρ. Default `"binary"`.
    #[serde(default)]
    pub coefficient: PmrCoefficient,
    /// Epochs `[start, stop)` in which the prototype terms are added. Default: every epoch.
    /// (The released code's window `starts ≤ epoch ≤ ends` is `{ start = starts, stop = ends + 1 }`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<EpochWindow>,
    /// Weight of the prototypical entropy regulariser (PER) on the dominant modality, which the
    /// paper describes and the released code lacks. Default `0` (off, as released).
    #[serde(default)]
    pub entropy: f64,
    /// PER is active in the first `entropy_epochs` epochs of the window. Default `10`.
    #[serde(default = "default_entropy_epochs")]
    pub entropy_epochs: usize,
    /// Share of each epoch's training batches used to compute the prototypes. Default `0.1`
    /// (hard-coded in the released code).
    #[serde(default = "default_sample_fraction")]
    pub sample_fraction: f64,
    /// The first epoch whose prototypes are folded into the old ones with μ; earlier epochs
    /// replace them. Default `2`: the released code computes the prototypes that epoch 1 uses
    /// with its epoch argument still 0, which replaces (`1` starts the average one epoch
    /// earlier).
    #[serde(default = "default_pmr_ema_start")]
    pub ema_start: usize,
    /// Which view of media clips the prototype pass reads (the batch norms evaluate, no
    /// running update, either way). Default `"train"`: the released code iterates the training
    /// loader, random crops and flips included; `"eval"` reads the evaluation view.
    #[serde(default)]
    pub prototype_view: PrototypeView,
}

/// The view of media clips PMR's prototype pass reads.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PrototypeView {
    /// The training view of the epoch (the released code).
    #[default]
    Train,
    /// The evaluation view.
    Eval,
}

/// PMR's coefficient rule.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PmrCoefficient {
    /// The released code: the lagging modality gets α, the leading one 0 (both 0 at ρ = 1).
    #[default]
    Binary,
    /// BalanceBenchmark's variant: the lagging modality gets α · clip(ρ′ − 1, 0, 1), ρ′ ≥ 1
    /// being the leader's score over the lagger's.
    RatioClipped,
}

fn default_pmr_momentum() -> f64 {
    0.2
}

fn default_entropy_epochs() -> usize {
    10
}

fn default_sample_fraction() -> f64 {
    0.1
}

fn default_pmr_ema_start() -> usize {
    2
}

/// PMR's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PmrSettings {
    /// α, the weight of the lagging modality's prototype cross-entropy.
    pub alpha: f64,
    /// μ, the prototypes' moving-average momentum.
    pub momentum: f64,
    /// How the coefficients follow the prototype-score ratio.
    pub coefficient: PmrCoefficient,
    /// Epochs `[start, stop)` in which the prototype terms are added.
    pub window: EpochWindow,
    /// Weight of the prototypical entropy regulariser (0: off).
    pub entropy: f64,
    /// PER is active in the window's first `entropy_epochs` epochs.
    pub entropy_epochs: usize,
    /// Share of each epoch's training batches the prototypes are computed from.
    pub sample_fraction: f64,
    /// The first epoch whose prototypes are folded into the old ones with μ.
    pub ema_start: usize,
    /// The view of media clips the prototype pass reads.
    pub prototype_view: PrototypeView,
}

impl PmrConfig {
    /// The settings, the window written back into the config; checked. Keys are the
    /// `[losses.pmr]` table's own.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<PmrSettings, ConfigProblem> {
        if cx.modalities != 2 {
            return Err(ConfigProblem::NeedsTwoModalities {
                key: "kind".into(),
                what: None,
            });
        }
        ConfigProblem::in_range("alpha", self.alpha, "[0, ∞)", |v| v >= 0.0)?;
        ConfigProblem::in_range("momentum", self.momentum, "[0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        ConfigProblem::in_range("entropy", self.entropy, "[0, ∞)", |v| v >= 0.0)?;
        ConfigProblem::in_range("sample_fraction", self.sample_fraction, "(0, 1]", |v| {
            v > 0.0 && v <= 1.0
        })?;
        let window = ConfigProblem::window_or_every_epoch("epochs", &mut self.epochs, cx.epochs)?;
        Ok(PmrSettings {
            alpha: self.alpha,
            momentum: self.momentum,
            coefficient: self.coefficient,
            window,
            entropy: self.entropy,
            entropy_epochs: self.entropy_epochs,
            sample_fraction: self.sample_fraction,
            ema_start: self.ema_start,
            prototype_view: self.prototype_view,
        })
    }
}

/// PMR's settings and its prototypes.
pub struct Pmr {
    cfg: PmrSettings,
    batch_size: usize,
    state: Prototypes,
}

/// The checkpointed state: per modality, `classes × d_m` prototypes (row-major), once computed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Prototypes {
    /// Prototypes per modality; empty before the first pass.
    pub centres: Vec<Vec<f32>>,
}

/// The coefficients (β_m) of the two modalities' prototype cross-entropies from their scores.
pub fn coefficients(scores: [f64; 2], alpha: f64, rule: PmrCoefficient) -> [f64; 2] {
    let [a, b] = scores;
    if a == b || !(a.is_finite() && b.is_finite()) {
        return [0.0, 0.0];
    }
    // The lagging modality is the one with the lower score.
    let (lag, lead) = if a < b { (0, 1) } else { (1, 0) };
    let weight = match rule {
        PmrCoefficient::Binary => alpha,
        PmrCoefficient::RatioClipped => {
            let ratio = scores[lead] / scores[lag].max(f64::MIN_POSITIVE);
            alpha * (ratio - 1.0).clamp(0.0, 1.0)
        }
    };
    let mut out = [0.0, 0.0];
    out[lag] = weight;
    out
}

/// Per-class means of `features` (`n × d`, row-major) over `labels`, accumulated in f64; a
/// class without a sample gets `None`.
pub fn class_means(
    features: &[f32],
    labels: &[usize],
    d: usize,
    classes: usize,
) -> Vec<Option<Vec<f32>>> {
    let mut sums = vec![vec![0f64; d]; classes];
    let mut counts = vec![0usize; classes];
    for (i, &y) in labels.iter().enumerate() {
        counts[y] += 1;
        for (s, &v) in sums[y].iter_mut().zip(&features[i * d..(i + 1) * d]) {
            *s += v as f64;
        }
    }
    sums.into_iter()
        .zip(counts)
        .map(|(s, c)| (c > 0).then(|| s.iter().map(|v| (v / c as f64) as f32).collect()))
        .collect()
}

impl Pmr {
    /// The prototypes, per modality (`classes × d_m`), once computed.
    pub fn prototypes(&self) -> &Prototypes {
        &self.state
    }

    /// Whether the prototype terms apply in `epoch`.
    fn active(&self, epoch: usize) -> bool {
        self.cfg.window.contains(epoch)
    }

    /// Prototype logits of modality `m`: q_ik = −sqrt(‖z_i − c_k‖² + 1e-12), taped through z.
    fn logits<D: Backend>(
        &self,
        cx: &StepContext<'_, D>,
        m: usize,
        z: Matrix<D, Tape<D>>,
    ) -> Matrix<D, Tape<D>> {
        let (n, d) = *z.shape();
        let k = cx.model.classes;
        let centres: Matrix<D> = cx
            .model
            .store
            .dev
            .tensor_from_vec(self.state.centres[m].clone(), (k, d));
        let shape = (n, k, d);
        let zb = z.broadcast_like::<(usize, usize, usize), Axis<1>>(&shape);
        let cb = centres.broadcast_like::<(usize, usize, usize), Axis<0>>(&shape);
        let d2 = (zb - cb).square().sum::<(usize, usize), Axis<2>>();
        (d2 + 1e-12).sqrt().negate()
    }
}

impl<D: Backend> LossTerm<D> for Pmr {
    fn epoch_start(&mut self, cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        let mut order = cx.train.to_vec();
        order.shuffle(&mut stream(cx.seed, Stream::Prototype, cx.epoch as u64));
        let batches = order.len().div_ceil(self.batch_size.max(1));
        let take = ((batches as f64 * self.cfg.sample_fraction).floor() as usize).max(1);
        let mut n = (take * self.batch_size).min(order.len());
        let first = self.state.centres.is_empty();
        // Before `ema_start` the pass replaces the prototypes (the released schedule).
        let replace = first || cx.epoch < self.cfg.ema_start;
        if first {
            // The first prototypes need every class: read on, batch by batch, until all are
            // seen (or the training set ends).
            let mut seen = vec![false; cx.model.classes];
            for &i in &order[..n] {
                seen[cx.data.labels[i]] = true;
            }
            while n < order.len() && seen.iter().any(|s| !s) {
                let next = (n + self.batch_size).min(order.len());
                for &i in &order[n..next] {
                    seen[cx.data.labels[i]] = true;
                }
                n = next;
            }
        }
        let sample = &order[..n];
        let labels: Vec<usize> = sample.iter().map(|&i| cx.data.labels[i]).collect();
        // Evaluation-mode batch norms (no running update), as the released `eval()` pass.
        let features = match self.cfg.prototype_view {
            PrototypeView::Train => cx.features_in(
                sample,
                View::Train {
                    seed: cx.seed,
                    epoch: cx.epoch,
                },
            )?,
            PrototypeView::Eval => cx.features(sample)?,
        };
        let mu = self.cfg.momentum as f32;
        let mut centres = Vec::with_capacity(features.len());
        for (m, f) in features.iter().enumerate() {
            let d = cx.model.encoders[m].out;
            let means = class_means(f, &labels, d, cx.model.classes);
            let mut c = vec![0f32; cx.model.classes * d];
            for (class, mean) in means.into_iter().enumerate() {
                let row = &mut c[class * d..(class + 1) * d];
                match (mean, replace) {
                    (Some(mean), true) => row.copy_from_slice(&mean),
                    (Some(mean), false) => {
                        let old = &self.state.centres[m][class * d..(class + 1) * d];
                        for ((r, &new), &o) in row.iter_mut().zip(&mean).zip(old) {
                            *r = (1.0 - mu) * new + mu * o;
                        }
                    }
                    // Absent from the sample: keep the old prototype (zeros if the class has
                    // no training sample at all).
                    (None, _) if !first => {
                        row.copy_from_slice(&self.state.centres[m][class * d..(class + 1) * d])
                    }
                    (None, _) => {}
                }
            }
            centres.push(c);
        }
        self.state.centres = centres;
        Ok(())
    }

    fn loss(
        &mut self,
        cx: &StepContext<'_, D>,
        zs: &[Matrix<D, Tape<D>>],
        labels: &[usize],
    ) -> Option<Tensor<(), f32, D, Tape<D>>> {
        if !self.active(cx.epoch) || self.state.centres.len() != 2 || zs.len() != 2 {
            return None;
        }
        let k = cx.model.classes;
        let n = labels.len();
        // `retaped` keeps each z's identity, so the terms' gradients reach the encoders.
        let qs: Vec<Matrix<D, Tape<D>>> = zs
            .iter()
            .enumerate()
            .map(|(m, z)| self.logits(cx, m, z.retaped::<Tape<D>>()))
            .collect();
        // Scores, cross-entropies and entropies over the rows where each modality is present
        // (after modality dropout).
        let scores: Vec<f64> = qs
            .iter()
            .enumerate()
            .map(|(m, q)| cx.label_score(m, &q.as_vec(), labels))
            .collect();
        let beta = coefficients([scores[0], scores[1]], self.cfg.alpha, self.cfg.coefficient);
        let start = self.cfg.window.start;
        let per = self.cfg.entropy > 0.0 && cx.epoch < start + self.cfg.entropy_epochs;
        let dominant = if scores[0] >= scores[1] { 0 } else { 1 };
        let mut total: Option<Tensor<(), f32, D, Tape<D>>> = None;
        let mut push = |t: Tensor<(), f32, D, Tape<D>>| total = Some(add_loss(total.take(), t));
        for (m, q) in qs.into_iter().enumerate() {
            let targets = cx.unimodal_targets(m, labels);
            let ce = (beta[m] > 0.0).then_some(beta[m]);
            let entropy = (per && m == dominant).then_some(self.cfg.entropy);
            match (ce, entropy) {
                (None, None) => {}
                (Some(b), None) => {
                    push(cross_entropy_with_logits_loss(q, targets.clone()) * b as f32)
                }
                (ce, Some(w)) => {
                    // q feeds two terms: the cross-entropy (if any) and −w · mean entropy.
                    let (q, tape) = q.split_tape();
                    let mut tape = Some(tape);
                    if let Some(b) = ce {
                        let term = cross_entropy_with_logits_loss(
                            q.clone().put_tape(tape.take().expect("tape")),
                            targets.clone(),
                        ) * b as f32;
                        let (term, t) = term.split_tape();
                        tape = Some(t);
                        push(term.put_tape(Tape::<D>::default()));
                    }
                    let log_p = q
                        .put_tape(tape.take().expect("tape"))
                        .log_softmax::<Axis<1>>();
                    let (log_p, t) = log_p.split_tape();
                    let p = log_p.clone().put_tape(t).exp();
                    // mean_i H_i = −(1/n) Σ_ik p_ik log p_ik; the term is −w · that.
                    let plogp = match cx.row_weights(m) {
                        None => p * log_p,
                        Some(w) => {
                            let mut wide = vec![0f32; n * k];
                            for (row, &wi) in wide.chunks_mut(k).zip(&w) {
                                row.fill(wi);
                            }
                            let wide: Matrix<D> = cx.model.store.dev.tensor_from_vec(wide, (n, k));
                            p * log_p * wide
                        }
                    };
                    let neg_entropy = plogp.sum::<(), _>() * (1.0 / n as f32);
                    push(neg_entropy * w as f32);
                }
            }
        }
        total
    }

    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null)
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.state = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The PMR term with `settings`, its prototype pass reading batches of `batch_size`.
pub fn term<D: Backend>(settings: PmrSettings, batch_size: usize) -> Box<dyn LossTerm<D>> {
    Box::new(Pmr {
        cfg: settings,
        batch_size,
        state: Prototypes::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_score_gives_no_prototype_term() {
        use PmrCoefficient::*;
        for rule in [Binary, RatioClipped] {
            assert_eq!(coefficients([f64::NAN, 1.0], 1.0, rule), [0.0, 0.0]);
            assert_eq!(coefficients([2.0, f64::INFINITY], 1.0, rule), [0.0, 0.0]);
        }
    }

    #[test]
    fn the_lagging_modality_alone_gets_the_prototype_weight() {
        use PmrCoefficient::*;
        assert_eq!(coefficients([3.0, 5.0], 2.0, Binary), [2.0, 0.0]);
        assert_eq!(coefficients([5.0, 3.0], 2.0, Binary), [0.0, 2.0]);
        assert_eq!(coefficients([4.0, 4.0], 2.0, Binary), [0.0, 0.0]);
        // ρ′ = 5/4: the lagger gets 2 · 0.25; a ratio above 2 is clipped to α.
        assert_eq!(coefficients([4.0, 5.0], 2.0, RatioClipped), [0.5, 0.0]);
        assert_eq!(coefficients([9.0, 1.0], 2.0, RatioClipped), [0.0, 2.0]);
        assert_eq!(coefficients([3.0, 5.0], 0.0, Binary), [0.0, 0.0]);
    }

    #[test]
    fn class_means_average_each_class_and_mark_absent_ones() {
        // Two samples of class 0, one of class 2, none of class 1; d = 2.
        let f = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0];
        let means = class_means(&f, &[0, 0, 2], 2, 3);
        assert_eq!(
            means,
            vec![Some(vec![2.0, 3.0]), None, Some(vec![10.0, 20.0])]
        );
    }
}
