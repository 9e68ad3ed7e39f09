//! The mix plan of one training step: which samples are paired and with which ratios.
//!
//! The random part ([`draw`]) is a pure function of `(seed, step)`: it reads only the
//! `mixup` stream at index `step` (first the probability draw, then π, then λ). The
//! deterministic part ([`plan`]) turns those draws and, for B-MM, the relative contributions
//! into per-modality ratios λ_m and the label ratio λ_y.

use super::config::{BalanceSection, Draw, LambdaPer};
use super::{balanced, lambda, pairing};
use crate::rng::{stream, Stream};
use rand::Rng;

/// The random draws of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Draws {
    /// Partner of each sample.
    pub perm: Vec<usize>,
    /// λ per sample (folded when the recipe folds).
    pub lambda: Vec<f32>,
}

/// The mixing of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct MixPlan {
    /// Partner π(i) of each sample.
    pub perm: Vec<usize>,
    /// λ_m per modality (outer) and sample (inner).
    pub modality: Vec<Vec<f32>>,
    /// Label ratio λ_y per sample.
    pub label: Vec<f32>,
}

/// Draws of step `step` (global, 0-based) in `epoch` for a batch of `batch` samples, or `None`
/// when the batch is not mixed (outside the epoch window, or the probability draw says no).
/// A mixer that never mixes (`mixup.method = "none"`) never asks.
pub fn draw(seed: u64, step: u64, epoch: usize, batch: usize, cfg: &Draw) -> Option<Draws> {
    let mut rng = stream(seed, Stream::Mixup, step);
    let u: f64 = rng.gen();
    let in_window = cfg
        .epochs
        .is_none_or(|w| (w.start..w.stop).contains(&epoch));
    if !in_window || u >= cfg.probability {
        return None;
    }
    let perm = pairing::random_pairing(&mut rng, batch);
    let per_sample = cfg.lambda_per == LambdaPer::Sample;
    let lambda = lambda::sample(&mut rng, cfg.alpha, batch, per_sample, cfg.fold);
    Some(Draws { perm, lambda })
}

/// The plan for `modalities` modalities. MM and input mixup use λ for every modality and the
/// label; B-MM (its `balance` settings and relative contributions `r` given) derives λ_m and
/// λ_y from `r`.
pub fn plan(
    draws: Draws,
    modalities: usize,
    balance: Option<&BalanceSection>,
    r: Option<&[f64]>,
) -> MixPlan {
    match (balance, r) {
        (Some(b), Some(r)) => {
            let weights = balanced::label_weights(r, b.label_weight);
            let mut per_mod = vec![Vec::with_capacity(draws.lambda.len()); modalities];
            let mut label = Vec::with_capacity(draws.lambda.len());
            for &l in &draws.lambda {
                let lm = balanced::modality_lambdas(l, r, b.gamma, b.direction);
                label.push(balanced::label_lambda(&lm, &weights));
                for (m, v) in lm.into_iter().enumerate() {
                    per_mod[m].push(v);
                }
            }
            MixPlan {
                perm: draws.perm,
                modality: per_mod,
                label,
            }
        }
        _ => MixPlan {
            modality: vec![draws.lambda.clone(); modalities],
            label: draws.lambda,
            perm: draws.perm,
        },
    }
}
