//! The method seam's hooks for the methods still to come, each used by a small test method
//! that lives only here (nothing of it ships):
//!
//! * (a) trainable parameters a method owns — [`ClassLayer`], an extra C×C layer on the fused
//!   logits (AMCo's shape): in the store, updated by the optimiser with the gradient a host
//!   computation gives, checkpointed;
//! * (b) optimisers a method owns, one fresh per training stage, and (c) method state as
//!   tensors — [`Staged`]: a copy of the initial weights (Re-learning's θ⁰) and a stage
//!   optimiser for the fusion head, both through a checkpoint;
//! * (d) per-sample loss weights that carry gradient — [`weighted_cross_entropy`] against a
//!   closed-form gradient;
//! * (e) the epoch's training list — [`Resampled`]: duplicates and per-sample modality
//!   zeroing from the `resample` stream;
//! * (f) frozen models from other finished runs — [`Distill`]: a teacher run loaded, checked
//!   by its identity, never trained;
//! * (g) cross-modal blocks between the encoders' stages — [`Bridge`]: each modality's
//!   first-stage features plus a learned map of the other's, trained and used at evaluation;
//! * method-generic metrics — [`Resampled`] reports a column of its own.
//!
//! Kill and resume is simulated as a run does it: checkpoint after an epoch, write it, read it,
//! restore into a fresh trainer with a fresh method.

use crate::common::recipe;
use balmix::data::{Cache, Dataset, Splits};
use balmix::method::engine::all_groups;
use balmix::method::frozen::{FrozenModel, FrozenRequest};
use balmix::method::metrics::{MetricColumn, Reduce};
use balmix::method::weighted_loss::weighted_cross_entropy;
use balmix::method::{
    EpochContext, EpochSamples, Method, StepContext, StepError, StepStats, Updater, UpdaterState,
};
use balmix::model::exchange::{Exchange, StageShape};
use balmix::model::params::{Group, Matrix, NamedTensor, ParamId, ValueKind};
use balmix::model::{Model, ParamStore};
use balmix::recipe::Recipe;
use balmix::record::Identity;
use balmix::train::checkpoint;
use balmix::train::trainer::Trainer;
use dfdx::prelude::*;
use rand::seq::SliceRandom;
use rand::Rng;
use std::path::{Path, PathBuf};

type Dev = Cpu;

fn load(r: &Recipe) -> (Dataset, Splits) {
    balmix::data::load(&r.data_settings(), &Cache::new(None), &|_| {}).expect("synthetic data")
}

/// Plain SGD without momentum or weight decay, so one update is W − lr·∇W exactly.
const PLAIN_SGD: [&str; 2] = ["optim.momentum=0", "optim.weight_decay=0"];

fn weights(t: &Trainer<Dev>) -> Vec<Vec<f32>> {
    t.model
        .store
        .params
        .iter()
        .map(|p| p.tensor.to_host())
        .collect()
}

fn stats(loss: f64, modalities: usize) -> StepStats {
    StepStats {
        loss,
        contribution: vec![0.0; modalities],
        contribution_ema: None,
        plan: None,
        coefficients: vec![1.0; modalities],
    }
}

/// Train `epochs` epochs, or train `cut` of them, checkpoint through a file, restore into a
/// fresh trainer with `fresh()` and train the rest; returns the final weights.
fn train_with_cut(
    r: &Recipe,
    data: &Dataset,
    splits: &Splits,
    fresh: &dyn Fn() -> Box<dyn Method<Dev>>,
    epochs: usize,
    cut: Option<usize>,
) -> Vec<Vec<f32>> {
    let mut t = Trainer::with_method(r, 0, data, splits, Dev::default(), fresh()).unwrap();
    t.attach_frozen(std::path::Path::new("."), &Cache::new(None), &|_| {})
        .unwrap();
    let first = cut.unwrap_or(epochs);
    for _ in 0..first {
        t.run_epoch(&mut |_| {}).unwrap();
    }
    if cut.is_none() {
        return weights(&t);
    }
    let identity = Identity::default();
    let (state, tensors) = t.checkpoint(&identity);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("checkpoint.safetensors");
    checkpoint::save(&path, &state, &tensors).unwrap();
    let (state, tensors) =
        checkpoint::load(&path, &t.model.store.names(), &identity, &t.frozen).unwrap();
    let mut resumed = Trainer::with_method(r, 0, data, splits, Dev::default(), fresh()).unwrap();
    resumed
        .attach_frozen(std::path::Path::new("."), &Cache::new(None), &|_| {})
        .unwrap();
    resumed.restore(state, tensors).unwrap();
    for _ in first..epochs {
        resumed.run_epoch(&mut |_| {}).unwrap();
    }
    weights(&resumed)
}

// ---------------------------------------------------------------------------------------------
// (a) A method's own trainable parameters.

/// Fused logits through an extra C×C layer the method owns: out = head(fuse(z)) · W.
struct ClassLayer {
    id: Option<ParamId>,
}

impl ClassLayer {
    const NAME: &'static str = "method.class_layer.weight";

    fn weight(&self, store: &ParamStore<Dev>) -> Matrix<Dev> {
        store.matrix(self.id.expect("parameters added")).clone()
    }
}

impl Method<Dev> for ClassLayer {
    fn add_parameters(&mut self, model: &mut Model<Dev>, rng: &mut rand_chacha::ChaCha8Rng) {
        let k = model.classes;
        // Identity plus a little noise, so the layer starts near "no change".
        let values = (0..k * k)
            .map(|i| (i / k == i % k) as u8 as f32 + rng.gen_range(-0.1f32..0.1))
            .collect();
        let id = model.store.add_values(
            Self::NAME.into(),
            (k, Some(k)),
            values,
            Group::Method,
            ValueKind::Trainable,
        );
        self.id = Some(id);
    }

    fn step(&mut self, cx: &mut StepContext<'_, Dev>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let zs = cx.encode(cx.host_batch()?);
        let logits = cx
            .model
            .head(cx.model.fuse(zs))
            .matmul(self.weight(&cx.model.store));
        let loss = cross_entropy_with_logits_loss(logits, cx.one_hot(&labels));
        let value = loss.as_vec()[0] as f64;
        let mut grads = cx.backward(loss)?;
        cx.update(&mut grads, &all_groups)?;
        Ok(stats(value, cx.modalities()))
    }

