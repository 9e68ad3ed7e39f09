//! The crate against independent reference values.
//!
//! Every expected number here comes from `tests/reference/reference.json`, written by
//! `tests/reference/reference.py`: float64 numpy computations straight from the formulas of
//! DESIGN §5, not from this crate's code (see `tests/reference/README.md` to rerun it). The
//! inputs are in the JSON too; those the crate takes as f32 were rounded to f32 by the script.
//!
//! Tolerances: values the crate computes in f64 from the same inputs agree to 1e-9 relative
//! (in practice ~1e-15). Values the crate computes or stores in f32 (λ_m, λ_y, logits, the loss
//! and gradients of a training step) agree to a few f32 ulps: 2.5e-7 absolute for ratios in
//! [0.5, 1], and `2e-6 + 1e-5·|expected|` for logits, losses and gradients.

use balmix::data::{Dataset, Modality, Splits};
use balmix::mixup::contribution::{self, ContributionEma};
use balmix::mixup::{balanced, mix, ogm, plan};
use balmix::model::Model;
use balmix::recipe::file::{
    Contribution, Direction, EpochWindow, LabelWeight, OgmParams, OgmVariant,
};
use balmix::recipe::typed::OgmGeSettings;
use balmix::recipe::Recipe;
use balmix::train::trainer::Trainer;
use dfdx::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;

/// The committed reference values.
pub fn reference() -> &'static Value {
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        serde_json::from_str(include_str!("reference/reference.json"))
            .expect("tests/reference/reference.json is valid JSON")
    })
}

pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Numbers the crate receives as f32 (the script rounded them to f32 already: exact).
pub fn f32s(v: &Value) -> Vec<f32> {
    f64s(v).into_iter().map(|x| x as f32).collect()
}

pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_u64().expect("an index") as usize)
        .collect()
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// `|got − want| ≤ abs + rel·|want|`, with a message naming what is compared.
#[track_caller]
fn assert_close(got: f64, want: f64, abs: f64, rel: f64, what: &str) {
    assert!(
        (got - want).abs() <= abs + rel * want.abs(),
        "{what}: got {got:e}, reference {want:e} (diff {:e})",
        (got - want).abs()
    );
}

#[track_caller]
fn assert_all_close(got: &[f64], want: &[f64], abs: f64, rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert_close(g, w, abs, rel, &format!("{what}[{i}]"));
    }
}

/// Tolerances (see the module docs).
const F64_REL: f64 = 1e-9;
const F32_RATIO_ABS: f64 = 2.5e-7;
const F32_ABS: f64 = 2e-6;
const F32_REL: f64 = 1e-5;

fn direction(s: &str) -> Direction {
    match s {
        "dominant-more" => Direction::DominantMore,
        "weak-more" => Direction::WeakMore,
        other => panic!("unknown direction {other}"),
    }
}

fn label_weight(s: &str) -> LabelWeight {
    match s {
        "inverse-contribution" => LabelWeight::InverseContribution,
        "contribution" => LabelWeight::Contribution,
        "mean" => LabelWeight::Mean,
        other => panic!("unknown label rule {other}"),
    }
}

fn variant(s: &str) -> OgmVariant {
    match s {
        "published" => OgmVariant::Published,
        "continuous" => OgmVariant::Continuous,
        other => panic!("unknown OGM-GE variant {other}"),
    }
}

/// The reference script uses the crate's ε (the `kl` estimator's 1/(ε + KL) and the floor).
#[test]
fn reference_uses_the_crates_epsilon() {
    assert_eq!(num(&reference()["epsilon"]), contribution::EPSILON);
}

/// Reference: `contribution` section (B-MM step 1: confidence, accuracy + 1/K, 1/(ε + KL)).
#[test]
fn contribution_estimators_match_the_reference() {
    let c = &reference()["contribution"];
    let k = c["classes"].as_u64().unwrap() as usize;
    let labels = usizes(&c["labels"]);
    let fused = f32s(&c["fused"]);
    for (m, row) in c["modalities"].as_array().unwrap().iter().enumerate() {
        let u = f32s(&row["u"]);
        for (kind, key) in [
            (Contribution::Confidence, "confidence"),
            (Contribution::Accuracy, "accuracy"),
            (Contribution::Kl, "kl"),
        ] {
            let got = contribution::estimate(kind, &u, &fused, &labels, k);
            assert_close(
                got,
                num(&row[key]),
                0.0,
                F64_REL,
                &format!("{key} of modality {m}"),
            );
        }
    }
}

/// Reference: `ema` section (B-MM steps 2–3, β = 0.9, started from the first batch).
#[test]
fn contribution_ema_and_relative_contributions_match_the_reference() {
    let e = &reference()["ema"];
    let mut ema = ContributionEma::new(num(&e["beta"]));
    let batches = e["batches"].as_array().unwrap();
    for (t, batch) in batches.iter().enumerate() {
        let value = ema.update(&f64s(batch)).to_vec();
        assert_all_close(
            &value,
            &f64s(&e["ema"][t]),
            0.0,
            F64_REL,
            &format!("EMA after batch {t}"),
        );
        assert_all_close(
            &contribution::relative(&value),
            &f64s(&e["relative"][t]),
            0.0,
            F64_REL,
            &format!("r after batch {t}"),
        );
    }
}

