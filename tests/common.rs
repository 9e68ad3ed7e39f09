//! Helpers shared by the integration tests.

use balmix::recipe::Recipe;
use balmix::train::run::{run_seed, Outcome, RunOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of a fixture recipe.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recipes")
        .join(name)
}

/// Load a fixture recipe with overrides.
pub fn recipe(name: &str, sets: &[&str]) -> Recipe {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Recipe::load(&fixture(name), &sets).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Train `recipe` for `seed` into `out` (quietly) and return the run directory.
pub fn train(recipe: &Recipe, seed: u64, out: &Path) -> PathBuf {
    let opts = RunOptions {
        out: out.to_path_buf(),
        ..RunOptions::default()
    };
    match run_seed(recipe, seed, &opts).expect("run succeeds") {
        Outcome::Trained(_) => {}
        other => panic!("expected a fresh training run, got {other:?}"),
    }
    out.join(recipe.name()).join(format!("seed-{seed}"))
}

/// `metrics.csv` without the wall-clock and memory columns (`seconds`, `steps_per_second`,
/// `memory_mib`), which are
/// the only columns allowed to differ between identical runs.
pub fn metrics_without_timing(dir: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(dir.join("metrics.csv")).expect("metrics.csv");
    let header = r.headers().expect("header").clone();
    let keep: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !["seconds", "steps_per_second", "memory_mib"].contains(h))
        .map(|(i, _)| i)
        .collect();
    let mut rows = vec![keep.iter().map(|&i| header[i].to_string()).collect()];
    for rec in r.records() {
        let rec = rec.expect("row");
        rows.push(keep.iter().map(|&i| rec[i].to_string()).collect());
    }
    rows
}

/// Bytes of `model.safetensors`.
pub fn model_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("model.safetensors")).expect("model.safetensors")
}

/// Settings that store snapshots in the top-level `snapshots/` folder.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

/// Run the `balmix` binary in `cwd` with a clean `BALMIX_*` environment.
pub fn balmix(args: &[&str], cwd: &Path) -> Output {
    balmix_env(args, cwd, &[])
}

/// Run the binary with `env` set on top of a clean `BALMIX_*` environment.
pub fn balmix_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_balmix"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("BALMIX_THREADS")
        .env_remove("BALMIX_DEVICE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("balmix runs")
}

/// Stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Stop `r` after every epoch k (each in its own folder), check `at_cut(dir, k)` on the stopped
/// run, resume it, and compare the final model bytes with an uninterrupted run.
pub fn assert_resume_after_every_epoch_is_bit_identical(
    r: &balmix::recipe::Recipe,
    at_cut: impl Fn(&std::path::Path, usize),
) {
    let tmp = tempfile::tempdir().unwrap();
    let whole = train(r, 0, &tmp.path().join("whole"));
    for cut in 1..r.train().epochs {
        let out = tmp.path().join(format!("cut-{cut}"));
        let stop = balmix::train::run::RunOptions {
            out: out.clone(),
            stop_after_epochs: Some(cut),
            ..Default::default()
        };
        balmix::train::run::run_seed(r, 0, &stop).unwrap();
        let dir = out.join(r.name()).join("seed-0");
        at_cut(&dir, cut);
        let resume = balmix::train::run::RunOptions {
            out: out.clone(),
            resume: true,
            ..Default::default()
        };
        balmix::train::run::run_seed(r, 0, &resume).unwrap();
        assert_eq!(
            crate::common::model_bytes(&whole),
            crate::common::model_bytes(&dir),
            "cut after epoch {cut}"
        );
    }
}

/// Whether ffmpeg and ffprobe run; if not, say the test is skipped (or fail under
/// BALMIX_FFMPEG_REQUIRED=1, which `.ci/run` sets once it has installed ffmpeg).
pub fn ffmpeg_or_skip(test: &str) -> bool {
    let runs = |tool: &str| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs("ffmpeg") && runs("ffprobe") {
        return true;
    }
    if std::env::var("BALMIX_FFMPEG_REQUIRED").as_deref() == Ok("1") {
        panic!("{test}: ffmpeg or ffprobe is not on PATH, and BALMIX_FFMPEG_REQUIRED=1");
    }
    eprintln!(
        "SKIPPED {test}: ffmpeg or ffprobe is not on PATH (set BALMIX_FFMPEG_REQUIRED=1 to fail instead)"
    );
    false
}

/// A finished run's `summary.json`.
pub fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The directories of the frozen runs (teachers, members) a finished run's summary records, in
/// the method's order.
pub fn frozen_dirs(dir: &Path) -> Vec<String> {
    summary(dir)["frozen"]
        .as_array()
        .expect("the frozen runs are recorded")
        .iter()
        .map(|f| f["dir"].as_str().unwrap().to_string())
        .collect()
}