    fn predict(&self, model: &Model<Dev>, zs: Vec<Matrix<Dev>>) -> Vec<f32> {
        model
            .head(model.fuse(zs))
            .matmul(self.weight(&model.store))
            .as_vec()
    }
}

fn class_layer() -> Box<dyn Method<Dev>> {
    Box::new(ClassLayer { id: None })
}

#[test]
fn a_method_owned_layer_is_in_the_store_and_takes_the_gradient_a_host_computation_gives() {
    let r = recipe("tiny.toml", &PLAIN_SGD);
    let (data, splits) = load(&r);
    let plain = Trainer::new(&r, 0, &data, &splits, Dev::default()).unwrap();
    let mut t = Trainer::with_method(&r, 0, &data, &splits, Dev::default(), class_layer()).unwrap();
    let k = t.model.classes;
    // In the store, in the method's group, counted, the model's own weights untouched.
    let last = t.model.store.params.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.group),
        (ClassLayer::NAME, Group::Method)
    );
    assert_eq!(t.model.store.count(), plain.model.store.count() + k * k);
    assert_eq!(weights(&t)[..weights(&plain).len()], weights(&plain)[..]);

    // One step of plain SGD on a batch; the layer's update against ∇W = Lᵀ(softmax(LW) − Y)/n
    // computed on the host in f64 from the logits L before the step.
    let idx: Vec<usize> = splits.train[..16].to_vec();
    let n = idx.len();
    let view = balmix::media::source::View::Train { seed: 0, epoch: 0 };
    let zs: Vec<Matrix<Dev>> = data
        .modalities
        .iter()
        .enumerate()
        .map(|(m, modality)| {
            let rows = modality.rows(&idx, view).unwrap();
            let x: Matrix<Dev> = t.model.store.dev.tensor_from_vec(rows, (n, modality.width));
            t.model.encode(m, x)
        })
        .collect();
    let logits = t.model.head(t.model.fuse(zs)).as_vec();
    let before = t.model.store.params.last().unwrap().tensor.to_host();
    let lr = 0.5;
    t.train_step(&idx, 0, lr).unwrap();
    let after = t.model.store.params.last().unwrap().tensor.to_host();
    let mut grad = vec![0f64; k * k];
    for (i, &i_sample) in idx.iter().enumerate() {
        let l = &logits[i * k..(i + 1) * k];
        let s: Vec<f64> = (0..k)
            .map(|c| (0..k).map(|a| l[a] as f64 * before[a * k + c] as f64).sum())
            .collect();
        let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().map(|v| (v - max).exp()).sum();
        for c in 0..k {
            let p = (s[c] - max).exp() / z;
            let y = (data.labels[i_sample] == c) as u8 as f64;
            for a in 0..k {
                grad[a * k + c] += l[a] as f64 * (p - y) / n as f64;
            }
        }
    }
    for (j, g) in grad.iter().enumerate() {
        let taken = (before[j] as f64 - after[j] as f64) / lr;
        assert!(
            (taken - g).abs() < 1e-4,
            "W[{j}]: update/lr {taken} vs host gradient {g}"
        );
    }
    assert!(grad.iter().any(|g| g.abs() > 1e-3), "a step that moves W");
}

#[test]
fn a_method_owned_layer_is_checkpointed_and_resumes_bit_identically() {
    let r = recipe("tiny.toml", &["train.epochs=3"]);
    let (data, splits) = load(&r);
    let whole = train_with_cut(&r, &data, &splits, &class_layer, 3, None);
    let cut = train_with_cut(&r, &data, &splits, &class_layer, 3, Some(2));
    assert!(
        whole == cut,
        "resumed weights differ from the uninterrupted run's"
    );
    // The layer moved from its initial values (the optimiser updates it).
    let t = Trainer::with_method(&r, 0, &data, &splits, Dev::default(), class_layer()).unwrap();
    assert_ne!(whole.last(), weights(&t).last());
}

// ---------------------------------------------------------------------------------------------
// (b) optimisers a method owns and (c) method state as tensors.

/// Encoders by the run's optimiser; the fusion head by a stage optimiser the method owns,
/// fresh every `stage_epochs` epochs; at each epoch's end the encoders move toward their
/// initial weights θ⁰: θ ← (1 − w)·θ + w·θ⁰.
struct Staged {
    w: f32,
    stage_epochs: usize,
    /// θ⁰ of every parameter (kept as state tensors).
    initial: Vec<NamedTensor>,
    stage: Option<Box<dyn Updater<Dev>>>,
    stage_steps: u64,
    /// Whether the stage optimiser's state goes into checkpoints (off: the planted bug the
    /// resume test must catch).
    checkpoint_stage: bool,
}

fn staged(w: f32, checkpoint_stage: bool) -> Box<dyn Method<Dev>> {
    Box::new(Staged {
        w,
        stage_epochs: 2,
        initial: Vec::new(),
        stage: None,
        stage_steps: 0,
        checkpoint_stage,
    })
}

fn is_encoder(g: Group) -> bool {
    matches!(g, Group::Encoder(_))
}

impl Method<Dev> for Staged {
    fn epoch_start(&mut self, cx: &mut EpochContext<'_, Dev>) -> Result<(), StepError> {
        if self.initial.is_empty() {
            self.initial = cx.model.store.named_host_tensors();
        }
        if cx.epoch.is_multiple_of(self.stage_epochs) || self.stage.is_none() {
            self.stage = Some((cx.new_updater)());
            self.stage_steps = 0;
        }
        Ok(())
    }

    fn step(&mut self, cx: &mut StepContext<'_, Dev>) -> Result<StepStats, StepError> {
        let labels = cx.labels();
        let zs = cx.encode(cx.host_batch()?);
        let logits = cx.model.head(cx.model.fuse(zs));
        let loss = cross_entropy_with_logits_loss(logits, cx.one_hot(&labels));
        let value = loss.as_vec()[0] as f64;
        let mut grads = cx.backward(loss)?;
        cx.update(&mut grads, &is_encoder)?;
        let stage = self.stage.as_mut().expect("a stage optimiser");
        stage.update(&mut cx.model.store, &mut grads, cx.lr, &|g| {
            g == Group::Fusion
        });
        self.stage_steps += 1;
        Ok(stats(value, cx.modalities()))
    }

