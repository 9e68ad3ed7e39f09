//! The methods seam: trainable unimodal logits for loss terms (the multitask control), group-wise
//! updates where a left-out group does not move, and the multitask control's effect.

use crate::common::{assert_resume_after_every_epoch_is_bit_identical, recipe, train};
use balmix::model::params::{Group, Matrix, ParamTensor, Tape};
use balmix::model::Model;
use balmix::optim::optimizer::Optimizer;
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};

type Dev = dfdx::tensor::Cpu;

fn model(fusion: &str) -> (balmix::recipe::Recipe, Model<Dev>) {
    let r = recipe("tiny.toml", &[&format!("model.fusion.kind=\"{fusion}\"")]);
    let m = Model::build(&r.model_settings(), &[128, 32], 6, 0, Dev::default());
    (r, m)
}

fn features(model: &Model<Dev>, n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    model
        .encoders
        .iter()
        .map(|e| (0..n * e.out).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect()
}

/// u_m from `unimodal_taped` equals the host decomposition z_m W_mᵀ + b/M, and the gradient of
/// Σ_m CE(u_m, y) reaching the head's bias is Σ_m (1/M) · mean_i (softmax(u_m,i) − y_i), the
/// analytic value computed here on the host (a head using b instead of b/M, or a bias
/// gradient that did not flow, would fail).
#[test]
fn trainable_unimodal_logits_equal_the_decomposed_head_and_carry_a_bias_gradient_of_one_over_m() {
    for fusion in ["concat", "sum"] {
        let (_, model) = model(fusion);
        let (n, k, m_count) = (5, 6, 2);
        let host = features(&model, n, 1);
        let labels = [0usize, 3, 5, 1, 2];
        let expected = model.decompose(&host, n);
        let dev = model.store.dev.clone();
        let mut one_hot = vec![0f32; n * k];
        for (i, &y) in labels.iter().enumerate() {
            one_hot[i * k + y] = 1.0;
        }
        let targets: Matrix<Dev> = dev.tensor_from_vec(one_hot.clone(), (n, k));
        let mut total: Option<Tensor<(), f32, Dev, Tape<Dev>>> = None;
        let mut analytic = vec![0f64; k];
        for m in 0..m_count {
            let z: Matrix<Dev> = dev.tensor_from_vec(host[m].clone(), (n, model.encoders[m].out));
            let u = model
                .unimodal_taped(m, z.leaky_traced(), m_count)
                .expect("concat and sum decompose");
            let values = u.as_vec();
            for (a, b) in values.iter().zip(&expected[m]) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{fusion}: u_{m} {a} vs {b}"
                );
            }
            for i in 0..n {
                let row = &values[i * k..(i + 1) * k];
                let max = row.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f64> = row.iter().map(|&v| ((v - max) as f64).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..k {
                    analytic[c] += (e[c] / sum - one_hot[i * k + c] as f64) / (n * m_count) as f64;
                }
            }
            let l = cross_entropy_with_logits_loss(u, targets.clone());
            total = Some(match total {
                None => l,
                Some(acc) => acc + l,
            });
        }
        let grads = total.unwrap().backward();
        let bias = model.store.vector(model.heads[0].bias);
        let got = grads.get(bias).as_vec();
        for c in 0..k {
            assert!(
                (got[c] as f64 - analytic[c]).abs() < 1e-6,
                "{fusion}: ∂/∂b_{c} = {} vs analytic {}",
                got[c],
                analytic[c]
            );
        }
    }
}

/// OGM-GE's sum fusion (`sum-heads`): one head per modality, named `head.<modality>`, each on
/// its own modality's features with its own bias. Checked against a host computation from the
/// stored parameters alone: fused logits = Σ_m (z_m W_mᵀ + b_m); each modality's unimodal
/// logits (decomposed and trainable) are its head's output with the full bias (OGM-GE's
/// training diagnostics); and every head's bias receives the whole fused-loss bias gradient
/// mean_i (softmax_i − y_i), so the summed bias moves at M times one shared bias's rate.
#[test]
fn sum_heads_fusion_is_one_head_per_modality_with_logits_summed() {
    let (_, model) = model("sum-heads");
    let (n, k) = (5, 6);
    let host = features(&model, n, 3);
    let labels = [0usize, 3, 5, 1, 2];
    let dev = model.store.dev.clone();
    let names: Vec<&str> = model.store.params.iter().map(|p| p.name.as_str()).collect();
    let param = |name: &str| -> Vec<f32> {
        let p = model.store.params.iter().find(|p| p.name == name);
        match &p.unwrap_or_else(|| panic!("no {name} in {names:?}")).tensor {
            ParamTensor::Matrix(t) => t.as_vec(),
            ParamTensor::Vector(t) => t.as_vec(),
        }
    };
    assert!(!names.contains(&"head.weight"), "{names:?}");
    let mut fused_host = vec![0f64; n * k];
    let mut unimodal_host = Vec::new();
    for (m, modality) in ["audio", "visual"].iter().enumerate() {
        let (w, b) = (
            param(&format!("head.{modality}.weight")),
            param(&format!("head.{modality}.bias")),
        );
        let d = model.encoders[m].out;
        assert_eq!(
            w.len(),
            k * d,
            "head.{modality} reads only its modality's features"
        );
        let mut u = vec![0f64; n * k];
        for i in 0..n {
            for c in 0..k {
                let dot: f64 = (0..d)
                    .map(|j| host[m][i * d + j] as f64 * w[c * d + j] as f64)
                    .sum();
                u[i * k + c] = dot + b[c] as f64;
                fused_host[i * k + c] += u[i * k + c];
            }
        }
        unimodal_host.push(u);
    }
    let close = |a: f32, b: f64, what: &str| {
        assert!(
            (a as f64 - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "{what}: {a} vs {b}"
        )
    };
    let decomposed = model.decompose(&host, n);
    for m in 0..2 {
        let z: Matrix<Dev> = dev.tensor_from_vec(host[m].clone(), (n, model.encoders[m].out));
        let taped = model
            .unimodal_taped(m, z.leaky_traced(), 2)
            .unwrap()
            .as_vec();
        for j in 0..n * k {
            close(
                decomposed[m][j],
                unimodal_host[m][j],
                &format!("decomposed u_{m}"),
            );
            close(taped[j], unimodal_host[m][j], &format!("trainable u_{m}"));
        }
    }
    let leaves: Vec<Matrix<Dev>> = host
        .iter()
        .enumerate()
        .map(|(m, z)| dev.tensor_from_vec(z.clone(), (n, model.encoders[m].out)))
        .collect();
    let zs: Vec<Matrix<Dev, OwnedTape<f32, Dev>>> =
        leaves.iter().map(|z| z.clone().leaky_traced()).collect();
    let logits = model.head(model.fuse(zs));
    let values = logits.as_vec();
    for j in 0..n * k {
        close(values[j], fused_host[j], "fused logits");
    }
    let mut one_hot = vec![0f32; n * k];
    let mut bias_grad = vec![0f64; k];
    // ∂L/∂logits: (softmax − y)/n per row.
    let mut dlogits = vec![0f64; n * k];
    for (i, &y) in labels.iter().enumerate() {
        one_hot[i * k + y] = 1.0;
        let row = &fused_host[i * k..(i + 1) * k];
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        for c in 0..k {
            dlogits[i * k + c] = (e[c] / sum - one_hot[i * k + c] as f64) / n as f64;
            bias_grad[c] += dlogits[i * k + c];
        }
    }
    let targets: Matrix<Dev> = dev.tensor_from_vec(one_hot, (n, k));
    let grads = cross_entropy_with_logits_loss(logits, targets).backward();
    for head in &model.heads {
        let got = grads.get(model.store.vector(head.bias)).as_vec();
        for c in 0..k {
            assert!((got[c] as f64 - bias_grad[c]).abs() < 1e-6, "∂/∂b_{c}");
        }
    }
    // The gradient reaches each modality's features through its own head only:
    // ∂L/∂z_m = (∂L/∂logits) W_m.
    for (m, modality) in ["audio", "visual"].iter().enumerate() {
        let w = param(&format!("head.{modality}.weight"));
        let d = model.encoders[m].out;
        let got = grads.get(&leaves[m]).as_vec();
        for i in 0..n {
            for j in 0..d {
                let want: f64 = (0..k)
                    .map(|c| dlogits[i * k + c] * w[c * d + j] as f64)
                    .sum();
                let g = got[i * d + j] as f64;
                assert!(
                    (g - want).abs() < 1e-6,
                    "∂L/∂z_{m}[{i},{j}] = {g} vs {want}"
                );
            }
        }
    }
}

#[test]
fn film_and_gated_fusions_have_no_trainable_decomposition() {
    for fusion in ["film", "gated"] {
        let (_, model) = model(fusion);
        let dev = model.store.dev.clone();
        let z: Matrix<Dev> = dev.zeros_like(&(2, model.encoders[0].out));
        assert!(model.unimodal_taped(0, z.leaky_traced(), 2).is_none());
    }
}

/// "No gradient" is not "zero gradient": after an update of every group has filled the
/// momentum buffers, an update that leaves the encoder of modality 0 out must not move it at
/// all (neither momentum nor weight decay), for SGD with momentum, Adam and AdamW; the groups
/// it includes do move.
#[test]
fn a_group_left_out_of_an_update_does_not_move_under_momentum_or_weight_decay() {
    for kind in ["sgd", "adam", "adamw"] {
        let r = recipe(
            "tiny.toml",
            &[&format!("optim.kind=\"{kind}\""), "optim.weight_decay=0.01"],
        );
        let mut model = Model::build(&r.model_settings(), &[128, 32], 6, 0, Dev::default());
        let mut opt = Optimizer::new(r.optimizer());
        let dev = model.store.dev.clone();
        let fill = |model: &mut Model<Dev>, value: f32| {
            let mut grads = dfdx::tensor::Gradients::leaky();
            for p in &model.store.params {
                balmix::model::grads::edit_grad(&dev, &mut grads, &p.tensor, &mut |g| {
                    g.iter_mut().for_each(|v| *v = value)
                });
            }
            grads
        };
        let mut grads = fill(&mut model, 0.5);
        opt.step(&mut model.store, &mut grads, 0.1);
        let before: Vec<Vec<f32>> = model
            .store
            .params
            .iter()
            .map(|p| p.tensor.to_host())
            .collect();
        let mut zero = fill(&mut model, 0.0);
        opt.step_groups(&mut model.store, &mut zero, 0.1, &|g| {
            g != Group::Encoder(0)
        });
        for (p, old) in model.store.params.iter().zip(&before) {
            let now = p.tensor.to_host();
            match p.group {
                Group::Encoder(0) => assert_eq!(&now, old, "{kind}: {} moved", p.name),
                _ if matches!(p.tensor, ParamTensor::Matrix(_)) => {
                    assert_ne!(&now, old, "{kind}: {} should move (momentum)", p.name)
                }
                _ => {}
            }
        }
    }
}

/// The multitask control trains the weak modality's own logits: on the synthetic data, audio's
/// own accuracy inside the model rises well above concat's (0.28 → 0.68 at 60 epochs, seed 0,
/// measured with `balmix run recipes/synthetic/{concat,multitask}.toml`; here 20 epochs and a
/// margin of 0.1).
#[test]
fn multitask_raises_the_weak_modalitys_own_accuracy() {
    let (concat, _) = audio_own_and_fused_after_20_epochs(&[]);
    let (multitask, _) = audio_own_and_fused_after_20_epochs(&["losses.unimodal=1.0"]);
    assert!(
        multitask > concat + 0.1,
        "audio's own accuracy: concat {concat:.3}, multitask {multitask:.3}"
    );
}

/// PMR with α = 0 (and no entropy term) adds nothing: the model is bit-identical to plain
/// concat training (spec invariant: α = 0 reproduces the baseline).
#[test]
fn pmr_with_alpha_zero_is_plain_training_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = train(&recipe("tiny.toml", &[]), 0, &tmp.path().join("plain"));
    let pmr = train(
        &recipe("tiny.toml", &["losses.pmr.alpha=0.0"]),
        0,
        &tmp.path().join("pmr"),
    );
    assert_eq!(
        crate::common::model_bytes(&plain),
        crate::common::model_bytes(&pmr)
    );
    let on = train(
        &recipe("tiny.toml", &["losses.pmr.alpha=1.0"]),
        0,
        &tmp.path().join("on"),
    );
    assert_ne!(
        crate::common::model_bytes(&plain),
        crate::common::model_bytes(&on)
    );
}

