//! The paper's datasets end to end through the media readers: a fake CREMA-D and a fake
//! Kinetics-Sounds in the distribution layout go through `balmix data prepare` (the prepared
//! layout is written directly when ffmpeg is absent — the test says which path ran) and the
//! shipped `recipes/paper/` recipe trains one epoch on them through narrow ResNet-18s. The loader's
//! results are the same for one and two worker threads, bit for bit.

use crate::common::{balmix_env, metrics_without_timing, model_bytes, root};
use std::path::Path;

/// Whether ffmpeg is on PATH; with `BALMIX_FFMPEG_REQUIRED=1` (CI) its absence is a failure.
fn ffmpeg_present() -> bool {
    let present = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var("BALMIX_FFMPEG_REQUIRED").as_deref() != Ok("1"),
            "BALMIX_FFMPEG_REQUIRED=1 but ffmpeg is not on PATH"
        );
    }
    present
}

fn ok(o: &std::process::Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{what} failed:\n{text}");
    text
}

/// A fake dataset of `name` prepared into `tmp/prepared`: through ffmpeg when it is present,
/// else written in the prepared layout directly.
fn fake_prepared(name: &str, clips: &str, tmp: &Path) -> std::path::PathBuf {
    let raw = tmp.join("raw");
    let prepared = tmp.join("prepared");
    let (raw_s, prep_s) = (raw.to_str().unwrap(), prepared.to_str().unwrap());
    if ffmpeg_present() {
        eprintln!("{name}: fake videos -> balmix data prepare (ffmpeg path)");
        let o = balmix_env(
            &["data", "fake", name, "--out", raw_s, "--clips", clips],
            root(),
            &[],
        );
        ok(&o, "data fake");
        let o = balmix_env(
            &[
                "data", "prepare", name, "--from", raw_s, "--to", prep_s, "--jobs", "2",
            ],
            root(),
            &[],
        );
        ok(&o, "data prepare");
    } else {
        eprintln!("{name}: ffmpeg absent -> fake dataset written in the prepared layout");
        let o = balmix_env(
            &[
                "data",
                "fake",
                name,
                "--out",
                prep_s,
                "--clips",
                clips,
                "--no-video",
            ],
            root(),
            &[],
        );
        ok(&o, "data fake --no-video");
    }
    prepared
}

/// `balmix run RECIPE` for one epoch through narrow ResNet-18s (the paper's width is 64) on
/// 64-pixel frames, into `out`. Without a validation part: the recipes' `val = 0.1` of a few
/// fake clips per class rounds to none, which is an error (the README's fake CREMA-D example
/// makes 42 clips to have one per class).
fn one_narrow_epoch<'a>(recipe: &'a str, out: &'a Path) -> Vec<&'a str> {
    vec![
        "run",
        recipe,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--set",
        "dataset.split.val=0",
        "--set",
        "train.epochs=1",
        "--set",
        "train.batch_size=8",
        "--set",
        "dataset.media.frame_size=64",
        "--set",
        "model.encoders.audio.width=4",
        "--set",
        "model.encoders.visual.width=4",
    ]
}

fn train_one_epoch(
    recipe: &str,
    env_var: &str,
    prepared: &Path,
    out: &Path,
    workers: &str,
) -> std::path::PathBuf {
    let o = balmix_env(
        &one_narrow_epoch(recipe, out),
        root(),
        &[
            (env_var, prepared.to_str().unwrap()),
            ("BALMIX_LOADER_WORKERS", workers),
        ],
    );
    let text = ok(&o, recipe);
    assert!(
        text.contains("FAKE"),
        "the run says the data is fake:\n{text}"
    );
    let name = recipe
        .trim_start_matches("recipes/")
        .trim_end_matches(".toml");
    out.join(name).join("seed-0")
}

#[test]
fn fake_crema_d_prepares_and_trains_one_epoch_identically_with_one_or_two_loader_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let prepared = fake_prepared("crema-d", "24", tmp.path());
    let one = train_one_epoch(
        "recipes/paper/crema-d/concat.toml",
        "BALMIX_CREMA_D",
        &prepared,
        &tmp.path().join("w1"),
        "1",
    );
    let two = train_one_epoch(
        "recipes/paper/crema-d/concat.toml",
        "BALMIX_CREMA_D",
        &prepared,
        &tmp.path().join("w2"),
        "2",
    );
    let m = metrics_without_timing(&one);
    assert_eq!(m.len(), 2, "one epoch row: {m:?}");
    assert_eq!(m, metrics_without_timing(&two));
    assert_eq!(model_bytes(&one), model_bytes(&two));
}

#[test]
fn fake_kinetics_sounds_prepares_and_trains_one_epoch_through_fbank_and_three_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let prepared = fake_prepared("kinetics-sounds", "16", tmp.path());
    let run = train_one_epoch(
        "recipes/paper/kinetics-sounds/concat.toml",
        "BALMIX_KINETICS_SOUNDS",
        &prepared,
        &tmp.path().join("out"),
        "2",
    );
    assert_eq!(metrics_without_timing(&run).len(), 2);
}

#[test]
fn a_prepared_folder_missing_a_clip_fails_closed_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let prepared = fake_prepared("crema-d", "24", tmp.path());
    let list = std::fs::read_to_string(prepared.join("train.csv")).unwrap();
    let clip = list.lines().next().unwrap().split(',').next().unwrap();
    std::fs::remove_file(prepared.join("AudioWAV").join(format!("{clip}.wav"))).unwrap();
    let o = balmix_env(
        &["data", "verify", "crema-d"],
        root(),
        &[("BALMIX_CREMA_D", prepared.to_str().unwrap())],
    );
    assert!(!o.status.success());
    let o = balmix_env(
        &[
            "run",
            "recipes/paper/crema-d/concat.toml",
            "--out",
            tmp.path().join("out").to_str().unwrap(),
            "--quiet",
            "--set",
            "train.epochs=1",
        ],
        root(),
        &[("BALMIX_CREMA_D", prepared.to_str().unwrap())],
    );
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success());
    assert!(text.contains(clip), "names the missing clip:\n{text}");
}

/// A clip present at load but not decodable mid-run (a frame overwritten after preparation)
/// ends the run with an error that names the file and how to continue — exit status 1, no
/// panic — and the process is not aborted.
#[test]
fn a_clip_that_cannot_be_decoded_mid_run_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let prepared = fake_prepared("crema-d", "24", tmp.path());
    let list = std::fs::read_to_string(prepared.join("train.csv")).unwrap();
    let clip = list.lines().next().unwrap().split(',').next().unwrap();
    let frames = prepared.join("Image-01-FPS").join(clip);
    for f in std::fs::read_dir(&frames).unwrap() {
        std::fs::write(f.unwrap().path(), b"not a jpeg").unwrap();
    }
    let out = tmp.path().join("out");
    let o = balmix_env(
        &one_narrow_epoch("recipes/paper/crema-d/concat.toml", &out),
        root(),
        &[("BALMIX_CREMA_D", prepared.to_str().unwrap())],
    );
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("reading modality `visual`: sample ")
            && text.contains(clip)
            && text.contains("--resume")
            && !text.contains("panicked"),
        "{text}"
    );
}
