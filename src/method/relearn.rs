//! Diagnosing & Re-learning (Wei et al., ECCV 2024), as the authors' `code/ours.py`
//! (GeWu-Lab/Diagnosing_Relearning_ECCV2024) and BalanceBenchmark's `ReLearning_trainer.py`
//! run it (docs/methods.md §3).
//!
//! The step is the plain fused cross-entropy. The initial weights θ⁰ are kept from the moment
//! the model is built (as tensors in checkpoints). After epoch e (0-based) with e > 0, e a
//! multiple of `reinit_every` and fewer than `reinits` re-initialisations done, each modality is
//! diagnosed: its clean encoder features (evaluation mode, evaluation view) of the training
//! split and of the diagnosis split are each min-max scaled to [−1, 1] and clustered by k-means
//! into C = classes clusters ([`crate::kmeans`]); the purity gap g_m = |purity_train −
//! purity_diag| sets w_m = tanh(λ·g_m), and every trainable parameter of encoder m becomes
//! w_m·θ⁰ + (1 − w_m)·θ. The head, the batch-norm running statistics and the optimiser's state
//! stay as they are (the released code touches neither).
//!
//! The diagnosis split is the validation split carved from the training data (the authors' own
//! `val.csv`). BalanceBenchmark diagnoses on its validation loader, which is the test set of
//! CREMA-D and Kinetics-Sounds: `diagnosis_split = "test-leakage"` reproduces that, and its
//! name says what it is — test labels then steer training.

use super::engine::{StepContext, StepError, StepStats};
use super::hooks::{state_from_json, state_json, EpochContext};
use super::metrics::{self, MetricColumn, Reduce};
use super::own_step::{BuildContext, OwnStep};
use super::resolve::{ConfigProblem, MethodContext};
use super::Method;
use crate::kmeans::{kmeans, min_max_scale, purity, KMeansSettings};
use crate::model::params::{Group, NamedTensor};
use crate::model::{Backend, Model, ParamStore};
use crate::rng::{stream, Stream};
use serde::{Deserialize, Serialize};

/// λ of w = tanh(λ·gap) (the released `move_lambda`, 3 in `ours.sh` and BalanceBenchmark).
pub const RELEARN_LAMBDA: f64 = 3.0;
/// Epochs between re-initialisations (the authors' `ours.sh`: 20; BalanceBenchmark: 15).
pub const RELEARN_EVERY: usize = 20;
/// Most re-initialisations (the authors' `ours.sh`: 3; BalanceBenchmark: 2).
pub const RELEARN_TIMES: usize = 3;
/// k-means seedings per clustering: scikit-learn 1.4.2, which BalanceBenchmark's
/// requirements pin, reads the default `n_init="auto"` as 1 for k-means++.
pub const RELEARN_KMEANS_RESTARTS: usize = 1;

/// Which split the diagnosis compares the training split with.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosisSplit {
    /// The validation split carved from the training data (the authors' `val.csv`).
    #[default]
    Val,
    /// The test split, as BalanceBenchmark's trainer reads it: test labels steer training.
    /// Leakage, for reproducing BalanceBenchmark only.
    TestLeakage,
}

/// `[method]` with `kind = "relearn"`: the keys Diagnosing & Re-learning takes, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ReLearnConfig {
    /// relearn: λ of the re-init weight w = tanh(λ·|purity_train − purity_diag|), ≥ 0. Default
    /// `3` (the released `move_lambda`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    /// relearn: diagnose and re-initialise after every epoch e > 0 (0-based) that is a multiple
    /// of this. Default `20` (the authors' `ours.sh`; BalanceBenchmark uses 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reinit_every: Option<usize>,
    /// relearn: most re-initialisations. Default `3` (the authors' `ours.sh`; BalanceBenchmark
    /// uses 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reinits: Option<usize>,
    /// relearn: the split whose purity is compared with the training split's: `"val"` (the
    /// validation split carved from the training data, as the authors' `val.csv`; needs
    /// `dataset.split.val > 0`) or `"test-leakage"` (the test split, as BalanceBenchmark's
    /// trainer reads it — test labels steer training; for reproducing BalanceBenchmark only).
    /// Default `"val"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis_split: Option<DiagnosisSplit>,
    /// relearn: k-means seedings per clustering, the least inertia kept (scikit-learn's
    /// `n_init`), ≥ 1. Default `1` (scikit-learn 1.4.2, pinned by BalanceBenchmark, reads
    /// `n_init="auto"` as 1; older versions ran 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kmeans_restarts: Option<usize>,
}

/// Diagnosing & Re-learning's resolved settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReLearnSettings {
    /// λ of w = tanh(λ·gap).
    pub lambda: f64,
    /// Epochs between re-initialisations.
    pub reinit_every: usize,
    /// Most re-initialisations.
    pub reinits: usize,
    /// The split compared with the training split.
    pub diagnosis_split: DiagnosisSplit,
    /// k-means seedings per clustering.
    pub kmeans_restarts: usize,
}