/// With μ = 0 and the whole training set sampled, the prototypes are exactly the per-class
/// means of the clean training features (recomputed here independently, in f64), and every
/// prototype logit −‖z − c‖ is ≤ 0.
#[test]
fn pmr_prototypes_are_the_class_means_of_the_sampled_features() {
    use balmix::method::parts::LossTerm;
    let r = recipe(
        "tiny.toml",
        &["losses.pmr.momentum=0.0", "losses.pmr.sample_fraction=1.0"],
    );
    let (data, splits) =
        balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {}).unwrap();
    let mut model = Model::build(&r.model_settings(), &[128, 32], 6, 0, Dev::default());
    let mut term: Box<dyn LossTerm<Dev>> =
        balmix::method::pmr::term(r.losses().pmr.unwrap(), r.train().batch_size);
    let optim = r.optimizer();
    let new_updater =
        || Box::new(Optimizer::<Dev>::new(optim)) as Box<dyn balmix::method::Updater<Dev>>;
    let mut cx = balmix::method::EpochContext {
        model: &mut model,
        data: &data,
        train: &splits.train,
        val: &splits.val,
        test: &splits.test,
        new_updater: &new_updater,
        lr: 0.01,
        base_lr: 0.01,
        seed: 0,
        epoch: 0,
    };
    term.epoch_start(&mut cx).unwrap();
    let protos: balmix::method::pmr::Prototypes = serde_json::from_value(term.state()).unwrap();
    let features = cx.features(&splits.train).unwrap();
    for (m, f) in features.iter().enumerate() {
        let d = cx.model.encoders[m].out;
        for class in 0..6 {
            let rows: Vec<usize> = (0..splits.train.len())
                .filter(|&i| data.labels[splits.train[i]] == class)
                .collect();
            for j in 0..d {
                let mean =
                    rows.iter().map(|&i| f[i * d + j] as f64).sum::<f64>() / rows.len() as f64;
                let got = protos.centres[m][class * d + j] as f64;
                assert!(
                    (got - mean).abs() <= 1e-5 * (1.0 + mean.abs()),
                    "m {m} class {class}: {got} vs {mean}"
                );
            }
        }
    }
}

/// PMR's prototypes are method state: a run stopped after each epoch and resumed ends with the
/// same bytes as an uninterrupted one.
#[test]
fn pmr_resume_after_any_epoch_is_bit_identical() {
    let r = recipe(
        "tiny.toml",
        &["losses.pmr.alpha=1.0", "losses.pmr.entropy=0.1"],
    );
    assert_resume_after_every_epoch_is_bit_identical(&r, |_, _| {});
}

/// `balmix bench` on a recipe with a method also times the same model without it and prints the
/// ratio; `--no-plain` skips that, and a recipe without a method has nothing to compare.
#[test]
fn bench_reports_a_methods_cost_relative_to_the_same_model_without_it() {
    use crate::common::{balmix, root, text};
    let args = [
        "bench",
        "recipes/synthetic/bmm.toml",
        "--steps",
        "10",
        "--warmup",
        "2",
    ];
    let o = balmix(&args, root());
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("vs plain") && out.contains("x the time per step of the same model"),
        "{out}"
    );
    let o = balmix(&[&args[..], &["--no-plain"]].concat(), root());
    assert!(!text(&o).0.contains("vs plain"));
    let o = balmix(
        &[
            "bench",
            "recipes/synthetic/concat.toml",
            "--steps",
            "10",
            "--warmup",
            "2",
        ],
        root(),
    );
    assert!(o.status.success());
    assert!(!text(&o).0.contains("vs plain"), "{:?}", text(&o));
}

/// Per-loss gradient capture (what MMPareto's step relies on): each `backward` returns fresh
/// gradients, so L_audio's gradient on the visual encoder is exactly zero, and on each encoder
/// the captured gradients of L_mm and of that modality's own loss add up to the gradient of
/// their sum (the capture bug of BalanceBenchmark's port would fail both).
#[test]
fn captured_loss_gradients_are_separate_and_add_up_to_the_gradient_of_the_sum() {
    use balmix::method::StepContext;
    use balmix::model::grads::edit_grad;
    let r = recipe("tiny.toml", &[]);
    let (data, splits) =
        balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {}).unwrap();
    let mut model = Model::build(&r.model_settings(), &[128, 32], 6, 0, Dev::default());
    let mut opt = Optimizer::new(r.optimizer());
    let idx: Vec<usize> = splits.train[..32].to_vec();
    let cx = StepContext {
        model: &mut model,
        updater: &mut opt,
        data: &data,
        idx: &idx,
        seed: 0,
        step: 0,
        epoch: 0,
        lr: 0.1,
        augment: None,
        grad_clip: r.train().grad_clip,
        zeroed: None,
    };
    let targets = cx.one_hot(&cx.labels());
    let fused = |cx: &StepContext<'_, Dev>| {
        let zs = cx.encode(cx.host_batch().unwrap());
        cross_entropy_with_logits_loss(cx.model.head(cx.model.fuse(zs)), targets.clone())
    };
    let own = |cx: &StepContext<'_, Dev>, m: usize| {
        let mut zs = cx.encode(cx.host_batch().unwrap());
        let u = cx.model.unimodal_taped(m, zs.swap_remove(m), 2).unwrap();
        cross_entropy_with_logits_loss(u, targets.clone())
    };
    let read = |cx: &StepContext<'_, Dev>, g: &mut dfdx::tensor::Gradients<f32, Dev>, m: usize| {
        let mut out = Vec::new();
        for p in cx
            .model
            .store
            .params
            .iter()
            .filter(|p| p.group == Group::Encoder(m))
        {
            edit_grad(&cx.model.store.dev, g, &p.tensor, &mut |v| {
                out.extend_from_slice(v)
            });
        }
        out
    };
    let mut g_mm = cx.backward(fused(&cx)).unwrap();
    let mut g_audio = cx.backward(own(&cx, 0)).unwrap();
    assert!(
        read(&cx, &mut g_audio, 1).iter().all(|&v| v == 0.0),
        "L_audio reaches the visual encoder"
    );
    let mut g_sum = cx.backward(fused(&cx) + own(&cx, 0)).unwrap();
    let (a, b, s) = (
        read(&cx, &mut g_mm, 0),
        read(&cx, &mut g_audio, 0),
        read(&cx, &mut g_sum, 0),
    );
    assert!(a.iter().any(|&v| v != 0.0) && b.iter().any(|&v| v != 0.0));
    for ((x, y), z) in a.iter().zip(&b).zip(&s) {
        assert!(
            (x + y - z).abs() <= 1e-6 + 1e-5 * z.abs(),
            "{x} + {y} vs {z}"
        );
    }
}

/// MMPareto runs end to end, trains differently from concat and raises the weak modality's
/// own accuracy (synthetic, 20 epochs; measured 0.28 → 0.68 at 60 epochs with
/// `recipes/synthetic/mmpareto.toml`).
#[test]
fn mmpareto_trains_and_raises_the_weak_modalitys_own_accuracy() {
    let (concat, _) = audio_own_and_fused_after_20_epochs(&[]);
    let (pareto, fused) = audio_own_and_fused_after_20_epochs(&["method.kind=\"mmpareto\""]);
    assert!(fused > 0.8, "fused accuracy {fused}");
    assert!(
        pareto > concat + 0.1,
        "audio's own accuracy: concat {concat:.3}, mmpareto {pareto:.3}"
    );
}

/// AGM with α = 0 (κ ≡ 1) and its clipping rule switched off trains bit-identically to plain
/// concat: the masked passes then carry zero gradient and the scaled output has the value of
/// the full pass (spec invariant). With its defaults it trains differently.
#[test]
fn agm_with_alpha_zero_and_no_clipping_is_plain_training_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = |name: &str, sets: &[&str]| {
        crate::common::model_bytes(&train(
            &recipe("tiny.toml", sets),
            0,
            &tmp.path().join(name),
        ))
    };
    let plain = bytes("plain", &[]);
    let agm0 = bytes(
        "agm0",
        &[
            "method.kind=\"agm\"",
            "method.alpha=0.0",
            "method.clip_trigger=1e30",
        ],
    );
    assert_eq!(plain, agm0);
    assert_ne!(plain, bytes("agm", &["method.kind=\"agm\""]));
}