/// Reference: `balance` section (B-MM steps 3–7: r, λ_m for both directions, the three label
/// rules, γ ∈ {0, 0.5, 1, 2}, λ′ from 0.5 to 1, 2–4 modalities).
#[test]
fn bmm_lambdas_and_label_weights_match_the_reference() {
    let cases = reference()["balance"]["cases"].as_array().unwrap();
    assert!(cases.len() >= 300, "{} cases", cases.len());
    for (i, case) in cases.iter().enumerate() {
        let what = format!(
            "case {i} (c {}, λ′ {}, γ {}, {}, {})",
            case["contribution"],
            case["lambda_folded"],
            case["gamma"],
            case["direction"],
            case["label_weight"]
        );
        let r = contribution::relative(&f64s(&case["contribution"]));
        assert_all_close(&r, &f64s(&case["r"]), 0.0, F64_REL, &format!("{what}: r"));
        let lm = balanced::modality_lambdas(
            num(&case["lambda_folded"]) as f32,
            &r,
            num(&case["gamma"]),
            direction(case["direction"].as_str().unwrap()),
        );
        let lm64: Vec<f64> = lm.iter().map(|&v| v as f64).collect();
        assert_all_close(
            &lm64,
            &f64s(&case["lambda_m"]),
            F32_RATIO_ABS,
            0.0,
            &format!("{what}: λ_m"),
        );
        let w = balanced::label_weights(&r, label_weight(case["label_weight"].as_str().unwrap()));
        assert_all_close(
            &w,
            &f64s(&case["weights"]),
            1e-15,
            F64_REL,
            &format!("{what}: w"),
        );
        let ly = balanced::label_lambda(&lm, &w);
        assert_close(
            ly as f64,
            num(&case["lambda_y"]),
            F32_RATIO_ABS,
            0.0,
            &format!("{what}: λ_y"),
        );
    }
}

/// Reference: `ogm` section (OGM-GE k for `published` and `continuous`, ρ below, at and above
/// 1, 2–4 modalities, the dominant modality at every index, α 0.8 and 0.1).
#[test]
fn ogm_coefficients_match_the_reference() {
    let o = &reference()["ogm"];
    for (i, case) in o["cases"].as_array().unwrap().iter().enumerate() {
        let k = ogm::coefficients(
            &f64s(&case["scores"]),
            num(&case["alpha"]),
            variant(case["variant"].as_str().unwrap()),
        );
        assert_all_close(
            &k,
            &f64s(&case["k"]),
            1e-12,
            F64_REL,
            &format!(
                "case {i}: {} α {} s {}",
                case["variant"], case["alpha"], case["scores"]
            ),
        );
    }
    // Scores from logits: s_m = Σ_i softmax(u_m,i)[y_i] = n · confidence.
    let f = &o["from_logits"];
    let labels = usizes(&f["labels"]);
    let classes = f["classes"].as_u64().unwrap() as usize;
    let scores: Vec<f64> = f["u"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            labels.len() as f64
                * contribution::estimate(Contribution::Confidence, &f32s(u), &[], &labels, classes)
        })
        .collect();
    assert_all_close(&scores, &f64s(&f["scores"]), 0.0, F64_REL, "scores");
    let k = ogm::coefficients(&scores, num(&f["alpha"]), OgmVariant::Published);
    assert_all_close(&k, &f64s(&f["k"]), 1e-12, F64_REL, "k from logits");
}

/// A recipe from the test fixtures with overrides.
pub fn fixture_recipe(name: &str, sets: &[&str]) -> Recipe {
    crate::common::recipe(name, sets)
}

/// A model on the CPU for `recipe` with the given input widths and classes (seed 0).
fn cpu_model(recipe: &Recipe, widths: &[usize], classes: usize) -> Model<Cpu> {
    Model::build(&recipe.model_settings(), widths, classes, 0, Cpu::default())
}

/// Overwrite the parameter called `name`.
pub fn set_param<D: balmix::model::Backend>(model: &mut Model<D>, name: &str, values: Vec<f32>) {
    let id = model
        .store
        .params
        .iter()
        .position(|p| p.name == name)
        .unwrap_or_else(|| panic!("no parameter {name}"));
    model.store.set_values(id, values);
}

/// Values of the parameter called `name`.
pub fn param<D: balmix::model::Backend>(model: &Model<D>, name: &str) -> Vec<f32> {
    model
        .store
        .params
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no parameter {name}"))
        .tensor
        .to_host()
}

/// Reference: `decompose` section (u_m = z_m W_mᵀ + b/M for concat, z_m Wᵀ + b/M for sum).
#[test]
fn decomposed_unimodal_logits_match_the_reference() {
    for case in reference()["decompose"]["cases"].as_array().unwrap() {
        let fusion = case["fusion"].as_str().unwrap();
        let widths = usizes(&case["widths"]);
        let (n, k) = (
            case["n"].as_u64().unwrap() as usize,
            case["classes"].as_u64().unwrap() as usize,
        );
        let sets = [
            format!("model.encoders.audio.out={}", widths[0]),
            format!("model.encoders.visual.out={}", widths[1]),
            format!("model.fusion.kind={fusion}"),
        ];
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let recipe = fixture_recipe("tiny.toml", &sets);
        let mut model = cpu_model(&recipe, &[5, 4], k);
        set_param(&mut model, "head.weight", f32s(&case["weight"]));
        set_param(&mut model, "head.bias", f32s(&case["bias"]));
        let zs: Vec<Vec<f32>> = case["z"].as_array().unwrap().iter().map(f32s).collect();
        let u = model.decompose(&zs, n);
        for (m, want) in case["u"].as_array().unwrap().iter().enumerate() {
            let got: Vec<f64> = u[m].iter().map(|&v| v as f64).collect();
            assert_all_close(
                &got,
                &f64s(want),
                F32_ABS,
                F32_REL,
                &format!("{fusion}: u_{m}"),
            );
        }
        // Σ_m u_m is the fused logits.
        let sum: Vec<f64> = (0..n * k)
            .map(|j| u.iter().map(|um| um[j] as f64).sum())
            .collect();
        assert_all_close(
            &sum,
            &f64s(&case["fused"]),
            F32_ABS,
            F32_REL,
            &format!("{fusion}: Σ u_m"),
        );
    }
}

