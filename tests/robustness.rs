//! Robustness: test-time corruptions (severity 0 is the clean evaluation, the draws do not
//! depend on the model, method or thread count, `balmix eval` reproduces a run's own scores),
//! the decomposition algebra with a modality missing, and training with modality dropout.

use crate::common::{recipe, train};
use balmix::data::corrupt::{Corruption, TrainStats};
use balmix::data::Cache;
use balmix::model::Model;
use balmix::recipe::file::CorruptionKind;
use balmix::train::eval::evaluate_inputs;
use std::sync::Mutex;

type Dev = dfdx::tensor::Cpu;

const ROBUST: &str = "train.eval.robustness.corruptions=[\"missing-zero\", \"gaussian\"]";

/// Severity 0 of every kind is the clean evaluation: the rows of severity 0 in the summary
/// equal its test scores exactly, for the fused and each modality's own accuracy.
#[test]
fn severity_zero_reproduces_the_clean_scores_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = train(&recipe("tiny.toml", &[ROBUST]), 0, tmp.path());
    let s = balmix::record::read_summary(&dir).unwrap();
    let zeros: Vec<_> = s.robustness.iter().filter(|r| r.severity == 0.0).collect();
    assert_eq!(zeros.len(), 4, "2 kinds × 2 modalities");
    for r in zeros {
        assert_eq!(r.accuracy, s.test_accuracy, "{r:?}");
        assert_eq!(r.macro_f1, s.test_macro_f1, "{r:?}");
        assert_eq!(r.modality_accuracy, s.modality_accuracy, "{r:?}");
    }
    let csv = std::fs::read_to_string(dir.join("robustness.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + s.robustness.len());
    // A severity that removes the modality entirely changes the scores.
    let gone = s
        .robustness
        .iter()
        .find(|r| r.corruption == "missing-zero" && r.modality == "visual" && r.severity == 1.0)
        .unwrap();
    assert!(gone.accuracy < s.test_accuracy, "{gone:?}");
}

/// The corrupted inputs a model sees are the same for two different methods and models (MM
/// and G-Blending's decomposed concat here) and for any order of the test samples: they
/// depend on the sample and the corruption seed only.
#[test]
fn corrupted_inputs_do_not_depend_on_the_model_method_or_order() {
    let seen = |sets: &[&str], reverse: bool| -> Vec<(usize, Vec<f32>)> {
        let r = recipe("tiny.toml", sets);
        let (data, splits) =
            balmix::data::load(&r.data_settings(), &Cache::new(None), &|_| {}).unwrap();
        let model: Model<Dev> = Model::build(&r.model_settings(), &[128, 32], 6, 0, Dev::default());
        let method = balmix::method::build::<Dev>(&balmix::method::config::MethodSettings {
            steps_per_epoch: 10,
            ..r.method_settings(0)
        });
        let stats = TrainStats::of(&data, &splits.train).unwrap();
        let c = Corruption {
            kind: CorruptionKind::Gaussian,
            modality: 1,
            severity: 2.0,
        };
        let mut test = splits.test.clone();
        if reverse {
            test.reverse();
        }
        let rows = Mutex::new(Vec::new());
        evaluate_inputs(&model, &*method, &data, &test, &|host, samples| {
            c.apply(&mut host[1], samples, None, &stats, 0);
            let w = host[1].len() / samples.len();
            let mut out = rows.lock().unwrap();
            for (k, &i) in samples.iter().enumerate() {
                out.push((i, host[1][k * w..(k + 1) * w].to_vec()));
            }
        })
        .unwrap();
        let mut out = rows.into_inner().unwrap();
        out.sort_by_key(|(i, _)| *i);
        out
    };
    let mm = seen(&["mixup.method=mm"], false);
    assert_eq!(mm, seen(&["method.kind=gblending"], true));
    assert_eq!(mm, seen(&["model.fusion.kind=sum"], false));
}

/// With the decomposed head, removing every modality but m (zero input) leaves fused logits
/// u_m(x_m) + u_o(E_o(0)): the difference to m's own logits is one constant vector for every
/// sample — the algebra of f = Σ_m u_m with z_o the encoding of a zero input.
#[test]
fn with_one_modality_missing_the_fused_logits_are_the_other_modality_plus_a_constant() {
    use balmix::model::params::Matrix;
    use dfdx::prelude::*;
    let r = recipe("tiny.toml", &[]);
    let cache = balmix::data::Cache::new(None);
    let (data, splits) = balmix::data::load(&r.data_settings(), &cache, &|_| {}).unwrap();
    let model: Model<Dev> = Model::build(&r.model_settings(), &[128, 32], 6, 3, Dev::default());
    let idx = &splits.test[..20];
    let n = idx.len();
    let host = balmix::train::batch::gather_host(&data, idx).unwrap();
    let dev = model.store.dev.clone();
    let zs: Vec<Matrix<Dev>> = host
        .iter()
        .enumerate()
        .map(|(m, rows)| {
            let rows = if m == 0 {
                vec![0.0; rows.len()]
            } else {
                rows.clone()
            };
            let x: Matrix<Dev> = dev.tensor_from_vec(rows, (n, data.modalities[m].width));
            model.encode(m, x)
        })
        .collect();
    let zs_host: Vec<Vec<f32>> = zs.iter().map(|z| z.as_vec()).collect();
    let u = model.decompose(&zs_host, n);
    let fused = model.head(model.fuse(zs)).as_vec();
    let k = 6;
    let constant: Vec<f32> = (0..k).map(|c| fused[c] - u[1][c]).collect();
    for i in 0..n {
        for c in 0..k {
            let d = fused[i * k + c] - u[1][i * k + c];
            assert!((d - constant[c]).abs() < 1e-5, "sample {i}, class {c}");
            // The constant is audio's decomposed logit of a zero input.
            assert!((d - u[0][i * k + c]).abs() < 1e-5);
        }
    }
}

/// `balmix eval` on a finished run rebuilds the model from model.safetensors and the split from
/// the recipe: its clean accuracy is the summary's and, with the run's own corruptions, its
/// scores file equals the one written at the end of training, byte for byte.
#[test]
fn eval_of_a_finished_run_reproduces_its_own_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = train(&recipe("tiny.toml", &[ROBUST]), 0, tmp.path());
    let out = crate::common::balmix(&["eval", dir.to_str().unwrap()], tmp.path());
    let (stdout, stderr) = crate::common::text(&out);
    assert!(out.status.success(), "{stderr}");
    let s = balmix::record::read_summary(&dir).unwrap();
    assert!(
        stdout.contains(&format!("clean test accuracy {:.4}", s.test_accuracy)),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(dir.join("eval-robustness.csv")).unwrap(),
        std::fs::read(dir.join("robustness.csv")).unwrap()
    );
    // Not a finished run: a clear error, exit status 1.
    let bad = crate::common::balmix(&["eval", tmp.path().to_str().unwrap()], tmp.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(crate::common::text(&bad).1.contains("not a finished run"));
}

/// The scores under corruption do not depend on the number of threads.
#[test]
fn robustness_scores_do_not_depend_on_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let one = train(
        &recipe("tiny.toml", &[ROBUST, "name=\"one\""]).with_threads(1),
        0,
        tmp.path(),
    );
    let two = train(
        &recipe("tiny.toml", &[ROBUST, "name=\"two\""]).with_threads(2),
        0,
        tmp.path(),
    );
    assert_eq!(
        std::fs::read(one.join("robustness.csv")).unwrap(),
        std::fs::read(two.join("robustness.csv")).unwrap()
    );
}