/// After AGM's modulation window the released hooks keep scaling by the last in-window κ
/// (`after_window = "last-kappa"`, default): every step of the epochs after the window reports
/// the κ of the window's last step; `"plain"` reports 1 (the plain fused loss). κ is method
/// state, so a resumed run continues with it (the resume test below covers the default).
#[test]
fn agm_after_its_window_keeps_the_last_kappa_as_released_or_trains_plainly() {
    use balmix::train::trainer::Trainer;
    let run = |after: &str| -> Vec<Vec<f64>> {
        let r = recipe(
            "tiny.toml",
            &[
                "method.kind=\"agm\"",
                "method.alpha=1.5",
                "method.epochs={ start = 0, stop = 2 }",
                &format!("method.after_window=\"{after}\""),
            ],
        );
        let (data, splits) =
            balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {})
                .unwrap();
        let mut t = Trainer::new(&r, 0, &data, &splits, Dev::default()).expect("the data reads");
        let mut last = Vec::new();
        let mut per_epoch = Vec::new();
        for epoch in 0..4 {
            t.start_epoch(epoch).unwrap();
            let idx: Vec<usize> = splits.train[..32].to_vec();
            let stats = t.train_step(&idx, epoch, 0.01).unwrap();
            if epoch < 2 {
                last = stats.coefficients.clone();
            }
            per_epoch.push(stats.coefficients);
        }
        per_epoch.push(last);
        per_epoch
    };
    let released = run("last-kappa");
    let last = released[4].clone();
    assert!(
        last.iter().any(|&k| (k - 1.0).abs() > 1e-6),
        "κ moved: {last:?}"
    );
    assert_eq!(released[2], last, "epoch 2 keeps the last in-window κ");
    assert_eq!(released[3], last, "epoch 3 keeps the last in-window κ");
    let plain = run("plain");
    assert_eq!(plain[2], vec![1.0, 1.0]);
    assert_eq!(plain[3], vec![1.0, 1.0]);
    assert_eq!(plain[1], released[1], "inside the window the two agree");
}

/// AGM's running score means are method state: stopped after each epoch and resumed, a run ends
/// with the bytes of an uninterrupted one.
#[test]
fn agm_resume_after_any_epoch_is_bit_identical() {
    let r = recipe("tiny.toml", &["method.kind=\"agm\"", "method.alpha=1.5"]);
    assert_resume_after_every_epoch_is_bit_identical(&r, |_, _| {});
}

/// MLA takes exactly one update per modality per batch (its sub-step counter is checkpointed),
/// and a run stopped after each epoch and resumed ends with the bytes of an uninterrupted one
/// (P and the counter are method state).
#[test]
fn mla_updates_once_per_modality_per_batch_and_resumes_bit_identically() {
    let r = recipe(
        "tiny.toml",
        &[
            "model.fusion.kind=\"sum\"",
            "method.kind=\"mla\"",
            "method.projection=\"replace\"",
        ],
    );
    assert_resume_after_every_epoch_is_bit_identical(&r, |dir, cut| {
        let bytes = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let state: serde_json::Value =
            serde_json::from_str(&meta.metadata().as_ref().unwrap()["balmix"]).unwrap();
        // 2100 training samples, batch 64: 33 batches per epoch, 2 modalities.
        assert_eq!(state["method"]["substeps"], serde_json::json!(2 * 33 * cut));
    });
}

/// `modulation.params = "conv-weights"` (the released OGM-GE) scales only parameters tagged as
/// convolution weights; `"weights"` scales every encoder weight matrix; biases never.
#[test]
fn ogm_ge_conv_weights_modulates_only_convolution_weights() {
    use balmix::model::grads::edit_grad;
    use balmix::recipe::file::{EpochWindow, OgmParams, OgmVariant};
    let r = recipe("tiny.toml", &[]);
    let mut model = Model::build(&r.model_settings(), &[128, 32], 6, 0, Dev::default());
    // Tag the first encoder weight as a convolution's, as ConvBlock does.
    let tagged = model
        .store
        .params
        .iter()
        .position(|p| p.group == Group::Encoder(0) && matches!(p.tensor, ParamTensor::Matrix(_)))
        .unwrap();
    model.store.params[tagged].conv = true;
    let dev = model.store.dev.clone();
    // Unimodal logits that make modality 0 dominant (ρ_0 > 1), so k_0 < 1.
    let labels = vec![0usize, 1, 2, 3];
    let u0: Vec<f32> = (0..4)
        .flat_map(|i| (0..6).map(move |c| if c == i { 4.0 } else { 0.0 }))
        .collect();
    let u1 = vec![0.0f32; 24];
    for (params, scaled) in [
        (OgmParams::ConvWeights, vec![tagged]),
        (OgmParams::Weights, vec![]),
    ] {
        let mut grads = dfdx::tensor::Gradients::leaky();
        for p in &model.store.params {
            edit_grad(&dev, &mut grads, &p.tensor, &mut |g| {
                g.iter_mut().for_each(|v| *v = 1.0)
            });
        }
        let cfg = balmix::recipe::typed::OgmGeSettings {
            alpha: 0.8,
            noise: false,
            window: EpochWindow { start: 0, stop: 1 },
            variant: OgmVariant::Published,
            params,
        };
        let k = balmix::method::ogm_ge::modulate(
            &cfg,
            &model,
            &mut grads,
            &[u0.clone(), u1.clone()],
            &labels,
            (0, 0, 0),
        );
        assert!(k[0] < 1.0, "{k:?}");
        for (i, p) in model.store.params.iter().enumerate() {
            let mut g = Vec::new();
            edit_grad(&dev, &mut grads, &p.tensor, &mut |v| g = v.to_vec());
            let weight_of_0 =
                p.group == Group::Encoder(0) && matches!(p.tensor, ParamTensor::Matrix(_));
            let expect_scaled = match params {
                OgmParams::ConvWeights => scaled.contains(&i),
                OgmParams::Weights => weight_of_0,
            };
            let want = if expect_scaled { k[0] as f32 } else { 1.0 };
            assert!(
                g.iter().all(|&v| v == want),
                "{params:?} {}: {} vs {want}",
                p.name,
                g[0]
            );
        }
    }
}

/// G-Blending's weights (estimated every `super_epoch` epochs from model copies) are method
/// state: stopped after each epoch and resumed, a run ends with the bytes of an uninterrupted
/// one; and it trains differently from plain concat.
#[test]
fn gblending_resumes_bit_identically_and_changes_training() {
    let r = recipe(
        "tiny.toml",
        &["method.kind=\"gblending\"", "method.super_epoch=2"],
    );
    assert_resume_after_every_epoch_is_bit_identical(&r, |_, _| {});
    let tmp = tempfile::tempdir().unwrap();
    let plain = train(&recipe("tiny.toml", &[]), 0, &tmp.path().join("plain"));
    let blended = train(&r, 0, &tmp.path().join("blended"));
    assert_ne!(
        crate::common::model_bytes(&plain),
        crate::common::model_bytes(&blended)
    );
}

/// Audio's own and the fused test accuracy of the tiny synthetic recipe trained 20 epochs with
/// `sets`.
fn audio_own_and_fused_after_20_epochs(sets: &[&str]) -> (f64, f64) {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe("tiny.toml", &[&["train.epochs=20"], sets].concat());
    let dir = train(&r, 0, tmp.path());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    (
        s["modality_accuracy"]["audio"].as_f64().unwrap(),
        s["test_accuracy"].as_f64().unwrap(),
    )
}

/// PMR's prototype pass, recomputed here from its rule: each epoch samples the first
/// ⌊batches · sample_fraction⌋ batches of the training set in the `prototype` stream's order for
/// that epoch; the first time, it reads on batch by batch until every class is seen, and the
/// prototypes are those class means; from epoch 1 on (`ema_start = 1` here; the released
/// schedule, 2, is tests/released_methods.rs's) (1 − μ)·mean + μ·old, and a class absent from
/// the sample keeps its old prototype.
fn check_prototype_pass(train: &[usize], epochs: usize) -> Vec<String> {
    use balmix::method::parts::LossTerm;
    use balmix::rng::{stream, Stream};
    use rand::seq::SliceRandom;
    let r = recipe(
        "tiny.toml",
        &[
            "losses.pmr.momentum=0.5",
            "losses.pmr.sample_fraction=0.1",
            "losses.pmr.ema_start=1",
        ],
    );
    let (data, splits) =
        balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {}).unwrap();
    let mut model = Model::build(&r.model_settings(), &[128, 32], 6, 0, Dev::default());
    let mut term: Box<dyn LossTerm<Dev>> =
        balmix::method::pmr::term(r.losses().pmr.unwrap(), r.train().batch_size);
    let optim = r.optimizer();
    let new_updater =
        || Box::new(Optimizer::<Dev>::new(optim)) as Box<dyn balmix::method::Updater<Dev>>;
    let batch = r.train().batch_size;
    let take = ((train.len().div_ceil(batch) as f64 * 0.1).floor() as usize).max(1);
    let mut expected: Option<Vec<Vec<f64>>> = None;
    let mut events = Vec::new();
    for epoch in 0..epochs {
        let mut cx = balmix::method::EpochContext {
            model: &mut model,
            data: &data,
            train,
            val: &splits.val,
            test: &splits.test,
            new_updater: &new_updater,
            lr: 0.01,
            base_lr: 0.01,
            seed: 0,
            epoch,
        };
        term.epoch_start(&mut cx).unwrap();
        let mut order = train.to_vec();
        order.shuffle(&mut stream(0, Stream::Prototype, epoch as u64));
        let mut n = (take * batch).min(order.len());
        let has_all = |n: usize| (0..6).all(|c| order[..n].iter().any(|&i| data.labels[i] == c));
        if expected.is_none() {
            while n < order.len() && !has_all(n) {
                n = (n + batch).min(order.len());
                events.push(format!("epoch {epoch}: read on to {n} of {}", order.len()));
            }
        }
        let sample = &order[..n];
        let features = cx.features(sample).unwrap();
        let mut now = Vec::new();
        for (m, f) in features.iter().enumerate() {
            let d = cx.model.encoders[m].out;
            let mut c = vec![0f64; 6 * d];
            for class in 0..6 {
                let rows: Vec<usize> = (0..sample.len())
                    .filter(|&i| data.labels[sample[i]] == class)
                    .collect();
                if rows.is_empty() && m == 0 {
                    events.push(format!("epoch {epoch}: class {class} absent"));
                }
                for j in 0..d {
                    let old = expected.as_ref().map(|old| old[m][class * d + j]);
                    c[class * d + j] = match (rows.is_empty(), old) {
                        (true, old) => old.unwrap_or(0.0),
                        (false, old) => {
                            let mean = rows.iter().map(|&i| f[i * d + j] as f64).sum::<f64>()
                                / rows.len() as f64;
                            old.map_or(mean, |old| 0.5 * mean + 0.5 * old)
                        }
                    };
                }
            }
            now.push(c);
        }
        let protos: balmix::method::pmr::Prototypes = serde_json::from_value(term.state()).unwrap();
        for (m, c) in now.iter().enumerate() {
            for (j, want) in c.iter().enumerate() {
                let got = protos.centres[m][j] as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "epoch {epoch}, modality {m}, entry {j}: {got} vs {want}"
                );
            }
        }
        expected = Some(now);
    }
    events
}

#[test]
fn pmr_prototypes_follow_the_sampling_rule_and_the_momentum() {
    let r = recipe("tiny.toml", &[]);
    let (_, splits) =
        balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {}).unwrap();
    let events = check_prototype_pass(&splits.train, 2);
    assert!(events.is_empty(), "every class in every sample: {events:?}");
}