    fn epoch_end(&mut self, cx: &mut EpochContext<'_, Dev>) -> Result<(), StepError> {
        let store = &mut cx.model.store;
        for id in 0..store.params.len() {
            let p = &store.params[id];
            if !is_encoder(p.group) || p.buffer {
                continue;
            }
            let now = p.tensor.to_host();
            let moved = now
                .iter()
                .zip(&self.initial[id].2)
                .map(|(a, b)| (1.0 - self.w) * a + self.w * b)
                .collect();
            store.set_values(id, moved);
        }
        Ok(())
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "stage_steps": self.stage_steps })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        self.stage_steps = state["stage_steps"].as_u64().ok_or("no stage_steps")?;
        Ok(())
    }

    fn state_tensors(&mut self, store: &ParamStore<Dev>) -> Vec<NamedTensor> {
        let mut out: Vec<NamedTensor> = self
            .initial
            .iter()
            .map(|(n, s, v)| (format!("initial/{n}"), s.clone(), v.clone()))
            .collect();
        if let (true, Some(stage)) = (self.checkpoint_stage, self.stage.as_mut()) {
            let st = stage.export_state(store);
            for (i, (a, b)) in st.first.into_iter().zip(st.second).enumerate() {
                out.push((format!("stage.first/{i:04}"), vec![a.len()], a));
                out.push((format!("stage.second/{i:04}"), vec![b.len()], b));
            }
        }
        out
    }

    fn restore_tensors(
        &mut self,
        tensors: Vec<NamedTensor>,
        store: &ParamStore<Dev>,
        new_updater: &dyn Fn() -> Box<dyn Updater<Dev>>,
    ) -> Result<(), String> {
        let mut st = UpdaterState {
            steps: self.stage_steps,
            ..UpdaterState::default()
        };
        for (name, shape, values) in tensors {
            if let Some(n) = name.strip_prefix("initial/") {
                self.initial.push((n.to_string(), shape, values));
            } else if name.starts_with("stage.first/") {
                st.first.push(values);
            } else if name.starts_with("stage.second/") {
                st.second.push(values);
            } else {
                return Err(format!("unknown state tensor {name}"));
            }
        }
        // Checkpoints hand tensors back in name order: put θ⁰ back in the store's order.
        let position = |n: &str| store.params.iter().position(|p| p.name == n);
        self.initial.sort_by_key(|(n, _, _)| position(n));
        if self.initial.len() != store.params.len() {
            return Err(format!(
                "{} initial tensors for {} parameters",
                self.initial.len(),
                store.params.len()
            ));
        }
        if !st.first.is_empty() {
            let mut stage = new_updater();
            stage.import_state(store, &st);
            self.stage = Some(stage);
        }
        Ok(())
    }
}

#[test]
fn a_kill_mid_stage_resumes_bit_identically_only_with_the_owned_optimiser_checkpointed() {
    // Momentum 0.9 (the recipe's): the stage optimiser's buffers matter after a restore.
    let r = recipe("tiny.toml", &["train.epochs=3"]);
    let (data, splits) = load(&r);
    let with = || staged(0.3, true);
    let whole = train_with_cut(&r, &data, &splits, &with, 3, None);
    // Cut after epoch 1: mid-stage (stages of 2 epochs), θ⁰ and the stage optimiser restored.
    let cut = train_with_cut(&r, &data, &splits, &with, 3, Some(1));
    assert!(
        whole == cut,
        "resumed weights differ from the uninterrupted run's"
    );
    // The planted bug: the stage optimiser left out of the checkpoint (a fresh one after the
    // restore) must show.
    let without = || staged(0.3, false);
    let lost = train_with_cut(&r, &data, &splits, &without, 3, Some(1));
    assert!(
        whole != lost,
        "losing the stage optimiser's state went unnoticed"
    );
}