impl ReLearnConfig {
    /// The settings, every default written back into the config; checked.
    pub fn resolve(&mut self, cx: &MethodContext) -> Result<ReLearnSettings, ConfigProblem> {
        let lambda = *self.lambda.get_or_insert(RELEARN_LAMBDA);
        ConfigProblem::in_range("lambda", lambda, "[0, ∞)", |v| v >= 0.0)?;
        let reinit_every = *self.reinit_every.get_or_insert(RELEARN_EVERY);
        ConfigProblem::positive_int("reinit_every", reinit_every)?;
        let reinits = *self.reinits.get_or_insert(RELEARN_TIMES);
        let kmeans_restarts = *self.kmeans_restarts.get_or_insert(RELEARN_KMEANS_RESTARTS);
        ConfigProblem::positive_int("kmeans_restarts", kmeans_restarts)?;
        let diagnosis_split = *self.diagnosis_split.get_or_insert_default();
        // The step reports the modalities' contributions from the decomposed head.
        if !cx.fusion.decomposes() {
            return Err(ConfigProblem::NeedsDecomposableHead {
                key: "kind".into(),
                what: None,
            });
        }
        if diagnosis_split == DiagnosisSplit::Val && !cx.has_val {
            return Err(ConfigProblem::NeedsValidation);
        }
        Ok(ReLearnSettings {
            lambda,
            reinit_every,
            reinits,
            diagnosis_split,
            kmeans_restarts,
        })
    }
}

/// One diagnosis: each modality's purity on the training and the diagnosis split, and w.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The epoch (0-based) after which it ran.
    pub epoch: usize,
    /// Purity of each modality's training features.
    pub purity_train: Vec<f64>,
    /// Purity of each modality's diagnosis-split features.
    pub purity_diagnosis: Vec<f64>,
    /// Each modality's re-init weight w_m = tanh(λ·|gap|).
    pub weight: Vec<f64>,
}

/// Diagnosing & Re-learning with its settings and state.
pub struct ReLearn {
    settings: ReLearnSettings,
    /// θ⁰: every trainable encoder parameter as built, by name.
    initial: Vec<NamedTensor>,
    /// The diagnoses so far (their count is the re-initialisations done).
    done: Vec<Diagnosis>,
}

impl ReLearn {
    /// Re-learning with `settings`, no θ⁰ yet.
    pub fn new(settings: ReLearnSettings) -> ReLearn {
        ReLearn {
            settings,
            initial: Vec::new(),
            done: Vec::new(),
        }
    }

    /// The diagnoses so far.
    pub fn diagnoses(&self) -> &[Diagnosis] {
        &self.done
    }

    /// Whether a diagnosis and re-initialisation follows epoch `epoch` (0-based) after `done`
    /// of them.
    pub fn due(settings: &ReLearnSettings, epoch: usize, done: usize) -> bool {
        epoch > 0 && epoch.is_multiple_of(settings.reinit_every) && done < settings.reinits
    }
}