/// A training set with a single sample of class 5, placed so that the prototype stream's order
/// puts it after the first batch in epoch 0 (the first pass must read on to find it, and stop
/// there) and outside epoch 1's sample (its prototype must be kept from epoch 0).
#[test]
fn pmr_first_prototypes_read_on_until_every_class_and_an_absent_class_keeps_its_prototype() {
    use balmix::rng::{stream, Stream};
    use rand::seq::SliceRandom;
    let r = recipe("tiny.toml", &[]);
    let (data, splits) =
        balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {}).unwrap();
    let batch = r.train().batch_size;
    let mut rest: Vec<usize> = splits
        .train
        .iter()
        .copied()
        .filter(|&i| data.labels[i] != 5)
        .collect();
    let lone = *splits.train.iter().find(|&&i| data.labels[i] == 5).unwrap();
    rest.truncate(10 * batch - 1);
    let len = rest.len() + 1;
    // The position of the lone sample in each epoch's order, for each place it could take in
    // the training list.
    let position = |j: usize, epoch: u64| {
        let mut order: Vec<usize> = (0..len).collect();
        order.shuffle(&mut stream(0, Stream::Prototype, epoch));
        order.iter().position(|&k| k == j).unwrap()
    };
    let j = (0..len)
        .find(|&j| {
            let (p0, p1) = (position(j, 0), position(j, 1));
            (2 * batch..len - batch).contains(&p0) && p1 >= batch
        })
        .expect("a placement that exercises both rules");
    let mut train = rest;
    train.insert(j, lone);
    let events = check_prototype_pass(&train, 2);
    let read_on = events.iter().filter(|e| e.contains("read on")).count();
    assert!(
        read_on >= 2,
        "the first pass read on batch by batch: {events:?}"
    );
    assert!(
        events.contains(&"epoch 1: class 5 absent".to_string()),
        "class 5 is absent from epoch 1's sample: {events:?}"
    );
}

/// PMR's windows: with `epochs = { start = 1, … }` the first epoch is plain training (same
/// metrics as α = 0), the second is not; the entropy term applies in the window's first
/// `entropy_epochs` epochs only (1 here: the first epoch matches the run with it everywhere,
/// the second differs).
#[test]
fn pmr_terms_apply_only_inside_their_windows() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = |sets: &[&str], name: &str| {
        let dir = train(&recipe("tiny.toml", sets), 0, &tmp.path().join(name));
        crate::common::metrics_without_timing(&dir)
    };
    let plain = rows(&["losses.pmr.alpha=0.0"], "plain");
    let late = rows(
        &[
            "losses.pmr.alpha=1.0",
            "losses.pmr.epochs={start=1, stop=4}",
        ],
        "late",
    );
    assert_eq!(plain[1], late[1], "epoch 1 is outside the window");
    assert_ne!(plain[2], late[2], "epoch 2 is inside");
    let entropy_once = rows(
        &[
            "losses.pmr.alpha=0.0",
            "losses.pmr.entropy=0.5",
            "losses.pmr.entropy_epochs=1",
        ],
        "once",
    );
    let entropy_always = rows(
        &[
            "losses.pmr.alpha=0.0",
            "losses.pmr.entropy=0.5",
            "losses.pmr.entropy_epochs=4",
        ],
        "always",
    );
    assert_eq!(entropy_once[1], entropy_always[1]);
    assert_ne!(
        entropy_once[1], plain[1],
        "the entropy term acts in epoch 1"
    );
    assert_ne!(entropy_once[2], entropy_always[2], "and stops after it");
}

/// MMCosine keeps no state beyond the model and its optimiser, CML only its epoch's modality
/// order (drawn from the `modality-order` stream at each epoch's start, and checkpointed): a run
/// stopped after each epoch and resumed ends with the bytes of an uninterrupted one, and one and
/// two threads (at widths where the matrix kernels split across threads) give the same weights
/// and metrics.
#[test]
fn mmcosine_resumes_bit_identically_and_one_and_two_threads_agree() {
    one_method_resumes_and_threads_agree("mmcosine");
}

/// See [`mmcosine_resumes_bit_identically_and_one_and_two_threads_agree`].
#[test]
fn cml_resumes_bit_identically_and_one_and_two_threads_agree() {
    one_method_resumes_and_threads_agree("cml");
}

/// See [`mmcosine_resumes_bit_identically_and_one_and_two_threads_agree`] (MBSD keeps no state).
#[test]
fn mbsd_resumes_bit_identically_and_one_and_two_threads_agree() {
    one_method_resumes_and_threads_agree("mbsd");
}

/// See [`mmcosine_resumes_bit_identically_and_one_and_two_threads_agree`]: AMCo's layer is in
/// the model file and checkpoints, its dependence flags and batch count in the method state, and
/// its masks come from the `class-mask` stream by global step.
#[test]
fn amco_resumes_bit_identically_and_one_and_two_threads_agree() {
    one_method_resumes_and_threads_agree("amco");
}

/// See [`mmcosine_resumes_bit_identically_and_one_and_two_threads_agree`]: OPM keeps no state;
/// its drops come from the `modality-drop` stream by global step.
#[test]
fn opm_resumes_bit_identically_and_one_and_two_threads_agree() {
    one_method_resumes_and_threads_agree("opm");
}

fn one_method_resumes_and_threads_agree(kind: &str) {
    method_resumes_and_threads_agree(kind, &[]);
}

