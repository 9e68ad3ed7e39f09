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
        let (data, splits) = balmix::data::load(&r, &Cache::new(None), &|_| {}).unwrap();
        let model: Model<Dev> = Model::build(&r, &[128, 32], 6, 0, Dev::default());
        let method = balmix::method::build::<Dev>(&r, 10);
        let stats = TrainStats::of(&data, &splits.train);
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
        });
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
    let (data, splits) = balmix::data::load(&r, &cache, &|_| {}).unwrap();
    let model: Model<Dev> = Model::build(&r, &[128, 32], 6, 3, Dev::default());
    let idx = &splits.test[..20];
    let n = idx.len();
    let host = balmix::train::batch::gather_host(&data, idx);
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