/// Reference: `soft_ce` section. Checks the mixed targets, the slice CE used for reporting and
/// the loss training minimises (dfdx's `cross_entropy_with_logits_loss`, as in the trainer).
#[test]
fn soft_label_cross_entropy_matches_the_reference() {
    let s = &reference()["soft_ce"];
    let k = s["classes"].as_u64().unwrap() as usize;
    let logits = f32s(&s["logits"]);
    let labels = usizes(&s["labels"]);
    let n = labels.len();
    let targets = mix::mix_labels(&labels, k, &usizes(&s["perm"]), &f32s(&s["lambda"]));
    let t64: Vec<f64> = targets.iter().map(|&v| v as f64).collect();
    assert_all_close(&t64, &f64s(&s["targets"]), 1e-7, 0.0, "targets");
    let rows = mix::soft_cross_entropy(&logits, &targets, k);
    assert_all_close(&rows, &f64s(&s["per_row"]), F32_ABS, F32_REL, "per-row CE");
    let dev: Cpu = Default::default();
    let loss = cross_entropy_with_logits_loss(
        dev.tensor_from_vec(logits, (n, k)),
        dev.tensor_from_vec(targets, (n, k)),
    );
    assert_close(
        loss.as_vec()[0] as f64,
        num(&s["mean"]),
        F32_ABS,
        F32_REL,
        "training loss (dfdx)",
    );
}

/// A literal dataset: one row per input row of each modality.
pub fn literal_dataset(
    names: &[&str],
    inputs: &[Vec<Vec<f32>>],
    labels: &[usize],
    classes: usize,
) -> Dataset {
    Dataset {
        name: "literal".into(),
        classes: (0..classes).map(|c| format!("c{c}")).collect(),
        modalities: names
            .iter()
            .zip(inputs)
            .map(|(name, rows)| Modality {
                name: name.to_string(),
                width: rows[0].len(),
                values: rows.concat(),
                media: None,
            })
            .collect(),
        labels: labels.to_vec(),
        groups: Vec::new(),
        fixed_train: None,
    }
}

/// All samples train; the first is also the (unused) test set.
pub fn train_all(n: usize) -> Splits {
    Splits {
        train: (0..n).collect(),
        val: vec![],
        test: vec![0],
    }
}

/// Reference: `bmm_step` section — one full B-MM training step (contributions on the clean
/// batch, λ_m, λ_y, per-modality mixing at the encoder outputs, concat fusion, soft-label CE,
/// backward) on a tiny tanh network with fixed weights, for three estimator/direction/label
/// combinations. λ and π are the harness's draws for the case's seed at step 0, checked first.
/// Gradients are read back from an SGD step with lr 1 and no momentum or decay: θ − θ′ = ∇θ.
#[test]
fn one_bmm_training_step_matches_the_reference_loss_and_gradients() {
    for case in reference()["bmm_step"]["cases"].as_array().unwrap() {
        let what = format!(
            "{} / {} / {} / γ {}",
            case["contribution"], case["direction"], case["label_weight"], case["gamma"]
        );
        let names: Vec<&str> = case["modalities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let classes = case["classes"].as_u64().unwrap() as usize;
        let labels = usizes(&case["labels"]);
        let n = labels.len();
        let inputs: Vec<Vec<Vec<f32>>> = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_array().unwrap().iter().map(f32s).collect())
            .collect();
        let mut sets = vec![
            "optim.momentum=0".to_string(),
            "optim.weight_decay=0".to_string(),
            format!("mixup.alpha={}", case["alpha"]),
            format!(
                "mixup.balance.contribution={}",
                case["contribution"].as_str().unwrap()
            ),
            format!("mixup.balance.gamma={}", case["gamma"]),
            format!(
                "mixup.balance.direction={}",
                case["direction"].as_str().unwrap()
            ),
            format!(
                "mixup.balance.label_weight={}",
                case["label_weight"].as_str().unwrap()
            ),
        ];
        for name in &names {
            sets.push(format!("model.encoders.{name}.hidden=[]"));
            sets.push(format!("model.encoders.{name}.out=2"));
            sets.push(format!("model.encoders.{name}.activation=tanh"));
        }
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let recipe = fixture_recipe("tiny-bmm.toml", &sets);
        let seed = case["seed"].as_u64().unwrap();

        // The draws the reference was given are the harness's draws for (seed, step 0).
        let draws =
            plan::draw(seed, 0, 0, n, &recipe.mixer().draw).expect("B-MM mixes every batch");
        assert_eq!(
            draws.perm,
            usizes(&case["perm"]),
            "{what}: π of seed {seed}"
        );
        assert_eq!(
            draws.lambda,
            f32s(&case["lambda"]),
            "{what}: λ of seed {seed}"
        );

        let data = literal_dataset(&names, &inputs, &labels, classes);
        let splits = train_all(n);
        let mut trainer =
            Trainer::new(&recipe, seed, &data, &splits, Cpu::default()).expect("the data reads");
        let params = case["params"].as_object().unwrap();
        for (name, values) in params {
            set_param(&mut trainer.model, name, f32s(values));
        }
        let idx: Vec<usize> = (0..n).collect();
        let stats = trainer.train_step(&idx, 0, 1.0).expect("a finite step");
        let (lambda_sum, label_sum) = stats.lambda_sums(n, names.len());

        assert_all_close(
            &stats.contribution,
            &f64s(&case["contributions"]),
            F32_ABS,
            F32_REL,
            &format!("{what}: contributions"),
        );
        for (m, want) in case["lambda_m"].as_array().unwrap().iter().enumerate() {
            assert_close(
                lambda_sum[m],
                f64s(want).iter().sum(),
                4.0 * F32_RATIO_ABS,
                0.0,
                &format!("{what}: Σ_i λ_{m}"),
            );
        }
        assert_close(
            label_sum,
            f64s(&case["lambda_y"]).iter().sum(),
            4.0 * F32_RATIO_ABS,
            0.0,
            &format!("{what}: Σ_i λ_y"),
        );
        assert_close(
            stats.loss,
            num(&case["loss"]),
            F32_ABS,
            F32_REL,
            &format!("{what}: loss"),
        );
        let after = params_of(&trainer.model, params);
        assert_gradients(params, &after, &case["grads"], &what);
    }
}

