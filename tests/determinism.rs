//! Determinism contract (DESIGN §6): same seed ⇒ identical bytes; thread count never matters;
//! interrupted-and-resumed ⇒ identical to uninterrupted.

use crate::common::{metrics_without_timing, model_bytes, recipe, train};
use balmix::train::run::{run_seed, Outcome, RunOptions};

#[test]
fn same_seed_twice_gives_identical_weights_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe("tiny-bmm.toml", &[]);
    let a = train(&r, 5, &tmp.path().join("a"));
    let b = train(&r, 5, &tmp.path().join("b"));
    assert_eq!(model_bytes(&a), model_bytes(&b));
    assert_eq!(metrics_without_timing(&a), metrics_without_timing(&b));
}

#[test]
fn different_seeds_give_different_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe("tiny.toml", &[]);
    let a = train(&r, 1, tmp.path());
    let b = train(&r, 2, tmp.path());
    assert_ne!(model_bytes(&a), model_bytes(&b));
}

#[test]
fn one_and_two_threads_give_identical_weights_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    // Wider layers so the matrix kernels actually split work across threads.
    let sets = [
        "model.encoders.audio.hidden=[256]",
        "model.encoders.visual.hidden=[256]",
        "train.epochs=2",
    ];
    let one = recipe("tiny-bmm.toml", &[&sets[..], &["train.threads=1"]].concat());
    let two = recipe("tiny-bmm.toml", &[&sets[..], &["train.threads=2"]].concat());
    let a = train(&one, 3, &tmp.path().join("one"));
    let b = train(&two, 3, &tmp.path().join("two"));
    assert_eq!(model_bytes(&a), model_bytes(&b));
    assert_eq!(metrics_without_timing(&a), metrics_without_timing(&b));
}

/// Stop after k epochs (the process keeps only what the checkpoint holds), resume, compare
/// with an uninterrupted run — for every cut point, with B-MM (EMA state, best-val copy) and
/// with OGM-GE + FiLM (noise stream, probes).
#[test]
fn resume_after_any_epoch_is_bit_identical_to_an_uninterrupted_run() {
    for name in ["tiny-bmm.toml", "tiny-ogm-film.toml"] {
        let tmp = tempfile::tempdir().unwrap();
        let r = recipe(name, &[]);
        let full = train(&r, 9, &tmp.path().join("full"));
        for cut in 1..r.train().epochs {
            let out = tmp.path().join(format!("cut-{cut}"));
            let stop = RunOptions {
                out: out.clone(),
                stop_after_epochs: Some(cut),
                ..RunOptions::default()
            };
            assert_eq!(
                run_seed(&r, 9, &stop).unwrap(),
                Outcome::Stopped { epochs_done: cut }
            );
            // A later invocation without --resume refuses to touch the interrupted run.
            let plain = RunOptions {
                out: out.clone(),
                ..RunOptions::default()
            };
            let err = run_seed(&r, 9, &plain).unwrap_err().to_string();
            assert!(err.contains("--resume"), "{err}");
            let resume = RunOptions {
                out: out.clone(),
                resume: true,
                ..RunOptions::default()
            };
            assert!(matches!(
                run_seed(&r, 9, &resume).unwrap(),
                Outcome::Trained(_)
            ));
            let dir = out.join(r.name()).join("seed-9");
            assert_eq!(
                model_bytes(&dir),
                model_bytes(&full),
                "{name}: cut after epoch {cut}"
            );
            assert_eq!(
                metrics_without_timing(&dir),
                metrics_without_timing(&full),
                "{name}: cut {cut}"
            );
        }
    }
}