/// [`one_method_resumes_and_threads_agree`] with the method's keys `sets`.
fn method_resumes_and_threads_agree(kind: &str, sets: &[&str]) {
    let kind = format!("method.kind=\"{kind}\"");
    let kind_and_sets = [&[kind.as_str()], sets].concat();
    let r = recipe(
        "tiny.toml",
        &[&kind_and_sets[..], &["train.epochs=3"]].concat(),
    );
    assert_resume_after_every_epoch_is_bit_identical(&r, |_, _| {});
    let tmp = tempfile::tempdir().unwrap();
    let wide = [
        &kind_and_sets[..],
        &[
            "train.epochs=2",
            "model.encoders.audio.hidden=[512]",
            "model.encoders.visual.hidden=[512]",
            "model.encoders.audio.out=128",
            "model.encoders.visual.out=128",
        ],
    ]
    .concat();
    let one = recipe("tiny.toml", &[&wide[..], &["train.threads=1"]].concat());
    let two = recipe("tiny.toml", &[&wide[..], &["train.threads=2"]].concat());
    let a = train(&one, 3, &tmp.path().join("one"));
    let b = train(&two, 3, &tmp.path().join("two"));
    assert_eq!(
        crate::common::model_bytes(&a),
        crate::common::model_bytes(&b)
    );
    assert_eq!(
        crate::common::metrics_without_timing(&a),
        crate::common::metrics_without_timing(&b)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// CML's invariant (baselines spec §12): the partial logits with modality m removed — the
    /// head on the fused features with z_m zeroed, which is how balmix computes them — equal the
    /// released form full − u_m + b/M, with u_m = z_m W_mᵀ + b/M, for concat and sum fusion.
    #[test]
    fn cml_partial_logits_are_the_full_logits_less_the_removed_modality_with_the_bias_kept(
        seed in 0u64..1000,
        sum in proptest::bool::ANY,
        scale in 0.1f32..4.0,
    ) {
        let fusion = if sum { "model.fusion.kind=\"sum\"" } else { "model.fusion.kind=\"concat\"" };
        let r = recipe("tiny.toml", &[fusion]);
        let model = Model::build(&r.model_settings(), &[128, 32], 6, seed, Dev::default());
        let dev = Dev::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = 5;
        let zs: Vec<Matrix<Dev>> = [16usize, 16]
            .iter()
            .map(|&d| {
                let v: Vec<f32> = (0..n * d).map(|_| rng.gen_range(-1.0f32..1.0) * scale).collect();
                dev.tensor_from_vec(v, (n, d))
            })
            .collect();
        let host: Vec<Vec<f32>> = zs.iter().map(|z| z.as_vec()).collect();
        let full = model.head(model.fuse(zs.clone())).as_vec();
        let unimodal = model.decompose(&host, n);
        let bias = model.store.vector(model.heads[0].bias).as_vec();
        for m in 0..2 {
            let mut inputs = zs.clone();
            inputs[m] = dev.zeros_like(&(n, 16));
            let partial = model.head(model.fuse(inputs)).as_vec();
            for i in 0..n {
                for (c, b) in bias.iter().enumerate() {
                    let k = i * 6 + c;
                    let released = full[k] - unimodal[m][k] + b / 2.0;
                    proptest::prop_assert!((partial[k] - released).abs() < 1e-4 * (1.0 + released.abs()),
                        "m {} row {} class {}: {} vs {}", m, i, c, partial[k], released);
                }
            }
        }
    }

    /// CML's hinge is never negative, and the released batch-sum form is at most the per-sample
    /// one (max(0, Σ d_i) ≤ Σ max(0, d_i)).
    #[test]
    fn cml_hinges_are_non_negative_and_the_batch_sum_is_at_most_the_per_sample_sum(
        before in proptest::collection::vec(0.34f32..1.0, 1..8),
        shift in proptest::collection::vec(-0.3f32..0.3, 8),
    ) {
        use balmix::method::cml::{hinge, CmlHinge};
        let dev = Dev::default();
        let n = before.len();
        let after: Vec<f32> = before.iter().zip(&shift).map(|(b, s)| (b + s).clamp(0.0, 1.0)).collect();
        let t = |v: &[f32]| dev.tensor_from_vec(v.to_vec(), (n,)).retaped::<Tape<Dev>>();
        let batch = hinge(t(&before), t(&after), CmlHinge::BatchSum).map_or(0.0, |h| h.as_vec()[0]);
        let per = hinge(t(&before), t(&after), CmlHinge::PerSample).map_or(0.0, |h| h.as_vec()[0]);
        proptest::prop_assert!(batch >= 0.0 && per >= 0.0);
        proptest::prop_assert!(batch <= per + 1e-5, "{} > {}", batch, per);
    }
}

proptest::proptest! {
    /// MBSD's invariants (baselines spec §12): the weight w_i = (ps_i − pw_i) · [either modality
    /// predicts y_i] is 0 when both modalities are wrong and never negative; ps ≥ pw; the
    /// discrepancy RS_i = (1/C) Σ_c (u_a − u_v)² is never negative.
    #[test]
    fn mbsd_weights_vanish_when_both_modalities_are_wrong_and_are_never_negative(
        ua in proptest::collection::vec(-4.0f32..4.0, 12),
        uv in proptest::collection::vec(-4.0f32..4.0, 12),
        labels in proptest::collection::vec(0usize..3, 4),
    ) {
        use balmix::method::mbsd::selections;
        let (first, right) = selections(&[ua.clone(), uv.clone()], &labels, 3);
        let pa = balmix::mixup::mix::softmax_rows(&ua, 3);
        let pv = balmix::mixup::mix::softmax_rows(&uv, 3);
        let argmax = |p: &[f64]| (0..3).fold(0, |b, c| if p[c] > p[b] { c } else { b });
        for (i, &y) in labels.iter().enumerate() {
            let (a, v) = (pa[i * 3 + y], pv[i * 3 + y]);
            let (ps, pw) = if first[i] == 1.0 { (a, v) } else { (v, a) };
            proptest::prop_assert!(ps >= pw);
            let both_wrong = argmax(&pa[i * 3..i * 3 + 3]) != y && argmax(&pv[i * 3..i * 3 + 3]) != y;
            proptest::prop_assert_eq!(right[i] == 0.0, both_wrong);
            let w = (ps - pw) * right[i] as f64;
            proptest::prop_assert!(w >= 0.0);
            let rs: f32 = (0..3).map(|c| (ua[i * 3 + c] - uv[i * 3 + c]).powi(2)).sum::<f32>() / 3.0;
            proptest::prop_assert!(rs >= 0.0);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// AMCo's invariants (baselines spec §12): p ∈ [0, 1], 0 all through epoch 0 and 1 once
    /// l ≥ ε; the class mask holds exactly ⌊p·C⌋ zeros, every other entry exactly 1, and is a
    /// pure function of (seed, step); at most one modality is dependent when σ ≥ 1/2 (the shares
    /// sum to 1).
    #[test]
    fn amco_masks_hold_floor_p_c_exact_zeros_and_at_most_one_modality_is_dependent(
        seed in 0u64..1000,
        step in 0u64..10_000,
        epoch in 0usize..100,
        batches in 0u64..40,
        classes in 2usize..40,
        u in proptest::collection::vec(-6.0f32..6.0, 2 * 4 * 40),
        sigma in 0.5f64..0.99,
    ) {
        use balmix::method::amco::{class_mask, dependence, mask_share};
        let p = mask_share(epoch, batches, 0.3);
        proptest::prop_assert!((0.0..=1.0).contains(&p));
        if epoch == 0 || batches == 0 {
            proptest::prop_assert_eq!(p, 0.0);
        }
        if epoch as f64 / 10.0 * batches as f64 >= 0.3 + 1e-9 {
            proptest::prop_assert_eq!(p, 1.0);
        }
        let mask = class_mask(seed, step, p, classes);
        proptest::prop_assert_eq!(&mask, &class_mask(seed, step, p, classes));
        let zeros = mask.iter().filter(|&&v| v == 0.0).count();
        proptest::prop_assert_eq!(zeros, (p * classes as f64).floor() as usize);
        proptest::prop_assert!(mask.iter().all(|&v| v == 0.0 || v == 1.0));
        let n = 4;
        let per = n * classes;
        let us = vec![u[..per].to_vec(), u[per..2 * per].to_vec()];
        let dependent = dependence(&us, n, classes, sigma);
        proptest::prop_assert!(dependent.iter().filter(|&&d| d).count() <= 1);
    }

    /// OPM's invariants: q_m ∈ {0} ∪ [q_base, q_base(1 + α)], positive for at most one modality
    /// (the one scoring above all others together); a step with p_exe = 0 never drops and one with
    /// p_exe = 1 always does; a modality with q = 0 is kept by every sample, so no sample loses
    /// every modality; the kept features' scale 1/(1 − θ + 10⁻⁵) is at least 1/(1 + 10⁻⁵) (θ ≥ 0).
    #[test]
    fn opm_drops_only_the_dominant_modality_and_never_a_whole_sample(
        scores in proptest::collection::vec(0.0f64..64.0, 2..5),
        alpha in 0.0f64..2.0,
        base in 0.0f64..1.0,
        seed in 0u64..1000,
        step in 0u64..10_000,
        n in 1usize..40,
    ) {
        use balmix::method::opm::{draw_drop, drop_probabilities};
        let q_base = base / (1.0 + alpha);
        let q = drop_probabilities(&scores, alpha, q_base);
        proptest::prop_assert!(q.iter().filter(|&&v| v > 0.0).count() <= 1);
        for (m, &qm) in q.iter().enumerate() {
            proptest::prop_assert!(qm == 0.0 || (qm >= q_base && qm <= q_base * (1.0 + alpha) + 1e-12));
            let others: f64 = scores.iter().sum::<f64>() - scores[m];
            if qm > 0.0 {
                proptest::prop_assert!(scores[m] > others);
            }
        }
        let widths: Vec<usize> = (0..scores.len()).map(|m| 4 + 3 * m).collect();
        proptest::prop_assert!(draw_drop(seed, step, &q, &widths, n, 0.0).is_none());
        let d = draw_drop(seed, step, &q, &widths, n, 1.0).expect("p_exe 1 always drops");
        proptest::prop_assert!(d.scale >= 1.0 / (1.0 + 1e-5));
        for (m, keep) in d.keep.iter().enumerate() {
            if q[m] == 0.0 {
                proptest::prop_assert!(keep.iter().all(|&k| k));
            }
        }
        for i in 0..n {
            proptest::prop_assert!(d.keep.iter().any(|k| k[i]));
        }
    }
}

/// See [`mmcosine_resumes_bit_identically_and_one_and_two_threads_agree`]: LFM's α, lr_α and last
/// Hessian-vector mean are in the method state; its probe batch is the first validation samples.
#[test]
fn lfm_resumes_bit_identically_and_one_and_two_threads_agree() {
    one_method_resumes_and_threads_agree("lfm");
}

/// LFM's finite-difference Hessian-vector product against the exact one on a quadratic
/// L(θ) = ½ θᵀAθ + bᵀθ (gradient Aθ + b, computed in f32 as the network's are; H·v = Av in f64):
/// the central difference is exact for a quadratic, so what is left is f32 rounding, mostly of
/// θ ± εv itself (an f32 ulp of θ against a shift of ε|v| ≈ 2⁻¹⁸(1 + ‖θ‖)) — within 5e-2 of
/// max|Av|; a factor or sign wrong, or a one-sided difference, is far outside that.
#[test]
fn lfm_finite_difference_hvp_is_the_exact_hvp_on_a_quadratic() {
    use balmix::method::lfm::central_difference_hvp;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for dims in [[3usize, 4], [17, 1], [64, 32]] {
        let d: usize = dims.iter().sum();
        let mut a = vec![0f64; d * d];
        for i in 0..d {
            for j in 0..=i {
                let v = rng.gen_range(-1.0..1.0) + if i == j { 2.0 } else { 0.0 };
                a[i * d + j] = v;
                a[j * d + i] = v;
            }
        }
        let b: Vec<f64> = (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let split = |flat: Vec<f32>| -> Vec<Vec<f32>> {
            vec![flat[..dims[0]].to_vec(), flat[dims[0]..].to_vec()]
        };
        let draw = |rng: &mut rand::rngs::StdRng| -> Vec<f32> {
            (0..d).map(|_| rng.gen_range(-2.0f32..2.0)).collect()
        };
        let (theta, v) = (split(draw(&mut rng)), split(draw(&mut rng)));
        let mut grad = |point: &[Vec<f32>]| {
            let x: Vec<f32> = point.concat();
            let g: Vec<f32> = (0..d)
                .map(|i| (0..d).map(|j| a[i * d + j] as f32 * x[j]).sum::<f32>() + b[i] as f32)
                .collect();
            Ok(split(g))
        };
        let got: Vec<f64> = central_difference_hvp(&theta, &v, &mut grad)
            .unwrap()
            .concat();
        let vf: Vec<f64> = v.concat().iter().map(|&x| x as f64).collect();
        let want: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| a[i * d + j] * vf[j]).sum())
            .collect();
        let scale = want.iter().fold(0f64, |m, w| m.max(w.abs()));
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 5e-2 * scale,
                "{dims:?}: {g} vs {w} (max {scale})"
            );
        }
    }
}

proptest::proptest! {
    /// LFM's invariants (baselines spec §12): after any update α₀ + α₁ = 1 and α₁ ∈ [0.05,
    /// 0.95]; lr_α halves exactly at epochs 20, 40, …; the true Jensen–Shannon divergence lies in
    /// [0, ln 2] and both alignments are ≥ 0 (up to f32 rounding).
    #[test]
    fn lfm_alpha_stays_a_clipped_convex_pair_and_js_is_within_zero_and_ln_2(
        alpha in 0.05f64..=0.95,
        lr in 1e-6f64..1.0,
        epoch in 0usize..200,
        mean in -1e4f64..1e4,
        p in proptest::collection::vec(-8.0f32..8.0, 12),
        q in proptest::collection::vec(-8.0f32..8.0, 12),
    ) {
        use balmix::method::lfm::{alignment, update_alpha, LfmJs};
        let (a1, lr2) = update_alpha(alpha, lr, epoch, mean);
        proptest::prop_assert!((0.05..=0.95).contains(&a1));
        proptest::prop_assert!(((1.0 - a1) + a1 - 1.0).abs() < 1e-15);
        let halves = epoch % 20 == 0 && epoch != 0;
        proptest::prop_assert_eq!(lr2, if halves { lr / 2.0 } else { lr });
        let dev = Dev::default();
        let t = |v: &[f32]| dev.tensor_from_vec(v.to_vec(), (4, 3)).retaped::<Tape<Dev>>();
        let js = alignment(t(&p), t(&q), LfmJs::True).as_vec()[0];
        proptest::prop_assert!((-1e-6..=std::f32::consts::LN_2 + 1e-6).contains(&js), "js {}", js);
        let released = alignment(t(&p), t(&q), LfmJs::Released).as_vec()[0];
        proptest::prop_assert!(released >= -1e-6, "released {}", released);
    }
}