/// Gradients of every parameter of `model`, filled with a fixed pattern (no two equal).
fn patterned_gradients(model: &Model<Cpu>) -> dfdx::tensor::Gradients<f32, Cpu> {
    let mut grads = dfdx::tensor::Gradients::leaky();
    for (id, p) in model.store.params.iter().enumerate() {
        balmix::optim::optimizer::edit_grad(&model.store.dev, &mut grads, &p.tensor, &mut |g| {
            for (j, v) in g.iter_mut().enumerate() {
                *v = ((j * 7 + id * 13) % 97) as f32 / 50.0 - 0.9 + 0.3 * (j as f32 * 0.37).sin();
            }
        });
    }
    grads
}

fn read_gradients(
    model: &Model<Cpu>,
    grads: &mut dfdx::tensor::Gradients<f32, Cpu>,
) -> Vec<Vec<f32>> {
    model
        .store
        .params
        .iter()
        .map(|p| {
            let mut out = Vec::new();
            balmix::optim::optimizer::edit_grad(&model.store.dev, grads, &p.tensor, &mut |g| {
                out = g.to_vec()
            });
            out
        })
        .collect()
}

/// Unimodal logits where modality 0 gives the label probability 0.8 and modality 1 gives 0.4
/// (two classes): s_0 / s_1 = 2, so ρ_0 = 2 and ρ_1 = 0.5.
fn unimodal_with_rho_two(n: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let row = |p: f32, y: usize| {
        let z = (p / (1.0 - p)).ln();
        if y == 0 {
            [z, 0.0]
        } else {
            [0.0, z]
        }
    };
    let u0 = labels.iter().flat_map(|&y| row(0.8, y)).collect();
    let u1 = labels.iter().flat_map(|&y| row(0.4, y)).collect();
    (vec![u0, u1], labels)
}

/// OGM-GE with α = 0.8 on every encoder weight, active in `window` (default: epoch 0 on).
fn ogm_section(noise: bool, v: OgmVariant, window: Option<EpochWindow>) -> OgmGeSettings {
    OgmGeSettings {
        alpha: 0.8,
        noise,
        window: window.unwrap_or(EpochWindow { start: 0, stop: 1 }),
        variant: v,
        params: OgmParams::Weights,
    }
}

/// OGM-GE without noise scales every encoder weight gradient of modality m by exactly k_m
/// (published: 1 − tanh(0.8·2) for the dominant modality, 1 for the other) and leaves biases,
/// fusion and head alone; outside its epoch window it changes nothing.
#[test]
fn ogm_ge_scales_encoder_weight_gradients_by_k_and_nothing_else() {
    let recipe = fixture_recipe("tiny.toml", &[]);
    let model = cpu_model(&recipe, &[128, 32], 2);
    let (u, labels) = unimodal_with_rho_two(16);
    for (v, k0) in [
        (OgmVariant::Published, 1.0 - 1.6f64.tanh()),
        (OgmVariant::Continuous, 1.0 - 0.8f64.tanh()),
    ] {
        let mut grads = patterned_gradients(&model);
        let before = read_gradients(&model, &mut grads);
        let k = balmix::method::ogm_ge::modulate(
            &ogm_section(false, v, None),
            &model,
            &mut grads,
            &u,
            &labels,
            (1, 0, 0),
        );
        // ρ_0 = 2 up to the f32 rounding of the logits.
        assert_close(k[0], k0, 0.0, 1e-6, &format!("{v:?}: k_0"));
        assert_eq!(k[1], 1.0, "{v:?}: the weak modality is not modulated");
        let after = read_gradients(&model, &mut grads);
        for (id, p) in model.store.params.iter().enumerate() {
            let expected: Vec<f32> = match (p.group, &p.tensor) {
                (
                    balmix::model::params::Group::Encoder(m),
                    balmix::model::params::ParamTensor::Matrix(_),
                ) => before[id].iter().map(|g| g * k[m] as f32).collect(),
                _ => before[id].clone(),
            };
            assert_eq!(after[id], expected, "{v:?}: gradient of {}", p.name);
        }
        // Outside the window (epochs [1, 3), epoch 0): untouched, k = 1.
        let mut grads = patterned_gradients(&model);
        let k = balmix::method::ogm_ge::modulate(
            &ogm_section(false, v, Some(EpochWindow { start: 1, stop: 3 })),
            &model,
            &mut grads,
            &u,
            &labels,
            (1, 0, 0),
        );
        assert_eq!(k, vec![1.0, 1.0]);
        assert_eq!(read_gradients(&model, &mut grads), before);
    }
}