#[test]
fn interpolating_with_weight_one_restores_the_initial_weights_kept_as_tensors() {
    let r = recipe("tiny.toml", &["train.epochs=2"]);
    let (data, splits) = load(&r);
    let fresh = Trainer::new(&r, 0, &data, &splits, Dev::default()).unwrap();
    let theta0 = weights(&fresh);
    // Through a checkpoint after epoch 1, so θ⁰ comes back from the checkpoint's tensors.
    let one = train_with_cut(&r, &data, &splits, &|| staged(1.0, true), 2, Some(1));
    let zero = train_with_cut(&r, &data, &splits, &|| staged(0.0, true), 2, Some(1));
    for (i, p) in fresh.model.store.params.iter().enumerate() {
        if is_encoder(p.group) && !p.buffer {
            assert_eq!(one[i], theta0[i], "{}: w = 1 restores θ⁰", p.name);
            assert_ne!(
                zero[i], theta0[i],
                "{}: w = 0 keeps the trained weights",
                p.name
            );
        } else if p.group == Group::Fusion {
            assert_ne!(
                one[i], theta0[i],
                "{}: the head is not interpolated",
                p.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (d) Per-sample loss weights that carry gradient.

#[test]
fn weighted_cross_entropy_passes_gradient_through_the_weights() {
    // x (n × k) traced; w_i = 2σ(x_{i,y_i}) from the same tensor, so the weights carry
    // gradient. L = (1/n) Σ_i w_i CE_i; by hand,
    // ∂L/∂x_ij = (1/n)[w_i (p_ij − t_ij) + CE_i · 2σ(x_iy)(1 − σ(x_iy)) · [j = y_i]].
    let (n, k) = (5, 3);
    let dev = Dev::default();
    let xs: Vec<f32> = (0..n * k)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0)
        .collect();
    let labels: Vec<usize> = (0..n).map(|i| (i * 2) % k).collect();
    let onehot: Vec<f32> = balmix::mixup::mix::one_hot(&labels, k);
    let x: Matrix<Dev> = dev.tensor_from_vec(xs.clone(), (n, k));
    let t: Matrix<Dev> = dev.tensor_from_vec(onehot.clone(), (n, k));
    let traced = x.leaky_trace();
    let picked = (traced.retaped::<OwnedTape<f32, Dev>>() * t.clone()).sum::<(usize,), Axis<1>>();
    let w = picked.sigmoid() * 2.0;
    let loss = weighted_cross_entropy(traced, t.clone(), w);
    let value = loss.as_vec()[0] as f64;
    let grads = loss.backward();
    let got = grads.get(&x).as_vec();
    let mut want_loss = 0.0;
    for i in 0..n {
        let row: Vec<f64> = xs[i * k..(i + 1) * k].iter().map(|&v| v as f64).collect();
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|v| (v - max).exp()).sum();
        let p: Vec<f64> = row.iter().map(|v| (v - max).exp() / z).collect();
        let y = labels[i];
        let ce = -p[y].ln();
        let s = 1.0 / (1.0 + (-row[y]).exp());
        let wi = 2.0 * s;
        want_loss += wi * ce / n as f64;
        for j in 0..k {
            let mut g = wi * (p[j] - (j == y) as u8 as f64);
            if j == y {
                g += ce * 2.0 * s * (1.0 - s);
            }
            g /= n as f64;
            assert!(
                (got[i * k + j] as f64 - g).abs() < 1e-6,
                "∂L/∂x[{i},{j}]: {} vs {g}",
                got[i * k + j]
            );
        }
    }
    assert!(
        (value - want_loss).abs() < 1e-6,
        "loss {value} vs {want_loss}"
    );
    // Detached weights (no tape) drop the second term: the gradient differs at x_{i,y_i}.
    let detached = (x.clone() * t.clone()).sum::<(usize,), Axis<1>>().sigmoid() * 2.0;
    let traced = x.leaky_trace();
    let loss = weighted_cross_entropy(traced, t, detached.retaped::<OwnedTape<f32, Dev>>());
    let plain = loss.backward().get(&x).as_vec();
    assert!(
        (got[0] - plain[0]).abs() > 1e-3,
        "a detached weight gives the same gradient: the weights carried none"
    );
}

// ---------------------------------------------------------------------------------------------
// (e) The epoch's training list, and a method metric of its own.

/// A quarter of the list duplicated and every entry's first modality zeroed with probability
/// 0.3, from the `resample` stream; reports the share of zeroed rows as its only metric.
struct Resampled;

fn resample(seed: u64, epoch: usize, mut order: Vec<usize>) -> EpochSamples {
    let mut rng = balmix::rng::stream(seed, balmix::rng::Stream::Resample, epoch as u64);
    let extra: Vec<usize> = order[..order.len() / 4].to_vec();
    order.extend(extra);
    order.shuffle(&mut rng);
    let zeroed = order
        .iter()
        .map(|_| vec![rng.gen_bool(0.3), false])
        .collect();
    EpochSamples { order, zeroed }
}

impl Method<Dev> for Resampled {
    fn epoch_samples(
        &mut self,
        cx: &mut EpochContext<'_, Dev>,
        order: Vec<usize>,
    ) -> Result<EpochSamples, StepError> {
        Ok(resample(cx.seed, cx.epoch, order))
    }

    fn metric_columns(&self, _modalities: &[String]) -> Vec<MetricColumn> {
        vec![MetricColumn {
            name: "zeroed_share".into(),
            tag: "resample/zeroed_share".into(),
            reduce: Reduce::SampleMean,
        }]
    }

    fn step_metrics(&self, stats: &StepStats, _n: usize, _m: usize) -> Vec<Option<f64>> {
        // The share this step saw, passed through the contribution slot of its stats.
        vec![Some(stats.contribution[0])]
    }

    fn step(&mut self, cx: &mut StepContext<'_, Dev>) -> Result<StepStats, StepError> {
        let host = cx.host_batch()?;
        let zeroed = cx.zeroed.expect("the list zeroes some rows");
        assert_eq!(zeroed.len(), cx.n());
        let width = cx.data.modalities[0].width;
        for (i, z) in zeroed.iter().enumerate() {
            let row = &host[0][i * width..(i + 1) * width];
            assert_eq!(row.iter().all(|&v| v == 0.0), z[0], "row {i} of modality 0");
        }
        let share = zeroed.iter().filter(|z| z[0]).count() as f64 / cx.n() as f64;
        let labels = cx.labels();
        let logits = cx.model.head(cx.model.fuse(cx.encode(host)));
        let loss = cross_entropy_with_logits_loss(logits, cx.one_hot(&labels));
        let value = loss.as_vec()[0] as f64;
        let mut grads = cx.backward(loss)?;
        cx.update(&mut grads, &all_groups)?;
        let mut s = stats(value, cx.modalities());
        s.contribution[0] = share;
        Ok(s)
    }
}

#[test]
fn a_resampled_list_sets_the_batches_the_zeroed_inputs_and_the_method_metric() {
    let r = recipe("tiny.toml", &["train.epochs=2"]);
    let (data, splits) = load(&r);
    let mut t =
        Trainer::with_method(&r, 0, &data, &splits, Dev::default(), Box::new(Resampled)).unwrap();
    let row = t.run_epoch(&mut |_| {}).unwrap();
    // The list, rebuilt here from the same stream: its length sets the steps.
    let mut order = splits.train.clone();
    order.shuffle(&mut balmix::rng::stream(0, balmix::rng::Stream::Shuffle, 0));
    let list = resample(0, 0, order);
    let bs = r.train().batch_size;
    assert_eq!(t.step as usize, list.order.len().div_ceil(bs));
    assert!(list.order.len() > splits.train.len());
    // The method's only metric column, its epoch value the share of zeroed entries.
    let share = list.zeroed.iter().filter(|z| z[0]).count() as f64 / list.order.len() as f64;
    assert_eq!(row.method.len(), 1);
    assert_eq!(row.method[0].name, "zeroed_share");
    assert!((row.method[0].value.unwrap() - share).abs() < 1e-12);
    // metrics.csv's header takes the column from the method.
    let tmp = tempfile::tempdir().unwrap();
    let names = vec!["audio".to_string(), "visual".to_string()];
    balmix::record::write_metrics(tmp.path(), &names, &t.metric_columns(), &t.metrics).unwrap();
    let csv = std::fs::read_to_string(tmp.path().join("metrics.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.contains(",accuracy_visual,zeroed_share,seconds,"),
        "{header}"
    );
    assert!(!header.contains("grad_k"), "{header}");
}

#[test]
fn a_resampled_list_resumes_bit_identically() {
    let r = recipe("tiny.toml", &["train.epochs=2"]);
    let (data, splits) = load(&r);
    let method = || Box::new(Resampled) as Box<dyn Method<Dev>>;
    let whole = train_with_cut(&r, &data, &splits, &method, 2, None);
    let cut = train_with_cut(&r, &data, &splits, &method, 2, Some(1));
    assert!(
        whole == cut,
        "resumed weights differ from the uninterrupted run's"
    );
}

// ---------------------------------------------------------------------------------------------
// (f) Frozen models from other finished runs.

/// The fused loss plus `weight` × the cross-entropy against a frozen teacher's softmax.
struct Distill {
    request: FrozenRequest,
    teacher: Option<FrozenModel<Dev>>,
    weight: f32,
}

fn distill(run_dir: &Path, recipe_hash: Option<String>) -> Box<dyn Method<Dev>> {
    Box::new(Distill {
        request: FrozenRequest {
            run_dir: run_dir.to_path_buf(),
            recipe_hash,
            for_modality: None,
            at_eval: false,
        },
        teacher: None,
        weight: 0.5,
    })
}

impl Method<Dev> for Distill {
    fn frozen_runs(&self) -> Vec<FrozenRequest> {
        vec![self.request.clone()]
    }

    fn receive_frozen(&mut self, mut models: Vec<FrozenModel<Dev>>) {
        self.teacher = models.pop();
    }

    fn step(&mut self, cx: &mut StepContext<'_, Dev>) -> Result<StepStats, StepError> {
        let teacher = &self
            .teacher
            .as_ref()
            .expect("the teacher was attached")
            .model;
        let host = cx.host_batch()?;
        let n = cx.n();
        let frozen: Vec<Matrix<Dev>> = host
            .iter()
            .enumerate()
            .map(|(m, rows)| {
                let x: Matrix<Dev> = teacher
                    .store
                    .dev
                    .tensor_from_vec(rows.clone(), (n, rows.len() / n));
                teacher.encode(m, x)
            })
            .collect();
        let soft = teacher.head(teacher.fuse(frozen)).softmax::<Axis<1>>();
        let labels = cx.labels();
        let logits = cx.model.head(cx.model.fuse(cx.encode(host)));
        let hard = cross_entropy_with_logits_loss(logits.retaped(), cx.one_hot(&labels));
        let value = hard.as_vec()[0] as f64;
        let loss = hard + cross_entropy_with_logits_loss(logits, soft) * self.weight;
        let mut grads = cx.backward(loss)?;
        cx.update(&mut grads, &all_groups)?;
        Ok(stats(value, cx.modalities()))
    }
}

/// A finished teacher run of `tiny.toml` (2 epochs) under `out`.
fn teacher(out: &Path) -> (Recipe, PathBuf) {
    let r = recipe("tiny.toml", &["train.epochs=2"]);
    let dir = crate::common::train(&r, 0, out);
    (r, dir)
}

fn saved_tensors(dir: &Path) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let v = st.tensor(n).unwrap();
            v.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
        .collect()
}

fn sorted_weights(m: &Model<Dev>) -> Vec<Vec<f32>> {
    let mut named: Vec<(String, Vec<f32>)> = m
        .store
        .params
        .iter()
        .map(|p| (p.name.clone(), p.tensor.to_host()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, v)| v).collect()
}

#[test]
fn a_frozen_teacher_run_is_loaded_as_saved_and_its_student_resumes_bit_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let (tr, dir) = teacher(tmp.path());
    let hash = balmix::record::read_summary(&dir).unwrap().recipe_hash;
    let r = recipe("tiny.toml", &["train.epochs=2"]);
    let (data, splits) = load(&r);
    let mut t = Trainer::with_method(
        &r,
        1,
        &data,
        &splits,
        Dev::default(),
        distill(&dir, Some(hash.clone())),
    )
    .unwrap();
    t.attach_frozen(std::path::Path::new("."), &Cache::new(None), &|_| {})
        .unwrap();
    // The student records the teacher by its run's identity, and it is unchanged.
    let teacher_summary = balmix::record::read_summary(&dir).unwrap();
    let record = balmix::record::FrozenRecord {
        dir: dir.display().to_string(),
        recipe_hash: hash.clone(),
        model_sha256: teacher_summary.model_sha256.clone().unwrap(),
    };
    assert_eq!(t.frozen, vec![record.clone()]);
    assert_eq!(record.changed(), None);
    // The checkpoint carries the record: it loads with the same teacher, and a resume with
    // another teacher (here: the same run retrained) is refused like another run's.
    let (state, tensors) = t.checkpoint(&Identity::default());
    assert_eq!(state.frozen, vec![record.clone()]);
    let ckpt_dir = tempfile::tempdir().unwrap();
    let ckpt = ckpt_dir.path().join("checkpoint.safetensors");
    checkpoint::save(&ckpt, &state, &tensors).unwrap();
    let names = t.model.store.names();
    checkpoint::load(&ckpt, &names, &Identity::default(), &t.frozen).unwrap();
    let other = balmix::record::FrozenRecord {
        model_sha256: "f".repeat(64),
        ..record.clone()
    };
    let refused = checkpoint::load(&ckpt, &names, &Identity::default(), &[other])
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("belongs to another run") && refused.contains("frozen model"),
        "{refused}"
    );
    let plain = Trainer::new(&tr, 1, &data, &splits, Dev::default()).unwrap();
    for _ in 0..2 {
        t.run_epoch(&mut |_| {}).unwrap();
    }
    // The student trained; a teacher loaded the same way holds the saved weights.
    assert_ne!(weights(&t), weights(&plain));
    let checked = balmix::train::frozen::load(
        &FrozenRequest {
            run_dir: dir.clone(),
            recipe_hash: Some(hash),
            for_modality: None,
            at_eval: false,
        },
        &Cache::new(None),
        &|_| {},
        Dev::default(),
    )
    .unwrap();
    assert_eq!(sorted_weights(&checked.model), saved_tensors(&dir));
    // Resuming a distilling student is bit-identical (the teacher is attached again).
    let method = || distill(&dir, None);
    let whole = train_with_cut(&r, &data, &splits, &method, 2, None);
    let cut = train_with_cut(&r, &data, &splits, &method, 2, Some(1));
    assert!(
        whole == cut,
        "resumed weights differ from the uninterrupted run's"
    );
    // The teacher trained again (another model in its summary): the student's record of it
    // says so, which makes the student's finished result stale (`train::run`).
    let mut retrained = teacher_summary;
    retrained.model_sha256 = Some("f".repeat(64));
    let text = serde_json::to_string_pretty(&retrained).unwrap();
    std::fs::write(dir.join(balmix::record::SUMMARY), text).unwrap();
    let why = record.changed().expect("a retrained teacher is a change");
    assert!(why.contains("was trained again (model"), "{why}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(record
        .changed()
        .unwrap()
        .contains("no longer a finished run"));
}