/// LFM's metrics.csv carries α₁ and the Hessian-vector mean it was updated from, every epoch:
/// α₁ starts at 0.05, stays in [0.05, 0.95], and each epoch's α₁ is the previous one less
/// lr_α · that epoch's mean, clipped (lr_α 1e-4, no halving before epoch 20).
#[test]
fn lfm_reports_alpha_and_the_hvp_mean_it_came_from_each_epoch() {
    let r = recipe("tiny.toml", &["method.kind=\"lfm\"", "train.epochs=3"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = train(&r, 0, tmp.path());
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (a, h) = (col("lfm_alpha"), col("lfm_hvp_mean"));
    let mut previous = 0.05f64;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let (alpha, mean): (f64, f64) = (f[a].parse().unwrap(), f[h].parse().unwrap());
        assert!(mean.is_finite());
        assert!((0.05..=0.95).contains(&alpha));
        assert_eq!(alpha, (previous - 1e-4 * mean).clamp(0.05, 0.95), "{line}");
        previous = alpha;
    }
}

/// OPM's θ weights each modality's drop probability by its feature width (OPM_trainer.py
/// L29–L31: θ = Σ_m d_m q_m / Σ_m d_m) and kept features are divided by 1 − θ + 1e-5 (L41):
/// with widths 4 and 12 and q = (0.6, 0), θ = 2.4/16 = 0.15 (an unweighted mean would give 0.3),
/// so the scale is 1/0.85001.
#[test]
fn opm_theta_weights_drop_probabilities_by_feature_width() {
    let d = balmix::method::opm::draw_drop(0, 0, &[0.6, 0.0], &[4, 12], 8, 1.0).expect("drops");
    assert!((d.scale - 1.0 / 0.85001).abs() < 1e-12, "{}", d.scale);
    let d = balmix::method::opm::draw_drop(0, 0, &[0.0, 0.6], &[4, 12], 8, 1.0).expect("drops");
    assert!(
        (d.scale - 1.0 / (1.0 - 7.2 / 16.0 + 1e-5)).abs() < 1e-12,
        "{}",
        d.scale
    );
}

/// Re-learning's θ⁰ (checkpoint tensors) and its count of diagnoses survive a stop after every
/// epoch: with one re-initialisation allowed (after epoch 1, `reinit_every = 1`), a run
/// resumed after epoch 2 that forgot the count would re-initialise again; the resumed run ends
/// with the bytes of an uninterrupted one. One and two threads agree.
#[test]
fn relearn_resumes_bit_identically_and_one_and_two_threads_agree() {
    method_resumes_and_threads_agree("relearn", &["method.reinit_every=1", "method.reinits=1"]);
}

/// Re-learning's step is the standard one: with no re-initialisation (`reinits = 0`) a run ends
/// with the bytes of the plain concat run; with re-initialisations after epochs 1 and 2 (of
/// five) it does not, its metrics report the latest re-init's w from the epoch after the
/// first on (each w in [0, tanh 3]; the last row repeats the second re-init's), and the
/// resolved recipe records the default diagnosis split, the validation split.
#[test]
fn relearn_without_reinits_is_plain_training_and_reports_w_after_each_reinit() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = train(
        &recipe("tiny.toml", &["train.epochs=4"]),
        0,
        &tmp.path().join("plain"),
    );
    let none = recipe(
        "tiny.toml",
        &[
            "train.epochs=4",
            "method.kind=\"relearn\"",
            "method.reinits=0",
        ],
    );
    let none = train(&none, 0, &tmp.path().join("none"));
    assert_eq!(
        crate::common::model_bytes(&plain),
        crate::common::model_bytes(&none),
        "reinits = 0 is plain training"
    );
    let r = recipe(
        "tiny.toml",
        &[
            "train.epochs=5",
            "method.kind=\"relearn\"",
            "method.reinit_every=1",
            "method.reinits=2",
        ],
    );
    let dir = train(&r, 0, &tmp.path().join("relearn"));
    let plain5 = train(
        &recipe("tiny.toml", &["train.epochs=5"]),
        0,
        &tmp.path().join("plain5"),
    );
    assert_ne!(
        crate::common::model_bytes(&plain5),
        crate::common::model_bytes(&dir)
    );
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (wa, wv) = (col("relearn_w_audio"), col("relearn_w_visual"));
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 5);
    // Re-inits after epochs 1 and 2 (0-based) show from the row of epoch 3 (1-based) on.
    for (i, row) in rows.iter().enumerate() {
        for c in [wa, wv] {
            if i >= 2 {
                let w: f64 = row[c]
                    .parse()
                    .unwrap_or_else(|_| panic!("row {i}: {row:?}"));
                assert!((0.0..=3f64.tanh()).contains(&w), "row {i}: w {w}");
            } else {
                assert_eq!(row[c], "", "row {i}: no re-init before it");
            }
        }
    }
    assert_eq!(
        (&rows[3][wa], &rows[3][wv]),
        (&rows[4][wa], &rows[4][wv]),
        "no third re-init"
    );
    let resolved = std::fs::read_to_string(dir.join("recipe.resolved.toml")).unwrap();
    assert!(resolved.contains("diagnosis_split = \"val\""), "{resolved}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Re-learning's soft re-init (baselines spec §8.9): w = 0 leaves every parameter's bits,
    /// w = 1 restores θ⁰ exactly, any w moves only encoder m's trainable parameters and puts
    /// each entry on the segment between θ and θ⁰.
    #[test]
    fn relearn_soft_reinit_is_a_no_op_at_0_restores_theta0_at_1_and_touches_only_its_encoder(
        seed in 0u64..1000,
        m in 0usize..2,
        w in 0.0f64..1.0,
    ) {
        use balmix::method::relearn::{encoder_weights, soft_reinit};
        let (_, mut model) = model("concat");
        let initial = encoder_weights(&model.store);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for id in 0..model.store.params.len() {
            let v: Vec<f32> = model.store.params[id].tensor.to_host().iter().map(|x| x + rng.gen_range(-0.5f32..0.5)).collect();
            model.store.set_values(id, v);
        }
        let host = |model: &Model<Dev>| -> Vec<Vec<f32>> { model.store.params.iter().map(|p| p.tensor.to_host()).collect() };
        let theta = host(&model);
        let theta0 = |name: &str| initial.iter().find(|t| t.0 == name).map(|t| t.2.clone());
        let mut at0 = model.clone();
        soft_reinit(&mut at0.store, &initial, m, 0.0);
        proptest::prop_assert_eq!(host(&at0), theta.clone());
        let mut at1 = model.clone();
        soft_reinit(&mut at1.store, &initial, m, 1.0);
        let mut at_w = model.clone();
        soft_reinit(&mut at_w.store, &initial, m, w);
        let (one, mid) = (host(&at1), host(&at_w));
        for (id, p) in model.store.params.iter().enumerate() {
            let own = p.group == Group::Encoder(m) && !p.buffer;
            if !own {
                proptest::prop_assert_eq!(&one[id], &theta[id], "{} moved", p.name);
                proptest::prop_assert_eq!(&mid[id], &theta[id], "{} moved", p.name);
                continue;
            }
            let t0 = theta0(&p.name).expect("θ⁰ of every encoder parameter");
            proptest::prop_assert_eq!(&one[id], &t0, "{} at w = 1", p.name);
            for ((v, a), b) in mid[id].iter().zip(&theta[id]).zip(&t0) {
                let (lo, hi) = (a.min(*b), a.max(*b));
                proptest::prop_assert!(*v >= lo - 1e-6 && *v <= hi + 1e-6, "{}: {v} outside [{lo}, {hi}]", p.name);
            }
        }
    }

    /// Re-learning's weight and schedule (spec §8.9): w = tanh(λ·|gap|) lies in [0, tanh(λ)];
    /// re-initialisations happen only after epochs that are positive multiples of
    /// `reinit_every`, at most `reinits` times.
    #[test]
    fn relearn_weight_is_within_tanh_lambda_and_reinits_keep_their_schedule(
        lambda in 0.0f64..10.0,
        pt in 0.0f64..1.0,
        pd in 0.0f64..1.0,
        every in 1usize..7,
        reinits in 0usize..5,
    ) {
        use balmix::method::relearn::{reinit_weight, ReLearn, ReLearnSettings, DiagnosisSplit};
        let w = reinit_weight(lambda, pt, pd);
        proptest::prop_assert!((0.0..=lambda.tanh()).contains(&w));
        proptest::prop_assert_eq!(w, reinit_weight(lambda, pd, pt));
        let s = ReLearnSettings { lambda, reinit_every: every, reinits, diagnosis_split: DiagnosisSplit::Val, kmeans_restarts: 1 };
        let mut done = 0;
        for epoch in 0..40 {
            if ReLearn::due(&s, epoch, done) {
                proptest::prop_assert!(epoch > 0 && epoch % every == 0);
                done += 1;
            }
        }
        proptest::prop_assert_eq!(done, reinits.min(39 / every));
    }

    /// Purity (spec §8.9) does not depend on how clusters are numbered and lies between the
    /// largest class's share and 1; k-means gives every point its nearest centre and repeats
    /// itself from the same seed.
    #[test]
    fn purity_ignores_cluster_names_and_kmeans_repeats_from_a_seed(
        seed in 0u64..1000,
        n in 4usize..40,
        k in 1usize..4,
    ) {
        use balmix::kmeans::{kmeans, purity, KMeansSettings};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let labels: Vec<usize> = (0..n).map(|_| rng.gen_range(0..3)).collect();
        let clusters: Vec<usize> = (0..n).map(|_| rng.gen_range(0..5)).collect();
        let renamed: Vec<usize> = clusters.iter().map(|c| (c * 7 + 3) % 11).collect();
        let p = purity(&labels, &clusters);
        proptest::prop_assert_eq!(p, purity(&labels, &renamed));
        let largest = (0..3).map(|l| labels.iter().filter(|&&x| x == l).count()).max().unwrap();
        proptest::prop_assert!(p >= largest as f64 / n as f64 && p <= 1.0);
        let d = 3;
        let x: Vec<f64> = (0..n * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let s = KMeansSettings::new(k, 2);
        let a = kmeans(&x, d, &s, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let b = kmeans(&x, d, &s, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        proptest::prop_assert_eq!(&a, &b);
        for i in 0..n {
            let dist = |c: usize| (0..d).map(|j| (x[i * d + j] - a.centres[c * d + j]).powi(2)).sum::<f64>();
            let own = dist(a.labels[i]);
            proptest::prop_assert!((0..k).all(|c| own <= dist(c) + 1e-12), "point {i} is not at its nearest centre");
        }
    }
}

/// A tiny unimodal teacher run of `modality`, named `unimodal-<modality>` (beside the tiny
/// student, whose name has no folder).
fn tiny_teacher(modality: &str, sets: &[&str]) -> balmix::recipe::Recipe {
    let own = [
        format!("dataset.modalities=[\"{modality}\"]"),
        format!("name=\"unimodal-{modality}\""),
    ];
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    recipe("tiny.toml", &[&own[..], sets].concat())
}

/// A tiny UMT student (`sets` added) reading the teachers `unimodal-audio` and
/// `unimodal-visual` beside it.
fn tiny_umt(sets: &[&str]) -> balmix::recipe::Recipe {
    let own = [
        "method.kind=\"umt\"",
        "method.teachers=[\"unimodal-audio\", \"unimodal-visual\"]",
    ];
    recipe("tiny.toml", &[&own[..], sets].concat())
}

fn run_in(
    r: &balmix::recipe::Recipe,
    out: &std::path::Path,
    resume: bool,
) -> Result<balmix::train::run::Outcome, String> {
    let opts = balmix::train::run::RunOptions {
        out: out.to_path_buf(),
        resume,
        ..Default::default()
    };
    balmix::train::run::run_seed(r, 0, &opts).map_err(|e| format!("{e:#}"))
}

/// UMT reads its teachers as finished runs beside it under the same --out and seed: without
/// them it stops and says to train them first; with them its summary records each teacher's
/// run identity; a teacher of the wrong modality is refused by name; a teacher trained again
/// makes the finished student stale, and running it again trains it again. With `scaling = 0`
/// the student is plain concat training, bit for bit (the teachers still run and are read).
#[test]
fn umt_reads_its_teachers_beside_it_and_retrains_when_one_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let student = tiny_umt(&["train.epochs=2"]);
    let missing = run_in(&student, out, false).unwrap_err();
    assert!(
        missing.contains("unimodal-audio/seed-0") && missing.contains("train it first"),
        "{missing}"
    );
    for m in ["audio", "visual"] {
        run_in(&tiny_teacher(m, &["train.epochs=2"]), out, false).unwrap();
    }
    run_in(&student, out, false).unwrap();
    let frozen = crate::common::frozen_dirs(&out.join("tiny/seed-0"));
    assert_eq!(frozen.len(), 2);
    assert!(frozen[0].ends_with("unimodal-audio/seed-0"));
    assert!(frozen[1].ends_with("unimodal-visual/seed-0"));
    let swapped = recipe(
        "tiny.toml",
        &[
            "method.kind=\"umt\"",
            "method.teachers=[\"unimodal-visual\", \"unimodal-audio\"]",
            "train.epochs=2",
            "name=\"swapped\"",
        ],
    );
    let e = run_in(&swapped, out, false).unwrap_err();
    assert!(
        e.contains("a teacher of audio must be a run of audio alone"),
        "{e}"
    );
    // The audio teacher trained again under another recipe: the student is stale.
    let opts = balmix::train::run::RunOptions {
        out: out.to_path_buf(),
        force: true,
        ..Default::default()
    };
    balmix::train::run::run_seed(&tiny_teacher("audio", &["train.epochs=3"]), 0, &opts).unwrap();
    match run_in(&student, out, false).unwrap() {
        balmix::train::run::Outcome::Trained(_) | balmix::train::run::Outcome::Retrained { .. } => {
        }
        other => panic!("a stale student is trained again, got {other:?}"),
    }
    // scaling = 0 is the plain step.
    let zero = tiny_umt(&["train.epochs=2", "method.scaling=0.0", "name=\"zero\""]);
    run_in(&zero, out, false).unwrap();
    let plain = train(
        &recipe("tiny.toml", &["train.epochs=2", "name=\"plain\""]),
        0,
        out,
    );
    assert_eq!(
        crate::common::model_bytes(&out.join("zero/seed-0")),
        crate::common::model_bytes(&plain)
    );
}

/// A UMT student stopped after each epoch and resumed (its teachers attached again) ends with
/// the bytes of an uninterrupted one; one and two threads agree.
#[test]
fn umt_resumes_bit_identically_and_one_and_two_threads_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let wide = [
        "model.encoders.audio.hidden=[512]",
        "model.encoders.visual.hidden=[512]",
        "model.encoders.audio.out=128",
        "model.encoders.visual.out=128",
        "train.epochs=3",
    ];
    for m in ["audio", "visual"] {
        run_in(&tiny_teacher(m, &wide), out, false).unwrap();
    }
    let whole = tiny_umt(&wide);
    run_in(&whole, out, false).unwrap();
    let expected = crate::common::model_bytes(&out.join("tiny/seed-0"));
    for cut in 1..3 {
        let name = format!("name=\"cut-{cut}\"");
        let r = tiny_umt(&[&wide[..], &[name.as_str()]].concat());
        let stop = balmix::train::run::RunOptions {
            out: out.to_path_buf(),
            stop_after_epochs: Some(cut),
            ..Default::default()
        };
        balmix::train::run::run_seed(&r, 0, &stop).unwrap();
        run_in(&r, out, true).unwrap();
        assert_eq!(
            crate::common::model_bytes(&out.join(format!("cut-{cut}/seed-0"))),
            expected,
            "cut after epoch {cut}"
        );
    }
    let two = tiny_umt(&[&wide[..], &["train.threads=2", "name=\"two\""]].concat());
    run_in(&two, out, false).unwrap();
    assert_eq!(
        crate::common::model_bytes(&out.join("two/seed-0")),
        expected
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8))]
    /// UMT's teacher pass leaves the frozen teacher as it was (no running statistics kept, no
    /// weight touched) and gives the same feature twice; in training mode its batch norms use
    /// the batch's statistics, so on a batch-norm network it differs from evaluation mode.
    #[test]
    fn umt_teacher_pass_leaves_the_teacher_unchanged(seed in 0u64..1000) {
        use balmix::method::umt::{teacher_feature, TeacherMode};
        let r = recipe("bn-net.toml", &["dataset.modalities=[\"audio\"]"]);
        let teacher = Model::build(&r.model_settings(), &[256], 3, seed, Dev::default());
        let before: Vec<Vec<f32>> = teacher.store.params.iter().map(|p| p.tensor.to_host()).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let rows: Vec<f32> = (0..4 * 256).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let a = teacher_feature(&teacher, rows.clone(), 4, TeacherMode::Train);
        let b = teacher_feature(&teacher, rows.clone(), 4, TeacherMode::Train);
        let e = teacher_feature(&teacher, rows, 4, TeacherMode::Eval);
        let after: Vec<Vec<f32>> = teacher.store.params.iter().map(|p| p.tensor.to_host()).collect();
        proptest::prop_assert_eq!(&a, &b);
        proptest::prop_assert_ne!(&a, &e);
        proptest::prop_assert_eq!(before, after);
        proptest::prop_assert_eq!(teacher.store.running_applied, 0);
        proptest::prop_assert!(teacher.store.running.take().is_empty(), "no running update waits to be applied");
    }
}