/// Modality dropout changes training, and two runs with it are bit-identical (its draws are a
/// function of the seed and the step).
#[test]
fn modality_dropout_changes_training_and_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = train(&recipe("tiny.toml", &[]), 0, &tmp.path().join("a"));
    let d1 = train(
        &recipe("tiny.toml", &["train.modality_dropout=0.3"]),
        0,
        &tmp.path().join("b"),
    );
    let d2 = train(
        &recipe("tiny.toml", &["train.modality_dropout=0.3"]),
        0,
        &tmp.path().join("c"),
    );
    let bytes = crate::common::model_bytes;
    assert_ne!(bytes(&plain), bytes(&d1));
    assert_eq!(bytes(&d1), bytes(&d2));
}

/// `balmix eval --corrupt`: the flags choose kinds, modalities and severities (one row per
/// severity into the chosen file); a bad severity is a recipe error (exit status 2) naming the
/// flag's key, and --modality without --corrupt is refused.
#[test]
fn eval_flags_choose_the_corruptions_and_bad_ones_are_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = train(&recipe("tiny.toml", &[]), 0, tmp.path());
    let run = dir.to_str().unwrap();
    let csv = tmp.path().join("scores.csv");
    let args = [
        "eval",
        run,
        "--corrupt",
        "gaussian",
        "--modality",
        "visual",
        "--severities",
        "gaussian=0,1",
        "--csv",
        csv.to_str().unwrap(),
    ];
    let out = crate::common::balmix(&args, tmp.path());
    assert!(out.status.success(), "{}", crate::common::text(&out).1);
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("gaussian,visual,0,") && rows[1].starts_with("gaussian,visual,1,"));
    assert!(
        !dir.join("robustness.csv").exists(),
        "training wrote none: no section"
    );
    let bad = crate::common::balmix(
        &[
            "eval",
            run,
            "--corrupt",
            "gaussian",
            "--severities",
            "gaussian=-1",
        ],
        tmp.path(),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(crate::common::text(&bad)
        .1
        .contains("severities.gaussian[0]"));
    let alone = crate::common::balmix(&["eval", run, "--modality", "audio"], tmp.path());
    assert_eq!(alone.status.code(), Some(2));
}

