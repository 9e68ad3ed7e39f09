//! Determinism contract (docs/methods.md §6): same seed ⇒ identical bytes; thread count never matters;
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

/// Layer shapes where the matrix kernels split across threads: gemm runs single-threaded
/// below m·n·k = 48·48·256 ≈ 590k per block, and with a batch of 64 every encoder product here
/// is ≥ 1M (64·512·32, 64·512·128, 64·128·512).
const SPLITTING_SHAPES: [&str; 4] = [
    "model.encoders.audio.hidden=[512]",
    "model.encoders.visual.hidden=[512]",
    "model.encoders.audio.out=128",
    "model.encoders.visual.out=128",
];

#[test]
fn one_and_two_threads_give_identical_weights_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = [&SPLITTING_SHAPES[..], &["train.epochs=2"]].concat();
    let one = recipe("tiny-bmm.toml", &[&sets[..], &["train.threads=1"]].concat());
    let two = recipe("tiny-bmm.toml", &[&sets[..], &["train.threads=2"]].concat());
    let a = train(&one, 3, &tmp.path().join("one"));
    let b = train(&two, 3, &tmp.path().join("two"));
    assert_eq!(model_bytes(&a), model_bytes(&b));
    assert_eq!(metrics_without_timing(&a), metrics_without_timing(&b));
}

/// CPU time (user + system, in clock ticks) the calling thread has used so far.
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // Fields after the command name (which may contain spaces): state is field 3, utime 14,
    // stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The premise of the test above, checked: in a pool of two threads (as `run_seed` builds for
/// `train.threads = 2`) the training really runs on both — each thread uses at least a fifth of
/// the pool's CPU time, where one thread doing all the work leaves the other ~0 — and the
/// weights are still bit-identical to one thread's. How much the idle thread steals depends on
/// the machine's load (other tests run alongside), so the two-thread run is repeated, for up to
/// two minutes, until the work has split; every repetition must match bit for bit.
#[test]
fn two_threads_both_do_training_work_and_give_bit_identical_weights() {
    use balmix::train::trainer::Trainer;
    // Ten epochs: enough CPU time (~40 ticks of 10 ms) to see how it divides.
    let r = recipe(
        "tiny-bmm.toml",
        &[&SPLITTING_SHAPES[..], &["train.epochs=10"]].concat(),
    );
    let (data, splits) =
        balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {})
            .expect("synthetic data");
    let train_in_pool = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let before = pool.broadcast(|_| thread_cpu_ticks());
        let weights = pool.install(|| {
            assert_eq!(rayon::current_num_threads(), threads);
            let mut trainer = Trainer::new(&r, 3, &data, &splits, dfdx::prelude::Cpu::default())
                .expect("the data reads");
            for _ in 0..r.train().epochs {
                trainer.run_epoch(&mut |_| {}).expect("an epoch");
            }
            trainer
                .model
                .store
                .params
                .iter()
                .map(|p| p.tensor.to_host())
                .collect::<Vec<_>>()
        });
        let after = pool.broadcast(|_| thread_cpu_ticks());
        let work: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        (weights, work)
    };
    let (one, _) = train_in_pool(1);
    // Under a loaded machine (the rest of the suite runs alongside on 2 cores) the idle
    // thread may not get to steal; keep trying for up to two minutes, until the other tests
    // are done. Every attempt must still be bit-identical.
    let mut attempts = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let (two, work) = train_in_pool(2);
        assert!(one == two, "weights differ between one and two threads");
        let total: u64 = work.iter().sum();
        let split = total >= 20 && work.iter().all(|&w| w * 5 >= total);
        attempts.push(work);
        if split {
            return;
        }
    }
    let last: Vec<_> = attempts.iter().rev().take(5).collect();
    // A machine whose cores stayed busy with other work the whole time (load average at or
    // above the core count) cannot show the split; say so instead of failing. Bit-identity was
    // still checked on every attempt above.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    if load >= cores {
        eprintln!(
            "SKIPPED the split assertion: load average {load:.1} on {cores} cores for two minutes, so the second thread could not be seen working (last five attempts {last:?}); weights were bit-identical in all {} attempts",
            attempts.len()
        );
        return;
    }
    panic!(
        "the work never split across both threads in {} attempts: CPU ticks per thread, last five {last:?}",
        attempts.len()
    );
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

/// Steps per epoch (`Recipe::steps_per_epoch`, which MLA's projection schedule and the
/// progress bar read) is the number of batches an epoch actually runs, a short last batch
/// included: counted here from the trainer's step counter after one epoch, with a training
/// set that the batch size does not divide.
#[test]
fn steps_per_epoch_counts_the_short_last_batch() {
    use balmix::train::trainer::Trainer;
    let r = recipe("tiny.toml", &["train.batch_size=13", "train.epochs=1"]);
    let (data, splits) =
        balmix::data::load(&r.data_settings(), &balmix::data::Cache::new(None), &|_| {})
            .expect("synthetic data");
    assert_ne!(
        splits.train.len() % 13,
        0,
        "the batch size must not divide the set"
    );
    let mut trainer =
        Trainer::new(&r, 0, &data, &splits, dfdx::prelude::Cpu::default()).expect("the data reads");
    trainer.run_epoch(&mut |_| {}).expect("an epoch");
    assert_eq!(trainer.step as usize, trainer.steps_per_epoch());
    assert_eq!(
        r.steps_per_epoch(splits.train.len()),
        trainer.steps_per_epoch()
    );
}