/// GE noise: modulated gradient = k·g + N(0, std(g) + 1e-8) with std(g) the sample standard
/// deviation of the gradient BEFORE scaling (DESIGN §5; the public OGM-GE code). With k ≈ 0.078
/// the noise of each modulated weight matrix must have the unscaled std — 13× the scaled one.
/// Tolerance: for ≥ 512 Gaussian draws the sample std has a relative standard error ≤ 3.2%, so
/// 15% is ~5 standard errors (false failure < 1e-5 per matrix); the bug gives a ratio of ~0.08.
#[test]
fn ge_noise_std_is_the_std_of_the_unscaled_gradient() {
    let recipe = fixture_recipe("tiny.toml", &[]);
    let model = cpu_model(&recipe, &[128, 32], 2);
    let (u, labels) = unimodal_with_rho_two(16);
    let mut grads = patterned_gradients(&model);
    let before = read_gradients(&model, &mut grads);
    let k = balmix::method::ogm_ge::modulate(
        &ogm_section(true, OgmVariant::Published, None),
        &model,
        &mut grads,
        &u,
        &labels,
        (1, 0, 0),
    );
    assert!(k[0] < 0.1, "k {k:?}");
    let after = read_gradients(&model, &mut grads);
    let std = |g: &[f64]| {
        let n = g.len() as f64;
        let mean = g.iter().sum::<f64>() / n;
        (g.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    let mut checked = 0;
    for (id, p) in model.store.params.iter().enumerate() {
        if let (
            balmix::model::params::Group::Encoder(m),
            balmix::model::params::ParamTensor::Matrix(_),
        ) = (p.group, &p.tensor)
        {
            if before[id].len() < 512 {
                continue;
            }
            let g: Vec<f64> = before[id].iter().map(|&v| v as f64).collect();
            let noise: Vec<f64> = after[id]
                .iter()
                .zip(&before[id])
                .map(|(&a, &b)| a as f64 - (b * k[m] as f32) as f64)
                .collect();
            let (want, got) = (std(&g), std(&noise));
            assert!(
                (got / want - 1.0).abs() < 0.15,
                "{}: noise std {got:.4}, std of the unscaled gradient {want:.4}, k {}",
                p.name,
                k[m]
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "checked {checked} weight matrices");
}

/// The GE noise draws exactly: on zero gradients (std 0) every modulated weight becomes
/// z · (0 + 1e-8), z the standard normals of the `noise` stream at (seed, step), drawn in
/// parameter-store order, element by element; biases stay zero. Pins the stream, the order, the
/// sign of the noise and of the 1e-8 floor (the statistical test above cannot see a sign).
#[test]
fn ge_noise_draws_are_the_noise_streams_normals_in_parameter_order() {
    use balmix::model::params::{Group, ParamTensor};
    use balmix::rng::{stream, Stream};
    use rand::Rng;
    let recipe = fixture_recipe("tiny.toml", &[]);
    let model = cpu_model(&recipe, &[128, 32], 2);
    let (u, labels) = unimodal_with_rho_two(16);
    let mut grads = dfdx::tensor::Gradients::leaky();
    for p in &model.store.params {
        balmix::optim::optimizer::edit_grad(&model.store.dev, &mut grads, &p.tensor, &mut |g| {
            g.fill(0.0)
        });
    }
    balmix::method::ogm_ge::modulate(
        &ogm_section(true, OgmVariant::Published, None),
        &model,
        &mut grads,
        &u,
        &labels,
        (3, 5, 0),
    );
    let after = read_gradients(&model, &mut grads);
    let mut rng = stream(3, Stream::Noise, 5);
    let mut modulated = 0;
    for (id, p) in model.store.params.iter().enumerate() {
        let noisy = matches!(
            (p.group, &p.tensor),
            (Group::Encoder(_), ParamTensor::Matrix(_))
        );
        for (j, &got) in after[id].iter().enumerate() {
            let want = if noisy {
                let z: f64 = rng.sample(rand_distr::StandardNormal);
                (z * 1e-8) as f32
            } else {
                0.0
            };
            assert!(
                (got - want).abs() <= 1e-6 * want.abs(),
                "{} [{j}]: {got:e} vs {want:e}",
                p.name
            );
        }
        modulated += usize::from(noisy);
    }
    assert!(modulated >= 2, "modulated {modulated} weight matrices");
}

// ---- the balancing baselines' rules (reference.py `methods_section`, docs/methods.md §3) ----

fn methods_reference() -> &'static Value {
    &reference()["methods"]
}

#[test]
fn pmr_coefficients_match_the_reference() {
    use balmix::recipe::file::PmrCoefficient;
    for case in methods_reference()["pmr_coefficients"].as_array().unwrap() {
        let s = f64s(&case["scores"]);
        let rule = match case["rule"].as_str().unwrap() {
            "binary" => PmrCoefficient::Binary,
            _ => PmrCoefficient::RatioClipped,
        };
        let got = balmix::method::pmr::coefficients([s[0], s[1]], num(&case["alpha"]), rule);
        assert_all_close(
            &got,
            &f64s(&case["beta"]),
            0.0,
            F64_REL,
            &format!("PMR β {case}"),
        );
    }
}

#[test]
fn mmpareto_weights_and_combined_gradients_match_the_reference() {
    use balmix::method::mmpareto::{combine, pareto_weights};
    for case in methods_reference()["mmpareto"].as_array().unwrap() {
        let (g_mm, g_u, g_sum) = (
            f32s(&case["g_mm"]),
            f32s(&case["g_u"]),
            f32s(&case["g_sum"]),
        );
        let k = pareto_weights(&g_mm, &g_u);
        // The gradients reach the crate as f32 (the reference reads them as exact decimals), so
        // the weights agree to f32 input rounding.
        assert_all_close(
            &[k.0, k.1],
            &f64s(&case["k"]),
            F32_RATIO_ABS,
            0.0,
            &format!("weights {case}"),
        );
        let got: Vec<f64> = combine(&g_mm, &g_u, &g_sum, k, num(&case["gamma"]))
            .iter()
            .map(|&v| v as f64)
            .collect();
        assert_all_close(
            &got,
            &f64s(&case["combined"]),
            F32_ABS,
            F32_REL,
            &format!("combined {case}"),
        );
    }
}

#[test]
fn agm_kappa_matches_the_reference() {
    for case in methods_reference()["agm_kappa"].as_array().unwrap() {
        let (s, t) = (f64s(&case["s"]), f64s(&case["t"]));
        let got = balmix::method::agm::kappa([s[0], s[1]], [t[0], t[1]], num(&case["alpha"]));
        assert_all_close(
            &got,
            &f64s(&case["kappa"]),
            0.0,
            F64_REL,
            &format!("κ {case}"),
        );
    }
}

#[test]
fn gblending_weights_match_the_reference() {
    let g = &methods_reference()["gblending"];
    let pairs = |v: &Value| -> Vec<(f64, f64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| (num(&p[0]), num(&p[1])))
            .collect()
    };
    let got = balmix::method::gblending::blend_weights(&pairs(&g["first"]), &pairs(&g["last"]));
    assert_all_close(
        &got,
        &f64s(&g["weights"]),
        0.0,
        F64_REL,
        "G-Blending weights",
    );
}

#[test]
fn mla_projection_and_dynamic_weights_match_the_reference() {
    let p = &methods_reference()["mla_projection"];
    let mut projector = balmix::method::mla::Projector::default();
    for (r, a) in p["r"].as_array().unwrap().iter().zip(f64s(&p["a"])) {
        projector.update(&f64s(r), a, balmix::recipe::file::MlaDenominator::Scalar);
    }
    assert_all_close(&projector.p, &f64s(&p["p"]), 1e-12, F64_REL, "MLA P");
    let d = &methods_reference()["mla_dynamic"];
    let logits: Vec<Vec<f32>> = d["logits"].as_array().unwrap().iter().map(f32s).collect();
    let got =
        balmix::method::mla::dynamic_weights(&logits, d["classes"].as_u64().unwrap() as usize);
    for (row, want) in got.iter().zip(d["weights"].as_array().unwrap()) {
        assert_all_close(row, &f64s(want), 1e-12, F64_REL, "MLA dynamic weights");
    }
}

/// The tiny network of the `method_steps` section as a recipe: two tanh encoders with no hidden
/// layer and 2 features, SGD without momentum or decay, plus `extra` (the method's keys).
fn tiny_step_recipe(extra: &[String]) -> Recipe {
    let mut sets = vec![
        "optim.momentum=0".to_string(),
        "optim.weight_decay=0".to_string(),
    ];
    for name in ["audio", "visual"] {
        sets.push(format!("model.encoders.{name}.hidden=[]"));
        sets.push(format!("model.encoders.{name}.out=2"));
        sets.push(format!("model.encoders.{name}.activation=tanh"));
    }
    sets.extend(extra.iter().cloned());
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    fixture_recipe("tiny.toml", &sets)
}

/// One step of `recipe` on the reference batch from `params`: (the step's statistics, every
/// parameter after it). The epoch-start hook runs first (PMR's prototypes).
fn tiny_method_step(
    recipe: &Recipe,
    params: &serde_json::Map<String, Value>,
    lr: f64,
) -> (balmix::method::StepStats, Vec<(String, Vec<f32>)>) {
    let net = &reference()["method_steps"]["network"];
    let labels = usizes(&net["labels"]);
    let inputs: Vec<Vec<Vec<f32>>> = net["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_array().unwrap().iter().map(f32s).collect())
        .collect();
    let classes = net["classes"].as_u64().unwrap() as usize;
    let data = literal_dataset(&["audio", "visual"], &inputs, &labels, classes);
    let splits = train_all(labels.len());
    let mut trainer =
        Trainer::new(recipe, 0, &data, &splits, Cpu::default()).expect("the data reads");
    for (name, values) in params {
        set_param(&mut trainer.model, name, f32s(values));
    }
    trainer.start_epoch(0).expect("epoch start");
    let idx: Vec<usize> = (0..labels.len()).collect();
    let stats = trainer.train_step(&idx, 0, lr).expect("a finite step");
    (stats, params_of(&trainer.model, params))
}

/// The current values of the parameters named in `params`.
fn params_of(
    model: &Model<Cpu>,
    params: &serde_json::Map<String, Value>,
) -> Vec<(String, Vec<f32>)> {
    params
        .keys()
        .map(|name| (name.clone(), param(model, name)))
        .collect()
}

/// θ − θ′ of an SGD step with lr 1 against the reference gradients.
#[track_caller]
fn assert_gradients(
    params: &serde_json::Map<String, Value>,
    after: &[(String, Vec<f32>)],
    want: &Value,
    what: &str,
) {
    for (name, now) in after {
        let grad: Vec<f64> = f32s(&params[name])
            .iter()
            .zip(now)
            .map(|(&b, &a)| b as f64 - a as f64)
            .collect();
        assert_all_close(
            &grad,
            &f64s(&want[name.as_str()]),
            F32_ABS,
            F32_REL,
            &format!("{what}: ∇ {name}"),
        );
    }
}

/// Reference: `method_steps.agm` — AGM's first step (running means 0): masked forwards,
/// mono-modal scores, κ, the output whose gradient per forward is c_t, c_v, c_a times that of
/// CE, and the released clipping (off, and triggered with the norm clipped to 0.05).
#[test]
fn one_agm_step_matches_the_reference_gradients() {
    for case in reference()["method_steps"]["agm"].as_array().unwrap() {
        let what = format!("agm α {} trigger {}", case["alpha"], case["clip_trigger"]);
        let recipe = tiny_step_recipe(&[
            "method.kind=agm".into(),
            format!("method.alpha={}", case["alpha"]),
            format!("method.clip_trigger={}", case["clip_trigger"]),
            format!("method.clip_norm={}", case["clip_norm"]),
        ]);
        let net = &reference()["method_steps"]["network"];
        let params = net["params"].as_object().unwrap();
        let (stats, after) = tiny_method_step(&recipe, params, 1.0);
        assert_close(stats.loss, num(&case["loss"]), F32_ABS, F32_REL, &what);
        assert_gradients(params, &after, &case["grads"], &what);
        // Reported: exp(−s_m) of this step's scores and of the running means, which after
        // the first step are those scores.
        let reported: Vec<f64> = f64s(&case["scores"]).iter().map(|v| (-v).exp()).collect();
        let what = format!("{what}: exp(−score)");
        assert_all_close(&stats.contribution, &reported, F32_ABS, F32_REL, &what);
        let average = stats.contribution_ema.as_deref().unwrap_or_default();
        assert_all_close(average, &reported, F32_ABS, F32_REL, &what);
    }
}

/// Reference: `method_steps.pmr` — a standard step with PMR's term at epoch 0 (prototypes the
/// class means of the whole training set): fused CE + β_m CE(q_m) − w · mean entropy of the
/// dominant modality's prototype softmax, q = −sqrt(‖z − c‖² + 1e-12); binary and
/// ratio-clipped coefficients, with and without the entropy term.
#[test]
fn one_pmr_step_matches_the_reference_gradients() {
    for case in reference()["method_steps"]["pmr"].as_array().unwrap() {
        let what = format!(
            "pmr α {} {} entropy {}",
            case["alpha"], case["coefficient"], case["entropy"]
        );
        let recipe = tiny_step_recipe(&[
            format!("losses.pmr.alpha={}", case["alpha"]),
            format!("losses.pmr.coefficient={}", case["coefficient"]),
            format!("losses.pmr.entropy={}", case["entropy"]),
            "losses.pmr.sample_fraction=1.0".into(),
        ]);
        let net = &reference()["method_steps"]["network"];
        let params = net["params"].as_object().unwrap();
        let (_, after) = tiny_method_step(&recipe, params, 1.0);
        assert_gradients(params, &after, &case["grads"], &what);
    }
}

/// Reference: `method_steps.mmpareto` — per-modality Pareto weights from the encoder gradients
/// of L_mm and L_m, each encoder tensor γ · new · max(1, ‖g_sum‖/‖new‖), heads g_sum; one case
/// without conflict and one where the visual encoder's gradients conflict (k₀ ≈ 0.356).
#[test]
fn one_mmpareto_step_matches_the_reference_gradients() {
    for case in reference()["method_steps"]["mmpareto"].as_array().unwrap() {
        let what = format!("mmpareto γ {} weights {}", case["gamma"], case["weights"]);
        let recipe = tiny_step_recipe(&[
            "method.kind=mmpareto".into(),
            format!("method.gamma={}", case["gamma"]),
            // This numpy reference is the split head's (BalanceBenchmark's port).
            "method.unimodal_heads=\"split\"".into(),
        ]);
        let params = case["params"].as_object().unwrap();
        let (stats, after) = tiny_method_step(&recipe, params, 1.0);
        assert_close(stats.loss, num(&case["loss"]), F32_ABS, F32_REL, &what);
        assert_all_close(
            &stats.coefficients,
            &f64s(&case["weights"]),
            1e-6,
            0.0,
            &format!("{what}: weights"),
        );
        assert_gradients(params, &after, &case["grads"], &what);
    }
}

/// Reference: `method_steps.mla` — with the shared head of sum fusion, audio's CE then an update
/// of the audio encoder and the head, then visual's CE through the updated head and an update of
/// the visual encoder and the head (lr 0.5, no momentum): every parameter after the step; with
/// the projection off (released), `replace` and `add` (P updated from the visual batch mean at
/// the second sub-step, a = 0.1).
#[test]
fn one_mla_step_matches_the_reference_parameters() {
    for case in reference()["method_steps"]["mla"].as_array().unwrap() {
        let recipe = tiny_step_recipe(&[
            "method.kind=mla".into(),
            "model.fusion.kind=sum".into(),
            format!("method.projection={}", case["projection"]),
            // This numpy reference divides by the scalar a + r k (docs/methods.md's former
            // reading; the released arithmetic is tests/released_methods.rs's).
            "method.denominator=\"scalar\"".into(),
        ]);
        let params = case["params"].as_object().unwrap();
        let lr = num(&case["lr"]);
        let (stats, after) = tiny_method_step(&recipe, params, lr);
        let losses = f64s(&case["losses"]);
        let mean = losses.iter().sum::<f64>() / losses.len() as f64;
        assert_close(stats.loss, mean, F32_ABS, F32_REL, "mla: mean loss");
        for (name, now) in &after {
            let now: Vec<f64> = now.iter().map(|&v| v as f64).collect();
            assert_all_close(
                &now,
                &f64s(&case["after"][name.as_str()]),
                F32_ABS,
                F32_REL,
                &format!("mla {}: {name} after the step", case["projection"]),
            );
        }
    }
}

/// Reference: `method_steps.gblending` — at epoch 0 a copy per output (audio alone, visual
/// alone, fused) trains `super_epoch` epochs of full-batch SGD (lr 0.5) on that output; mean
/// train and validation CE after its first and last epoch give the weights; then one step of
/// Σ_m w_m CE(u_m) + w_fused CE(f). Two validation samples follow the four training ones.
#[test]
fn one_gblending_step_matches_the_reference_weights_and_gradients() {
    let net = &reference()["method_steps"]["network"];
    for case in reference()["method_steps"]["gblending"].as_array().unwrap() {
        let what = format!("gblending S {}", case["super_epoch"]);
        let recipe = tiny_step_recipe(&[
            "method.kind=gblending".into(),
            format!("method.super_epoch={}", case["super_epoch"]),
            // This numpy reference takes evaluation-mode means over the whole sets (balmix's
            // former estimate; BalanceBenchmark's is tests/released_methods.rs's).
            "method.estimate=\"means\"".into(),
            "dataset.split.val=0.2".into(),
            format!("optim.lr={}", case["lr"]),
        ]);
        let mut labels = usizes(&net["labels"]);
        let train = labels.len();
        labels.extend(usizes(&case["val"]["labels"]));
        let inputs: Vec<Vec<Vec<f32>>> = (0..2)
            .map(|m| {
                net["inputs"][m]
                    .as_array()
                    .unwrap()
                    .iter()
                    .chain(case["val"]["inputs"][m].as_array().unwrap())
                    .map(f32s)
                    .collect()
            })
            .collect();
        let data = literal_dataset(&["audio", "visual"], &inputs, &labels, 3);
        let splits = Splits {
            train: (0..train).collect(),
            val: (train..labels.len()).collect(),
            test: vec![0],
        };
        let mut trainer =
            Trainer::new(&recipe, 0, &data, &splits, Cpu::default()).expect("the data reads");
        let params = net["params"].as_object().unwrap();
        for (name, values) in params {
            set_param(&mut trainer.model, name, f32s(values));
        }
        trainer.start_epoch(0).expect("epoch start");
        let idx: Vec<usize> = (0..train).collect();
        let stats = trainer.train_step(&idx, 0, 1.0).expect("a finite step");
        let weights = f64s(&case["weights"]);
        assert_all_close(
            &stats.coefficients,
            &weights[..2],
            F32_ABS,
            F32_REL,
            &format!("{what}: unimodal weights"),
        );
        assert_close(
            stats.loss,
            num(&case["fused_loss"]),
            F32_ABS,
            F32_REL,
            &format!("{what}: fused loss"),
        );
        let after = params_of(&trainer.model, params);
        assert_gradients(params, &after, &case["grads"], &what);
    }
}

/// `train.grad_clip`: the step a method takes is the unclipped gradient scaled by
/// clip / (‖g‖ + 1e-6) when that is below 1 — so with SGD at lr 1 the parameters move by a
/// vector of norm ≈ clip in the unclipped gradient's direction — and untouched when the clip
/// is loose.
#[test]
fn gradient_clipping_scales_the_whole_step_to_the_clip_norm() {
    let net = &reference()["method_steps"]["network"];
    let params = net["params"].as_object().unwrap();
    let step = |extra: &[String]| {
        let (_, after) = tiny_method_step(&tiny_step_recipe(extra), params, 1.0);
        after
            .iter()
            .flat_map(|(name, now)| {
                let before = f32s(&params[name]);
                before
                    .iter()
                    .zip(now)
                    .map(|(&b, &a)| b as f64 - a as f64)
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<f64>>()
    };
    let free = step(&[]);
    let norm = free.iter().map(|g| g * g).sum::<f64>().sqrt();
    assert!(
        norm > 0.1,
        "the reference batch has a sizeable gradient: {norm}"
    );
    let clip = 0.05;
    let clipped = step(&[format!("train.grad_clip={clip}")]);
    let factor = clip / (norm + 1e-6);
    for (c, f) in clipped.iter().zip(&free) {
        assert_close(
            *c,
            f * factor,
            1e-7,
            1e-4,
            "clipped step = factor × free step",
        );
    }
    let loose = step(&[format!("train.grad_clip={}", norm * 2.0)]);
    assert_eq!(loose, free, "a loose clip changes nothing");
}

/// The θ − θ′ of one SGD step (lr 1) of `extra` on the reference batch, flattened in the
/// parameter order of the reference network.
fn tiny_step_delta(extra: &[String]) -> (balmix::method::StepStats, Vec<(String, Vec<f64>)>) {
    let net = &reference()["method_steps"]["network"];
    let params = net["params"].as_object().unwrap();
    let (stats, after) = tiny_method_step(&tiny_step_recipe(extra), params, 1.0);
    let delta = after
        .into_iter()
        .map(|(name, now)| {
            let d = f32s(&params[&name])
                .iter()
                .zip(&now)
                .map(|(&b, &a)| b as f64 - a as f64)
                .collect();
            (name, d)
        })
        .collect();
    (stats, delta)
}

/// The multitask control's gradient is linear in its weight: g(w) = g(0) + w · (g(1) − g(0))
/// for w = 0.5 (a weight added instead of multiplied, or applied twice, breaks it).
#[test]
fn the_multitask_gradient_is_the_fused_one_plus_the_weighted_unimodal_ones() {
    let (_, plain) = tiny_step_delta(&[]);
    let (_, one) = tiny_step_delta(&["losses.unimodal=1.0".into()]);
    let (_, half) = tiny_step_delta(&["losses.unimodal=0.5".into()]);
    for ((name, p), ((_, o), (_, h))) in plain.iter().zip(one.iter().zip(&half)) {
        let want: Vec<f64> = p.iter().zip(o).map(|(p, o)| p + 0.5 * (o - p)).collect();
        assert_all_close(
            h,
            &want,
            2e-6,
            1e-4,
            &format!("multitask w = 0.5: ∇ {name}"),
        );
    }
}

/// OGM-GE through the standard step (noise off): each encoder weight matrix's step is k_m times
/// the plain step, every other parameter's is the plain one; k_m is what the step reports.
#[test]
fn an_ogm_ge_step_scales_only_the_encoder_weight_steps_by_k() {
    let (_, plain) = tiny_step_delta(&[]);
    let (stats, ogm) = tiny_step_delta(&[
        "modulation.kind=ogm-ge".into(),
        "modulation.noise=false".into(),
    ]);
    let k = &stats.coefficients;
    assert_eq!(k.len(), 2);
    assert!(
        k.iter().any(|&v| v < 1.0),
        "one modality is modulated: {k:?}"
    );
    for ((name, p), (_, o)) in plain.iter().zip(&ogm) {
        let factor = match name.as_str() {
            "encoder.audio.layers.0.weight" => k[0],
            "encoder.visual.layers.0.weight" => k[1],
            _ => 1.0,
        };
        let want: Vec<f64> = p.iter().map(|v| v * factor).collect();
        assert_all_close(o, &want, 2e-6, 1e-4, &format!("OGM-GE: ∇ {name}"));
    }
}