/// A step context over 32 training rows with modality dropout 0.5, at a step where both
/// modalities are dropped in some rows and kept in others, and the dropped-row mask.
struct DropoutBatch {
    recipe: balmix::recipe::Recipe,
    data: balmix::data::Dataset,
    idx: Vec<usize>,
    augment: balmix::data::augment::Augment,
    step: u64,
    dropped: Vec<Vec<bool>>,
}

fn dropout_batch(sets: &[&str]) -> DropoutBatch {
    let recipe = recipe("tiny.toml", sets);
    let (data, splits) =
        balmix::data::load(&recipe.data_settings(), &Cache::new(None), &|_| {}).unwrap();
    let idx: Vec<usize> = splits.train[..32].to_vec();
    let augment = balmix::data::augment::Augment {
        dropout: 0.5,
        noise: 0.0,
        std: vec![],
    };
    let step = (0..)
        .find(|&s| {
            let d = augment.dropped(32, 2, 0, s);
            (0..2).all(|m| d.iter().any(|r| r[m]) && d.iter().any(|r| !r[m]))
        })
        .unwrap();
    let dropped = augment.dropped(32, 2, 0, step);
    DropoutBatch {
        recipe,
        data,
        idx,
        augment,
        step,
        dropped,
    }
}

impl DropoutBatch {
    /// The step context of this batch (seed 0, epoch 0).
    fn context<'a>(
        &'a self,
        model: &'a mut Model<Dev>,
        opt: &'a mut balmix::optim::optimizer::Optimizer<Dev>,
    ) -> balmix::method::StepContext<'a, Dev> {
        balmix::method::StepContext {
            model,
            updater: opt,
            data: &self.data,
            idx: &self.idx,
            seed: 0,
            step: self.step,
            epoch: 0,
            lr: 0.1,
            augment: Some(&self.augment),
            grad_clip: self.recipe.train().grad_clip,
            zeroed: None,
        }
    }

    fn present(&self, m: usize) -> Vec<usize> {
        (0..self.idx.len())
            .filter(|&i| !self.dropped[i][m])
            .collect()
    }
}

/// softmax(u_i)_y in f64, computed here (not with the crate's softmax).
fn p_label(u: &[f32], k: usize, i: usize, y: usize) -> f64 {
    let row: Vec<f64> = u[i * k..(i + 1) * k].iter().map(|&v| v as f64).collect();
    let max = row.iter().cloned().fold(f64::MIN, f64::max);
    let z: f64 = row.iter().map(|v| (v - max).exp()).sum();
    (row[y] - max).exp() / z
}