#[test]
fn a_frozen_run_of_another_recipe_or_with_a_changed_model_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, dir) = teacher(tmp.path());
    let load = |hash: Option<String>| {
        balmix::train::frozen::load(
            &FrozenRequest {
                run_dir: dir.clone(),
                recipe_hash: hash,
                for_modality: None,
                at_eval: false,
            },
            &Cache::new(None),
            &|_| {},
            Dev::default(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    let other = load(Some("0".repeat(64))).unwrap_err();
    assert!(
        other.contains("trained under another recipe") && other.contains(&*dir.to_string_lossy()),
        "{other}"
    );
    // One weight changed after training: the file's sha256 no longer matches the summary.
    let path = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let changed = load(None).unwrap_err();
    assert!(changed.contains("the model file changed"), "{changed}");
    let missing = tmp.path().join("nowhere");
    let gone = balmix::train::frozen::load(
        &FrozenRequest {
            run_dir: missing,
            recipe_hash: None,
            for_modality: None,
            at_eval: false,
        },
        &Cache::new(None),
        &|_| {},
        Dev::default(),
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(gone.contains("not a finished run"), "{gone}");
}

// ---------------------------------------------------------------------------------------------
// (g) Cross-modal blocks between the encoders' stages.

/// After stage 0: h_a ← h_a + h_v W_va and h_v ← h_v + h_a W_av, with W owned by the method
/// (zeros at the start, so the first forward is the standard one).
#[derive(Clone, Copy)]
struct Blocks {
    /// W_va, W_av.
    ids: [ParamId; 2],
}

impl Exchange<Dev> for Blocks {
    fn after(&self) -> Vec<usize> {
        vec![0]
    }

    fn exchange<T: dfdx::tensor::Tape<f32, Dev>>(
        &self,
        _stage: usize,
        hs: Vec<Matrix<Dev, T>>,
        store: &ParamStore<Dev>,
    ) -> Vec<Matrix<Dev, T>> {
        let [a, v]: [Matrix<Dev, T>; 2] = hs.try_into().ok().expect("two modalities");
        let from_v = v.retaped::<T>().matmul(store.matrix(self.ids[0]).clone());
        let from_a = a.retaped::<T>().matmul(store.matrix(self.ids[1]).clone());
        vec![a + from_v, v + from_a]
    }
}

struct Bridge {
    blocks: Option<Blocks>,
}

impl Method<Dev> for Bridge {
    fn add_parameters(&mut self, model: &mut Model<Dev>, _rng: &mut rand_chacha::ChaCha8Rng) {
        // The tiny recipe's encoders: one hidden layer of 32, so stage 0 is 32 wide in both.
        let mut add = |name: &str| {
            model.store.add_values(
                format!("method.bridge.{name}"),
                (32, Some(32)),
                vec![0.0; 32 * 32],
                Group::Method,
                ValueKind::Trainable,
            )
        };
        self.blocks = Some(Blocks {
            ids: [add("from_visual"), add("from_audio")],
        });
    }

    fn step(&mut self, cx: &mut StepContext<'_, Dev>) -> Result<StepStats, StepError> {
        let blocks = self.blocks.expect("parameters added");
        let n = cx.n();
        let xs: Vec<Matrix<Dev, OwnedTape<f32, Dev>>> = cx
            .host_batch()?
            .into_iter()
            .map(|rows| {
                let w = rows.len() / n;
                let x: Matrix<Dev> = cx.model.store.dev.tensor_from_vec(rows, (n, w));
                x.retaped()
            })
            .collect();
        let zs = cx
            .model
            .encode_exchanging(xs, &blocks)
            .map_err(|_| StepError::Unsupported("mlp or conv encoders"))?;
        let labels = cx.labels();
        let logits = cx.model.head(cx.model.fuse(zs));
        let loss = cross_entropy_with_logits_loss(logits, cx.one_hot(&labels));
        let value = loss.as_vec()[0] as f64;
        let mut grads = cx.backward(loss)?;
        cx.update(&mut grads, &all_groups)?;
        Ok(stats(value, cx.modalities()))
    }

    fn encode_eval(&self, model: &Model<Dev>, xs: Vec<Matrix<Dev>>) -> Vec<Matrix<Dev>> {
        let blocks = self.blocks.expect("parameters added");
        model
            .encode_exchanging(xs, &blocks)
            .expect("mlp encoders have stages")
    }
}

/// The clean inputs of samples `idx`, one matrix per modality.
fn inputs(data: &Dataset, idx: &[usize]) -> Vec<Matrix<Dev>> {
    let view = balmix::media::source::View::Eval;
    data.modalities
        .iter()
        .map(|m| Dev::default().tensor_from_vec(m.rows(idx, view).unwrap(), (idx.len(), m.width)))
        .collect()
}

#[test]
fn cross_modal_blocks_that_change_nothing_give_the_standard_forward() {
    let r = recipe("tiny.toml", &[]);
    let (data, splits) = load(&r);
    let mut t = Trainer::with_method(
        &r,
        0,
        &data,
        &splits,
        Dev::default(),
        Box::new(Bridge { blocks: None }),
    )
    .unwrap();
    let idx = &splits.test[..20];
    let blocks = Blocks {
        ids: [
            t.model.store.params.len() - 2,
            t.model.store.params.len() - 1,
        ],
    };
    let own: Vec<Vec<f32>> = inputs(&data, idx)
        .into_iter()
        .enumerate()
        .map(|(m, x)| t.model.encode(m, x).as_vec())
        .collect();
    let zero: Vec<Vec<f32>> = t
        .model
        .encode_exchanging(inputs(&data, idx), &blocks)
        .unwrap()
        .iter()
        .map(|z| z.as_vec())
        .collect();
    assert_eq!(zero, own, "zero blocks change the features");
    // A block that does something changes both modalities' features.
    t.model.store.set_values(blocks.ids[0], vec![0.05; 32 * 32]);
    t.model
        .store
        .set_values(blocks.ids[1], vec![-0.05; 32 * 32]);
    let mixed: Vec<Vec<f32>> = t
        .model
        .encode_exchanging(inputs(&data, idx), &blocks)
        .unwrap()
        .iter()
        .map(|z| z.as_vec())
        .collect();
    assert_ne!(mixed[0], own[0]);
    assert_ne!(mixed[1], own[1]);
    // The gradient crosses the block: ∂ Σ z_audio / ∂ (visual encoder's first bias) on the
    // tape against central differences of the untaped forward (ε = 1e-3, in f64 sums).
    let bias = t
        .model
        .store
        .params
        .iter()
        .position(|p| p.name == "encoder.visual.layers.0.bias")
        .unwrap();
    let audio_sum = |model: &Model<Dev>| -> f64 {
        let z = model
            .encode_exchanging(inputs(&data, idx), &blocks)
            .unwrap();
        z[0].as_vec().iter().map(|&v| v as f64).sum()
    };
    let taped: Vec<Matrix<Dev, OwnedTape<f32, Dev>>> = inputs(&data, idx)
        .into_iter()
        .map(|x| x.retaped())
        .collect();
    let z = t.model.encode_exchanging(taped, &blocks).unwrap();
    let [za, zv]: [Matrix<Dev, OwnedTape<f32, Dev>>; 2] = z.try_into().ok().unwrap();
    let grads = (za.sum::<(), _>() + zv.sum::<(), _>() * 0.0).backward();
    let got = grads.get(t.model.store.vector(bias)).as_vec();
    let eps = 1e-3f32;
    let base = t.model.store.params[bias].tensor.to_host();
    for j in 0..4 {
        let mut probe = t.model.clone();
        let mut up = base.clone();
        up[j] += eps;
        probe.store.set_values(bias, up);
        let plus = audio_sum(&probe);
        let mut down = base.clone();
        down[j] -= eps;
        probe.store.set_values(bias, down);
        let minus = audio_sum(&probe);
        let fd = (plus - minus) / (2.0 * eps as f64);
        assert!(
            (got[j] as f64 - fd).abs() < 5e-3 + 1e-2 * fd.abs(),
            "∂Σz_audio/∂b_visual[{j}]: tape {} vs central difference {fd}",
            got[j]
        );
    }
    assert!(
        got.iter().any(|g| g.abs() > 1e-2),
        "a gradient across the block"
    );
    // A stage the encoders do not have is an error, not a silent no-op.
    let late = t
        .model
        .encode_exchanging(inputs(&data, idx), &NoopAfter(2))
        .unwrap_err();
    assert!(late.to_string().contains("has 2 stages"), "{late}");
}

/// A block after stage `.0` that changes nothing.
struct NoopAfter(usize);

impl Exchange<Dev> for NoopAfter {
    fn after(&self) -> Vec<usize> {
        vec![self.0]
    }
    fn exchange<T: dfdx::tensor::Tape<f32, Dev>>(
        &self,
        _: usize,
        hs: Vec<Matrix<Dev, T>>,
        _: &ParamStore<Dev>,
    ) -> Vec<Matrix<Dev, T>> {
        hs
    }
}

/// Blocks after every ResNet-18 stage that multiply one stage's channel 0 by `scale` (1: no
/// change) and record the row layout each stage hands them.
struct ChannelScale {
    stage: usize,
    scale: f32,
    shapes: Vec<StageShape>,
    seen: std::cell::RefCell<Vec<(usize, usize, usize)>>,
}

impl Exchange<Dev> for ChannelScale {
    fn after(&self) -> Vec<usize> {
        vec![0, 1, 2, 3]
    }
    fn exchange<T: dfdx::tensor::Tape<f32, Dev>>(
        &self,
        stage: usize,
        hs: Vec<Matrix<Dev, T>>,
        _: &ParamStore<Dev>,
    ) -> Vec<Matrix<Dev, T>> {
        let (rows, width) = *hs[0].shape();
        self.seen.borrow_mut().push((stage, rows, width));
        if stage != self.stage || self.scale == 1.0 {
            return hs;
        }
        // Channel 0 of modality 0: the first `positions` entries of each row (c·h·w rows).
        let shape = self.shapes[stage];
        let mut factor = vec![1.0f32; width];
        factor[..shape.positions].fill(self.scale);
        let dev = Dev::default();
        let f: Tensor<(usize, usize), f32, Dev> =
            dev.tensor_from_vec(factor.repeat(rows), (rows, width));
        let mut hs = hs;
        let h0 = hs.remove(0);
        let mut out = vec![h0 * f];
        out.extend(hs);
        out
    }
}

#[test]
fn resnet18_encoders_run_cross_modal_blocks_between_their_four_stages() {
    let rr = recipe("tiny-resnet.toml", &[]);
    let resnet = Model::<Dev>::build(
        &rr.model_settings(),
        &[257 * 188, 3 * 224 * 224],
        6,
        0,
        Dev::default(),
    );
    let dev = Dev::default();
    let n = 2;
    let widths = [257 * 188, 3 * 224 * 224];
    // Deterministic inputs in [-0.5, 0.5).
    let xs = || -> Vec<Matrix<Dev>> {
        widths
            .iter()
            .map(|&w| {
                let v: Vec<f32> = (0..n * w)
                    .map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5)
                    .collect();
                dev.tensor_from_vec(v, (n, w))
            })
            .collect()
    };
    let shapes: Vec<StageShape> = (0..4).map(|s| resnet.encoders[0].stage_shape(s)).collect();
    // Width 2: stages of 2, 4, 8 and 16 channels; one frame per sample; c·h·w rows.
    assert_eq!(
        shapes
            .iter()
            .map(|s| (s.frames, s.channels, s.channels_first))
            .collect::<Vec<_>>(),
        vec![(1, 2, true), (1, 4, true), (1, 8, true), (1, 16, true)]
    );
    let blocks = |stage, scale| ChannelScale {
        stage,
        scale,
        shapes: shapes.clone(),
        seen: Default::default(),
    };
    // Blocks that change nothing: the staged forward is the plain one, bit for bit, in
    // evaluation (no tape) and in training (a tape: batch statistics).
    let noop = blocks(1, 1.0);
    let staged: Vec<Vec<f32>> = (resnet.encode_exchanging(xs(), &noop).unwrap())
        .iter()
        .map(|z| z.as_vec())
        .collect();
    let plain: Vec<Vec<f32>> = xs()
        .into_iter()
        .enumerate()
        .map(|(m, x)| resnet.encode(m, x).as_vec())
        .collect();
    assert_eq!(staged, plain, "no-op blocks change a ResNet-18's features");
    // Each stage hands the block one row per frame of the layout it reports.
    let seen = noop.seen.borrow().clone();
    assert_eq!(seen.len(), 4);
    for (stage, rows, width) in seen {
        let s = shapes[stage];
        assert_eq!(
            (rows, width),
            (n * s.frames, s.channels * s.positions),
            "stage {stage}"
        );
    }
    let taped = |x: Vec<Matrix<Dev>>| -> Vec<Matrix<Dev, OwnedTape<f32, Dev>>> {
        x.into_iter().map(|x| x.retaped()).collect()
    };
    let staged_train: Vec<Vec<f32>> = (resnet.encode_exchanging(taped(xs()), &noop).unwrap())
        .iter()
        .map(|z| z.as_vec())
        .collect();
    let plain_train: Vec<Vec<f32>> = taped(xs())
        .into_iter()
        .enumerate()
        .map(|(m, x)| resnet.encode(m, x).as_vec())
        .collect();
    assert_eq!(staged_train, plain_train, "in training too");
    // A block after layer2 (stage 1) that scales one channel changes that modality's
    // feature and not the other's (no exchange between them here).
    let scaled: Vec<Vec<f32>> = (resnet.encode_exchanging(xs(), &blocks(1, 2.0)).unwrap())
        .iter()
        .map(|z| z.as_vec())
        .collect();
    assert_ne!(scaled[0], plain[0]);
    assert_eq!(scaled[1], plain[1]);
    // A stage past layer4 is an error.
    let past = resnet.encode_exchanging(xs(), &NoopAfter(4)).unwrap_err();
    assert!(past.to_string().contains("has 4 stages"), "{past}");
}

#[test]
fn a_method_with_cross_modal_blocks_trains_them_and_evaluates_through_them() {
    let r = recipe("tiny.toml", &["train.epochs=2"]);
    let (data, splits) = load(&r);
    let bridge = || Box::new(Bridge { blocks: None }) as Box<dyn Method<Dev>>;
    let mut t = Trainer::with_method(&r, 0, &data, &splits, Dev::default(), bridge()).unwrap();
    let row = t.run_epoch(&mut |_| {}).unwrap();
    let n = t.model.store.params.len();
    let blocks = Blocks {
        ids: [n - 2, n - 1],
    };
    for id in blocks.ids {
        let w = t.model.store.params[id].tensor.to_host();
        assert!(
            w.iter().any(|&v| v != 0.0),
            "the gradient reached the block"
        );
    }
    // The epoch's test accuracy is the one of predictions through the blocks.
    let k = t.model.classes;
    let z = t
        .model
        .encode_exchanging(inputs(&data, &splits.test), &blocks)
        .unwrap();
    let logits = t.model.head(t.model.fuse(z)).as_vec();
    let hits = splits
        .test
        .iter()
        .enumerate()
        .filter(|(i, &s)| {
            let l = &logits[i * k..(i + 1) * k];
            let best = (0..k).fold(0, |b, c| if l[c] > l[b] { c } else { b });
            best == data.labels[s]
        })
        .count();
    assert_eq!(row.test_accuracy, hits as f64 / splits.test.len() as f64);
    // And through a checkpoint, bit-identically.
    let whole = train_with_cut(&r, &data, &splits, &bridge, 2, None);
    let cut = train_with_cut(&r, &data, &splits, &bridge, 2, Some(1));
    assert!(
        whole == cut,
        "resumed weights differ from the uninterrupted run's"
    );
}

// ---------------------------------------------------------------------------------------------
// Method metrics in a real run, against the mix-plan trace.

/// `metrics.csv`'s method columns of a B-MM run equal what the mix-plan trace (written from
/// each step's own stats, not through the reduction) gives when reduced as each column says:
/// λ as the mean over samples, contribution as the batch-size-weighted mean of the steps'
/// values (2,100 training samples in batches of 64: the last batch has 52, so a plain mean
/// over steps differs), the EMA as the epoch's last step's.
#[test]
fn metrics_csv_reduces_the_traced_steps_as_each_column_says() {
    let r = recipe("tiny-bmm.toml", &["train.epochs=2"]);
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace.csv");
    let opts = balmix::train::run::RunOptions {
        out: tmp.path().join("runs"),
        trace_mixup: Some(trace.clone()),
        ..Default::default()
    };
    balmix::train::run::run_seed(&r, 0, &opts).unwrap();
    let run = tmp.path().join("runs").join(r.name()).join("seed-0");
    let mut metrics = csv::Reader::from_path(run.join("metrics.csv")).unwrap();
    let header = metrics.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = metrics.records().map(Result::unwrap).collect();
    let mut traced = csv::Reader::from_path(&trace).unwrap();
    let th = traced.headers().unwrap().clone();
    let trows: Vec<csv::StringRecord> = traced.records().map(Result::unwrap).collect();
    let col = |h: &csv::StringRecord, name: &str| h.iter().position(|c| c == name).unwrap();
    let num = |s: &str| s.parse::<f64>().unwrap();
    // λ is an f32 in the plan, written in its shortest f32 form.
    let num32 = |s: &str| s.parse::<f32>().unwrap() as f64;
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    };
    for (e, row) in rows.iter().enumerate() {
        let epoch = e.to_string();
        let samples: Vec<&csv::StringRecord> = trows
            .iter()
            .filter(|t| &t[0] == "sample" && t[1] == *epoch)
            .collect();
        let steps: Vec<&csv::StringRecord> = trows
            .iter()
            .filter(|t| &t[0] == "step" && t[1] == *epoch)
            .collect();
        let n = samples.len() as f64;
        assert_eq!(samples.len(), 2100);
        for m in ["audio", "visual"] {
            let want: f64 = samples
                .iter()
                .map(|t| num32(&t[col(&th, &format!("lambda_{m}"))]))
                .sum::<f64>()
                / n;
            close(num(&row[col(&header, &format!("lambda_{m}"))]), want, "λ");
            let mut weighted = 0.0;
            let mut plain = 0.0;
            for s in &steps {
                let size = samples.iter().filter(|t| t[2] == s[2]).count() as f64;
                let c = num(&s[col(&th, &format!("c_{m}"))]);
                weighted += c * size;
                plain += c;
            }
            let got = num(&row[col(&header, &format!("contribution_{m}"))]);
            close(got, weighted / n, "contribution");
            assert!(
                (got - plain / steps.len() as f64).abs() > 1e-12,
                "a step mean passes too"
            );
            let last = steps.last().unwrap();
            let ema = &row[col(&header, &format!("contribution_ema_{m}"))];
            assert_eq!(
                ema,
                &last[col(&th, &format!("ema_{m}"))],
                "EMA of the last step"
            );
        }
        let label: f64 = samples
            .iter()
            .map(|t| num32(&t[col(&th, "lambda_label")]))
            .sum::<f64>()
            / n;
        close(num(&row[col(&header, "lambda_label")]), label, "λ label");
    }
}