/// See [`relearn_resumes_bit_identically_and_one_and_two_threads_agree`]: modality valuation
/// rebuilds each epoch's list from the weights at its start and the `resample` stream, so a
/// resumed run must rebuild the same lists.
#[test]
fn valuation_resumes_bit_identically_and_one_and_two_threads_agree() {
    method_resumes_and_threads_agree("valuation", &[]);
}

/// Modality valuation's rebuilt list (spec §12: the rebuilt set contains the original): a
/// warm-up epoch is the plain list; a rebuilt epoch holds every training sample at least once,
/// its extra entries on top, and no entry zeroes every modality. With the warm-up as long as
/// training, a run has the bytes of plain concat training; otherwise its metrics report, from
/// the first rebuilt epoch on, mean values whose sum is a training accuracy (efficiency:
/// Σ_m φ_m = v(all)) and the entries added.
#[test]
fn valuation_rebuilds_keep_every_sample_and_warmup_is_plain_training() {
    for level in ["modality", "sample"] {
        let r = recipe(
            "tiny.toml",
            &[
                "method.kind=\"valuation\"",
                &format!("method.level=\"{level}\""),
            ],
        );
        let (data, splits) =
            balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {})
                .unwrap();
        let mut t = balmix::train::trainer::Trainer::new(&r, 0, &data, &splits, Dev::default())
            .expect("the data reads");
        let order = splits.train.clone();
        let plain = t.epoch_samples(0, order.clone()).unwrap();
        assert_eq!(
            plain.order, order,
            "{level}: the warm-up epoch is the plain list"
        );
        assert!(plain.zeroed.is_empty());
        let rebuilt = t.epoch_samples(1, order.clone()).unwrap();
        assert_eq!(rebuilt.zeroed.len(), rebuilt.order.len());
        let count = |list: &[usize], i: usize| list.iter().filter(|&&j| j == i).count();
        for &i in &order {
            assert!(
                count(&rebuilt.order, i) >= count(&order, i),
                "{level}: sample {i} left out"
            );
        }
        assert!(
            rebuilt.zeroed.iter().all(|z| z.iter().any(|&f| !f)),
            "{level}: an entry keeps a modality"
        );
        let zeroing = rebuilt
            .zeroed
            .iter()
            .filter(|z| z.iter().any(|&f| f))
            .count();
        assert!(
            zeroing <= rebuilt.order.len() - order.len(),
            "{level}: only extras zero"
        );
        if level == "sample" {
            assert!(
                zeroing > 0,
                "the tiny data's sample level adds zeroed copies"
            );
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let plain = train(
        &recipe("tiny.toml", &["train.epochs=3"]),
        0,
        &tmp.path().join("plain"),
    );
    let long_warmup = recipe(
        "tiny.toml",
        &[
            "train.epochs=3",
            "method.kind=\"valuation\"",
            "method.warmup_epochs=3",
        ],
    );
    let long_warmup = train(&long_warmup, 0, &tmp.path().join("warm"));
    assert_eq!(
        crate::common::model_bytes(&plain),
        crate::common::model_bytes(&long_warmup),
        "a warm-up over every epoch is plain training"
    );
    let r = recipe(
        "tiny.toml",
        &[
            "train.epochs=3",
            "method.kind=\"valuation\"",
            "method.level=\"sample\"",
        ],
    );
    let dir = train(&r, 0, &tmp.path().join("valuation"));
    assert_ne!(
        crate::common::model_bytes(&plain),
        crate::common::model_bytes(&dir),
        "the rebuilt lists train differently"
    );
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (a, v, added) = (
        col("shapley_audio"),
        col("shapley_visual"),
        col("valuation_added"),
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[0][a].as_str(), rows[0][added].as_str()),
        ("", ""),
        "warm-up"
    );
    for row in &rows[1..] {
        let (pa, pv): (f64, f64) = (row[a].parse().unwrap(), row[v].parse().unwrap());
        assert!(
            (-1.0..=1.0).contains(&pa) && (-1.0..=1.0).contains(&pv),
            "{row:?}"
        );
        assert!(
            (0.0..=1.0 + 1e-12).contains(&(pa + pv)),
            "Σ φ is an accuracy: {row:?}"
        );
        assert!(row[added].parse::<f64>().unwrap() > 0.0, "{row:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Modality valuation's Shapley values (spec §12): per sample Σ_m φ_m = v(all) − v(∅)
    /// (efficiency), each φ_m ∈ [−1, 1], and renaming the modalities renames the values
    /// (symmetry); a modality that never changes a prediction is worth 0 (null player).
    #[test]
    fn valuation_shapley_values_are_efficient_symmetric_and_bounded(
        modalities in 1usize..5,
        n in 1usize..6,
        bits in proptest::collection::vec(proptest::bool::ANY, 16 * 6),
    ) {
        use balmix::method::valuation::shapley_values;
        let sets = 1usize << modalities;
        let correct: Vec<Vec<bool>> = (0..sets)
            .map(|s| (0..n).map(|i| s != 0 && bits[s * 6 + i]).collect())
            .collect();
        let phi = shapley_values(&correct, modalities);
        for i in 0..n {
            let total: f64 = (0..modalities).map(|m| phi[m][i]).sum();
            let all = f64::from(u8::from(correct[sets - 1][i]));
            proptest::prop_assert!((total - all).abs() < 1e-12, "sample {i}: Σφ {total} vs {all}");
            for p in &phi {
                proptest::prop_assert!((-1.0..=1.0).contains(&p[i]));
            }
        }
        // Swap modalities 0 and the last: bit sets map through the swap.
        let last = modalities - 1;
        let swap = |s: usize| -> usize {
            let (b0, bl) = (s & 1, (s >> last) & 1);
            let mut t = s & !(1 | (1 << last));
            t |= bl | (b0 << last);
            t
        };
        let swapped: Vec<Vec<bool>> = (0..sets).map(|s| correct[swap(s)].clone()).collect();
        let phi_s = shapley_values(&swapped, modalities);
        // (Equal up to the order of the sum's terms.)
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        proptest::prop_assert!(close(&phi_s[0], &phi[last]), "{:?} vs {:?}", phi_s[0], phi[last]);
        proptest::prop_assert!(close(&phi_s[last], &phi[0]), "{:?} vs {:?}", phi_s[last], phi[0]);
        // A null player: v(S ∪ {0}) = v(S) for every S.
        let null: Vec<Vec<bool>> = (0..sets).map(|s| correct[s & !1].clone()).collect();
        let phi_n = shapley_values(&null, modalities);
        proptest::prop_assert!(phi_n[0].iter().all(|&v| v == 0.0));
    }

    /// The modality-level rebuild (spec §12): equal gaps add nothing; otherwise each drawn
    /// sample comes once per modality, the copy for m zeroing exactly the modalities of smaller
    /// gap, so it never zeroes m and the copy of the smallest gap zeroes nothing.
    #[test]
    fn valuation_modality_copies_zero_only_smaller_gaps(
        gaps in proptest::collection::vec(0.0f64..2.0, 1..5),
        drawn in proptest::collection::vec(0usize..10, 0..6),
    ) {
        use balmix::method::valuation::{modality_copies, modality_difference, modality_level_entries};
        let m = gaps.len();
        let copies = modality_copies(&gaps);
        for (k, z) in copies.iter().enumerate() {
            proptest::prop_assert!(!z[k]);
            for o in 0..m {
                proptest::prop_assert_eq!(z[o], gaps[k] > gaps[o]);
            }
        }
        let entries = modality_level_entries(&gaps, &drawn);
        proptest::prop_assert_eq!(entries.len(), drawn.len() * m);
        if m > 1 {
            proptest::prop_assert!(modality_difference(&gaps) >= 0.0);
            let same = vec![gaps[0]; m];
            proptest::prop_assert_eq!(modality_difference(&same), 0.0);
        }
    }
}

/// A tiny UME ensemble (`sets` added) of the members `unimodal-audio` and `unimodal-visual`
/// beside it.
fn tiny_ume(sets: &[&str]) -> balmix::recipe::Recipe {
    let own = [
        "method.kind=\"ume\"",
        "method.members=[\"unimodal-audio\", \"unimodal-visual\"]",
    ];
    recipe("tiny.toml", &[&own[..], sets].concat())
}

/// UME (the paper's definition: the unimodal models' logits averaged at test) end to end: its
/// test accuracy is that of the mean of its members' logits, computed here from the members'
/// saved runs; each modality's own accuracy is its member's; `balmix eval` loads the members the
/// run recorded and agrees; a member trained again since makes `balmix eval` refuse and `balmix
/// run` train the ensemble again. Stopped after an epoch and resumed, and on two threads, its
/// metrics are the same.
#[test]
fn ume_averages_its_members_logits_and_eval_reloads_them_as_recorded() {
    use balmix::method::ume::{mean_logits, member_logits};
    use balmix::mixup::contribution::argmax;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let ume = tiny_ume(&["train.epochs=1"]);
    let missing = run_in(&ume, out, false).unwrap_err();
    assert!(missing.contains("train it first"), "{missing}");
    for m in ["audio", "visual"] {
        run_in(&tiny_teacher(m, &["train.epochs=2"]), out, false).unwrap();
    }
    run_in(&ume, out, false).unwrap();
    let dir = out.join("tiny/seed-0");
    let summary = crate::common::summary(&dir);
    // The ensemble from the members' saved runs, by hand.
    let members: Vec<_> = ["audio", "visual"]
        .iter()
        .map(|m| {
            let d = out.join(format!("unimodal-{m}/seed-0"));
            balmix::train::saved::load(&d, &[], &balmix::data::Cache::new(None), &|_| {}).unwrap()
        })
        .collect();
    let test = &members[0].splits.test;
    let k = members[0].model.classes;
    let logits: Vec<Vec<f32>> = members
        .iter()
        .map(|run| {
            let w = run.data.modalities[0].width;
            let rows = run.data.modalities[0]
                .rows(test, balmix::media::source::View::Eval)
                .unwrap();
            let x = run.model.store.dev.tensor_from_vec(rows, (test.len(), w));
            member_logits(&run.model, run.model.encode(0, x))
        })
        .collect();
    let mean = mean_logits(&logits);
    let labels: Vec<usize> = test.iter().map(|&i| members[0].data.labels[i]).collect();
    let hits = (0..test.len())
        .filter(|&i| argmax(&mean[i * k..(i + 1) * k]) == labels[i])
        .count();
    assert_eq!(
        summary["test_accuracy"].as_f64().unwrap(),
        hits as f64 / test.len() as f64
    );
    for m in ["audio", "visual"] {
        let own = crate::common::summary(&out.join(format!("unimodal-{m}/seed-0")));
        assert_eq!(
            summary["modality_accuracy"][m], own["test_accuracy"],
            "{m}: the member's own accuracy"
        );
    }
    let dir_s = dir.to_str().unwrap();
    let ok = crate::common::balmix(&["eval", dir_s], out);
    assert!(ok.status.success(), "{:?}", crate::common::text(&ok));
    // Resumed after its first of two epochs, and on two threads: the same metrics.
    let two_epochs = tiny_ume(&["train.epochs=2", "name=\"whole\""]);
    run_in(&two_epochs, out, false).unwrap();
    let cut = tiny_ume(&["train.epochs=2", "name=\"cut\""]);
    let stop = balmix::train::run::RunOptions {
        out: out.to_path_buf(),
        stop_after_epochs: Some(1),
        ..Default::default()
    };
    balmix::train::run::run_seed(&cut, 0, &stop).unwrap();
    run_in(&cut, out, true).unwrap();
    let threads = tiny_ume(&["train.epochs=2", "name=\"two\"", "train.threads=2"]);
    run_in(&threads, out, false).unwrap();
    let whole = crate::common::metrics_without_timing(&out.join("whole/seed-0"));
    for other in ["cut", "two"] {
        assert_eq!(
            crate::common::metrics_without_timing(&out.join(format!("{other}/seed-0"))),
            whole,
            "{other}"
        );
    }
    // A member trained again under another recipe: the scored ensemble is gone.
    let opts = balmix::train::run::RunOptions {
        out: out.to_path_buf(),
        force: true,
        ..Default::default()
    };
    balmix::train::run::run_seed(&tiny_teacher("audio", &["train.epochs=3"]), 0, &opts).unwrap();
    let refused = crate::common::balmix(&["eval", dir_s], out);
    let (_, err) = crate::common::text(&refused);
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains("unimodal-audio/seed-0") && err.contains("another recipe"),
        "{err}"
    );
    match run_in(&ume, out, false).unwrap() {
        balmix::train::run::Outcome::Trained(_) | balmix::train::run::Outcome::Retrained { .. } => {
        }
        other => panic!("a stale ensemble is run again, got {other:?}"),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// UME's mean (spec: averaged unimodal logits): each entry lies between the members' least
    /// and greatest, members that agree give their own logits back bit for bit, and two
    /// members' order does not matter.
    #[test]
    fn ume_mean_lies_between_its_members_and_keeps_agreement(
        a in proptest::collection::vec(-50.0f32..50.0, 12),
        b in proptest::collection::vec(-50.0f32..50.0, 12),
        c in proptest::collection::vec(-50.0f32..50.0, 12),
    ) {
        use balmix::method::ume::mean_logits;
        let mean = mean_logits(&[a.clone(), b.clone(), c.clone()]);
        for i in 0..12 {
            let lo = a[i].min(b[i]).min(c[i]);
            let hi = a[i].max(b[i]).max(c[i]);
            proptest::prop_assert!(mean[i] >= lo - 1e-4 && mean[i] <= hi + 1e-4);
        }
        proptest::prop_assert_eq!(mean_logits(&[a.clone(), a.clone()]), a.clone());
        proptest::prop_assert_eq!(mean_logits(&[a.clone(), b.clone()]), mean_logits(&[b, a]));
    }
}

/// UMT and UME inside a k-fold recipe read the frozen runs of their own fold: fold k of the
/// student or ensemble reads `unimodal-<modality>/fold-k/seed-0` beside it (recorded in its
/// summary), and a fold whose unimodal runs are missing stops with "train it first" even when
/// another fold's exist.
#[test]
fn umt_and_ume_in_a_k_fold_recipe_read_their_own_folds_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    // tiny.toml's base sets a test fraction, which a k-fold split replaces.
    let load = |fold: usize, own: &[&str]| -> balmix::recipe::Recipe {
        let mut sets: Vec<String> = own.iter().map(|s| s.to_string()).collect();
        sets.push("dataset.split.folds=2".into());
        sets.push(format!("dataset.split.fold={fold}"));
        sets.push("train.epochs=1".into());
        let unset = ["dataset.split.test".to_string()];
        balmix::recipe::Recipe::load_with_unset(&crate::common::fixture("tiny.toml"), &sets, &unset)
            .unwrap()
    };
    let teacher = |fold: usize, m: &str| {
        load(
            fold,
            &[
                &format!("dataset.modalities=[\"{m}\"]"),
                &format!("name=\"unimodal-{m}\""),
            ],
        )
    };
    let ensemble = |fold: usize, kind: &str| {
        let key = if kind == "ume" { "members" } else { "teachers" };
        load(
            fold,
            &[
                &format!("method.kind=\"{kind}\""),
                &format!("method.{key}=[\"unimodal-audio\", \"unimodal-visual\"]"),
                &format!("name=\"{kind}\""),
            ],
        )
    };
    for m in ["audio", "visual"] {
        run_in(&teacher(0, m), out, false).unwrap();
    }
    let missing = run_in(&ensemble(1, "ume"), out, false).unwrap_err();
    assert!(
        missing.contains("unimodal-audio/fold-1/seed-0") && missing.contains("train it first"),
        "{missing}"
    );
    for m in ["audio", "visual"] {
        run_in(&teacher(1, m), out, false).unwrap();
    }
    for fold in 0..2 {
        for kind in ["ume", "umt"] {
            run_in(&ensemble(fold, kind), out, false).unwrap();
            let dirs = crate::common::frozen_dirs(&out.join(format!("{kind}/fold-{fold}/seed-0")));
            assert_eq!(dirs.len(), 2, "{kind}");
            for (d, m) in dirs.iter().zip(["audio", "visual"]) {
                assert!(
                    d.ends_with(&format!("unimodal-{m}/fold-{fold}/seed-0")),
                    "{kind} fold {fold}: {d}"
                );
            }
        }
    }
}