/// Under modality dropout every unimodal quantity is taken over the rows where the modality is
/// present, each checked against a computation here: the present rows are the augmentation's
/// dropped mask (and those rows are zero in the batch); the cross-entropy with the unimodal
/// targets is the mean over the present rows; the confidence and accuracy contributions are
/// means over them; the OGM-GE/PMR score is their sum scaled by n/n_m.
#[test]
fn under_modality_dropout_unimodal_quantities_use_only_the_present_rows() {
    use balmix::recipe::file::Contribution;
    use dfdx::prelude::*;
    let b = dropout_batch(&[]);
    let mut model = Model::build(&b.recipe.model_settings(), &[128, 32], 6, 0, Dev::default());
    let mut opt = balmix::optim::optimizer::Optimizer::new(b.recipe.optimizer());
    let cx = b.context(&mut model, &mut opt);
    let (n, k) = (32usize, 6usize);
    let labels = cx.labels();
    let host = cx.host_batch().unwrap();
    let zs = cx.encode(host.clone());
    let unimodal = cx.model.unimodal(&zs);
    for m in 0..2 {
        let rows = b.present(m);
        assert_eq!(cx.present_rows(m), Some(rows.clone()), "modality {m}");
        let width = b.data.modalities[m].width;
        for i in 0..n {
            let zero = host[m][i * width..(i + 1) * width]
                .iter()
                .all(|&v| v == 0.0);
            assert_eq!(zero, b.dropped[i][m], "row {i} of modality {m}");
        }
        let u = &unimodal[m];
        let nm = rows.len() as f64;
        // Cross-entropy with the unimodal targets (dfdx) vs the mean over present rows.
        let taped: balmix::model::params::Matrix<Dev> =
            Dev::default().tensor_from_vec(u.clone(), (n, k));
        let ce = cross_entropy_with_logits_loss(taped, cx.unimodal_targets(m, &labels)).as_vec()[0]
            as f64;
        let want = rows
            .iter()
            .map(|&i| -p_label(u, k, i, labels[i]).ln())
            .sum::<f64>()
            / nm;
        assert!((ce - want).abs() < 1e-5 * (1.0 + want), "CE {ce} vs {want}");
        let conf = cx.contribution(m, Contribution::Confidence, u, &[], &labels);
        let want = rows
            .iter()
            .map(|&i| p_label(u, k, i, labels[i]))
            .sum::<f64>()
            / nm;
        assert!((conf - want).abs() < 1e-9, "confidence {conf} vs {want}");
        let acc = cx.contribution(m, Contribution::Accuracy, u, &[], &labels);
        let hits = rows
            .iter()
            .filter(|&&i| {
                let row = &u[i * k..(i + 1) * k];
                (0..k).all(|j| row[j] <= row[labels[i]])
            })
            .count() as f64;
        assert!(
            (acc - (hits / nm + 1.0 / k as f64)).abs() < 1e-12,
            "accuracy {acc}"
        );
        let score = cx.label_score(m, u, &labels);
        let want = rows
            .iter()
            .map(|&i| p_label(u, k, i, labels[i]))
            .sum::<f64>()
            * n as f64
            / nm;
        assert!((score - want).abs() < 1e-9, "score {score} vs {want}");
    }
}