/// The purity of k-means clusters of `features` (`n × d`, row-major, min-max scaled to
/// [−1, 1] first) against `labels`, with `classes` clusters.
pub fn cluster_purity(
    features: &[f32],
    labels: &[usize],
    classes: usize,
    restarts: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> f64 {
    let n = labels.len();
    if n == 0 {
        return 0.0;
    }
    let d = features.len() / n;
    let x: Vec<f64> = features.iter().map(|&v| v as f64).collect();
    let scaled = min_max_scale(&x, d, -1.0, 1.0);
    let k = classes.min(n);
    let c = kmeans(&scaled, d, &KMeansSettings::new(k, restarts), rng);
    purity(labels, &c.labels)
}

/// The re-init weight w = tanh(λ·|purity_train − purity_diag|).
pub fn reinit_weight(lambda: f64, purity_train: f64, purity_diagnosis: f64) -> f64 {
    (lambda * (purity_train - purity_diagnosis).abs()).tanh()
}

/// Every trainable encoder parameter of `store`, by name (what Re-learning keeps as θ⁰).
pub fn encoder_weights<D: Backend>(store: &ParamStore<D>) -> Vec<NamedTensor> {
    store
        .params
        .iter()
        .filter(|p| !p.buffer && matches!(p.group, Group::Encoder(_)))
        .map(|p| (p.name.clone(), p.tensor.dims(), p.tensor.to_host()))
        .collect()
}

/// θ ← w·θ⁰ + (1 − w)·θ for every trainable parameter of encoder `m` whose θ⁰ is in
/// `initial`, in f32 as the released code's float32 tensors compute it.
pub fn soft_reinit<D: Backend>(
    store: &mut ParamStore<D>,
    initial: &[NamedTensor],
    m: usize,
    w: f64,
) {
    let (keep, fresh) = ((1.0 - w) as f32, w as f32);
    for (name, _, theta0) in initial {
        let Some(id) = store.params.iter().position(|p| &p.name == name) else {
            continue;
        };
        if store.params[id].group != Group::Encoder(m) {
            continue;
        }
        let theta = store.params[id].tensor.to_host();
        let new: Vec<f32> = theta
            .iter()
            .zip(theta0)
            .map(|(&t, &t0)| fresh * t0 + keep * t)
            .collect();
        store.set_values(id, new);
    }
}

impl OwnStep for ReLearnSettings {
    fn build<D: Backend>(&self, _: &BuildContext) -> Box<dyn Method<D>> {
        Box::new(ReLearn::new(*self))
    }
}

/// What [`ReLearn`] checkpoints as JSON.
#[derive(Serialize, Deserialize)]
struct ReLearnState {
    diagnoses: Vec<Diagnosis>,
}

impl<D: Backend> Method<D> for ReLearn {
    fn add_parameters(&mut self, model: &mut Model<D>, _rng: &mut rand_chacha::ChaCha8Rng) {
        self.initial = encoder_weights(&model.store);
    }

    fn metric_columns(&self, modalities: &[String]) -> Vec<MetricColumn> {
        let mut c = metrics::standard_columns(modalities);
        for m in modalities {
            c.push(MetricColumn::per_modality("relearn_w", m, Reduce::Latest));
        }
        c
    }

    /// The standard values, then each modality's w of the latest re-initialisation (empty
    /// before the first).
    fn step_metrics(&self, stats: &StepStats, n: usize, modalities: usize) -> Vec<Option<f64>> {
        let mut v = metrics::standard_values(stats, n, modalities);
        let latest = self.done.last();
        for m in 0..modalities {
            v.push(latest.map(|d| d.weight[m]));
        }
        v
    }

    fn step(&mut self, cx: &mut StepContext<'_, D>) -> Result<StepStats, StepError> {
        cx.plain_ce_step()
    }

    fn epoch_end(&mut self, cx: &mut EpochContext<'_, D>) -> Result<(), StepError> {
        if !ReLearn::due(&self.settings, cx.epoch, self.done.len()) {
            return Ok(());
        }
        let diagnosis = match self.settings.diagnosis_split {
            DiagnosisSplit::Val => cx.val,
            DiagnosisSplit::TestLeakage => cx.test,
        };
        let classes = cx.data.num_classes();
        let labels =
            |idx: &[usize]| -> Vec<usize> { idx.iter().map(|&i| cx.data.labels[i]).collect() };
        let (train_labels, diag_labels) = (labels(cx.train), labels(diagnosis));
        let train_features = cx.features(cx.train)?;
        let diag_features = cx.features(diagnosis)?;
        // One stream per diagnosis, drawn in a fixed order: train then diagnosis split, per
        // modality.
        let mut rng = stream(cx.seed, Stream::Cluster, cx.epoch as u64);
        let restarts = self.settings.kmeans_restarts;
        let mut d = Diagnosis {
            epoch: cx.epoch,
            purity_train: Vec::new(),
            purity_diagnosis: Vec::new(),
            weight: Vec::new(),
        };
        for m in 0..train_features.len() {
            let pt = cluster_purity(
                &train_features[m],
                &train_labels,
                classes,
                restarts,
                &mut rng,
            );
            let pd = cluster_purity(&diag_features[m], &diag_labels, classes, restarts, &mut rng);
            d.purity_train.push(pt);
            d.purity_diagnosis.push(pd);
            d.weight.push(reinit_weight(self.settings.lambda, pt, pd));
        }
        for (m, &w) in d.weight.iter().enumerate() {
            soft_reinit(&mut cx.model.store, &self.initial, m, w);
        }
        self.done.push(d);
        Ok(())
    }

    fn state(&self) -> serde_json::Value {
        state_json(&ReLearnState {
            diagnoses: self.done.clone(),
        })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        let s: ReLearnState = state_from_json(state)?;
        self.done = s.diagnoses;
        Ok(())
    }

    fn state_tensors(&mut self, _store: &ParamStore<D>) -> Vec<NamedTensor> {
        self.initial
            .iter()
            .map(|(n, s, v)| (format!("initial/{n}"), s.clone(), v.clone()))
            .collect()
    }

    fn restore_tensors(
        &mut self,
        tensors: Vec<NamedTensor>,
        _store: &ParamStore<D>,
        _new_updater: &dyn Fn() -> Box<dyn super::engine::Updater<D>>,
    ) -> Result<(), String> {
        // Checkpoints may hand the tensors back in another order: match them by name.
        let mut by_name = std::collections::BTreeMap::new();
        for (name, shape, values) in tensors {
            let Some(param) = name.strip_prefix("initial/") else {
                return Err(format!("relearn keeps no state tensor named {name}"));
            };
            by_name.insert(param.to_string(), (shape, values));
        }
        let mut initial = Vec::with_capacity(self.initial.len());
        for (name, shape, _) in &self.initial {
            match by_name.remove(name) {
                Some((s, v)) if &s == shape => initial.push((name.clone(), s, v)),
                Some((s, _)) => {
                    return Err(format!(
                        "the checkpoint's initial {name} has shape {s:?}, the model's {shape:?}"
                    ))
                }
                None => return Err(format!("the checkpoint has no initial weights of {name}")),
            }
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(format!(
                "the checkpoint has initial weights of {extra}, which the model's encoders lack"
            ));
        }
        self.initial = initial;
        Ok(())
    }
}