/// The methods use those rows: B-MM's reported (and averaged) contributions, OGM-GE's
/// coefficients (from scores over the present rows), the multitask term's value and
/// G-Blending's and MMPareto's contributions, each recomputed here from the clean unimodal
/// logits before the step.
#[test]
fn methods_under_modality_dropout_measure_each_modality_on_its_present_rows() {
    use balmix::method::parts::LossTerm;
    use balmix::recipe::file::OgmVariant;
    let (n, k) = (32usize, 6usize);
    let cases: [(&str, &[&str]); 5] = [
        (
            "bmm",
            &["mixup.method=\"bmm\"", "mixup.alpha=0.4", "mixup.fold=true"],
        ),
        (
            "ogm-ge",
            &[
                "modulation.kind=\"ogm-ge\"",
                "modulation.alpha=0.8",
                "modulation.noise=false",
                "modulation.variant=\"continuous\"",
            ],
        ),
        ("multitask", &["losses.unimodal=0.7"]),
        // The split head, whose unimodal logits are the decomposed ones recomputed below.
        (
            "mmpareto",
            &[
                "method.kind=\"mmpareto\"",
                "method.unimodal_heads=\"split\"",
            ],
        ),
        ("gblending", &["method.kind=\"gblending\""]),
    ];
    for (name, sets) in cases {
        let b = dropout_batch(sets);
        let mut model = Model::build(&b.recipe.model_settings(), &[128, 32], 6, 0, Dev::default());
        let mut opt = balmix::optim::optimizer::Optimizer::new(b.recipe.optimizer());
        let mut method = balmix::method::build::<Dev>(&balmix::method::config::MethodSettings {
            steps_per_epoch: 10,
            ..b.recipe.method_settings(0)
        });
        let mut cx = b.context(&mut model, &mut opt);
        let labels = cx.labels();
        let zs = cx.encode(cx.host_batch().unwrap());
        let unimodal = cx.model.unimodal(&zs);
        let confidence: Vec<f64> = (0..2)
            .map(|m| {
                let rows = b.present(m);
                rows.iter()
                    .map(|&i| p_label(&unimodal[m], k, i, labels[i]))
                    .sum::<f64>()
                    / rows.len() as f64
            })
            .collect();
        if name == "multitask" {
            let mut term: Box<dyn LossTerm<Dev>> =
                balmix::method::multitask::from_settings(&b.recipe.method_settings(b.idx.len()))
                    .unwrap();
            let value = term.loss(&cx, &zs, &labels).unwrap().as_vec()[0] as f64;
            let want: f64 = (0..2)
                .map(|m| {
                    let rows = b.present(m);
                    rows.iter()
                        .map(|&i| -p_label(&unimodal[m], k, i, labels[i]).ln())
                        .sum::<f64>()
                        / rows.len() as f64
                })
                .sum::<f64>()
                * 0.7;
            assert!(
                (value - want).abs() < 1e-5 * (1.0 + want),
                "{value} vs {want}"
            );
            continue;
        }
        let stats = method.step(&mut cx).unwrap();
        if name == "ogm-ge" {
            let scores: Vec<f64> = confidence.iter().map(|c| c * n as f64).collect();
            let want = balmix::mixup::ogm::coefficients(&scores, 0.8, OgmVariant::Continuous);
            for (got, want) in stats.coefficients.iter().zip(&want) {
                assert!((got - want).abs() < 1e-9, "{name}: {got} vs {want}");
            }
            assert!(
                want.iter().any(|&c| c < 1.0),
                "{name}: some modality is modulated"
            );
        } else {
            for (got, want) in stats.contribution.iter().zip(&confidence) {
                assert!((got - want).abs() < 1e-9, "{name}: {got} vs {want}");
            }
        }
    }
}

/// The two ends of `present_rows`: a modality present in every row of the batch, and one
/// dropped from every row (possible with two samples: the other modality then stays in both),
/// both give `None` — every row is used, the former because nothing is missing, the latter
/// because nothing would be left to measure on.
#[test]
fn present_rows_is_none_when_a_modality_is_in_every_row_or_in_none() {
    let b = dropout_batch(&[]);
    let idx = b.idx[..2].to_vec();
    let step = (0..)
        .find(|&s| {
            let d = b.augment.dropped(2, 2, 0, s);
            d[0][0] && d[1][0]
        })
        .unwrap();
    let mut model = Model::build(&b.recipe.model_settings(), &[128, 32], 6, 0, Dev::default());
    let mut opt = balmix::optim::optimizer::Optimizer::new(b.recipe.optimizer());
    let cx = balmix::method::StepContext {
        idx: &idx,
        step,
        ..b.context(&mut model, &mut opt)
    };
    assert_eq!(
        cx.present_rows(0),
        None,
        "dropped from every row: use them all"
    );
    assert_eq!(cx.present_rows(1), None, "present in every row");
    assert_eq!(cx.row_weights(0), None);
    assert_eq!(cx.row_weights(1), None);
}
