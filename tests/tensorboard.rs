//! TensorBoard event files, read back by TensorBoard's own reader (Python `tensorboard`,
//! tests/tensorboard_read.py): every run directory's `tensorboard/` holds one scalar series per
//! metric whose values are `metrics.csv`'s (as f32), one point per epoch; a stopped and resumed
//! run's series equal an uninterrupted run's. The reader's Python comes from
//! `BALMIX_TENSORBOARD_PYTHON` (.ci/run makes a venv with tests/tensorboard-requirements.txt)
//! or `python3`; without it the test says SKIPPED, and fails with
//! `BALMIX_TENSORBOARD_REQUIRED=1` (CI).

use crate::common::{recipe, root, train};
use balmix::train::run::{run_seed, RunOptions};
use std::collections::BTreeMap;
use std::path::Path;

fn python() -> Option<String> {
    let candidates: Vec<String> = std::env::var("BALMIX_TENSORBOARD_PYTHON")
        .into_iter()
        .chain(["python3".to_string()])
        .collect();
    for p in candidates {
        let ok = std::process::Command::new(&p)
            .args(["-c", "import tensorboard"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(p);
        }
    }
    assert!(
        std::env::var("BALMIX_TENSORBOARD_REQUIRED").as_deref() != Ok("1"),
        "BALMIX_TENSORBOARD_REQUIRED=1 but no Python with `tensorboard` (BALMIX_TENSORBOARD_PYTHON)"
    );
    None
}

type Series = BTreeMap<String, Vec<(u64, f64)>>;

fn read(python: &str, run: &Path) -> Series {
    let o = std::process::Command::new(python)
        .arg(root().join("tests/tensorboard_read.py"))
        .arg(run.join(balmix::record::tensorboard::FOLDER))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: BTreeMap<String, Vec<(u64, f64)>> = serde_json::from_slice(&o.stdout).unwrap();
    v
}

#[test]
fn tensorboard_reads_every_metric_of_every_epoch() {
    let Some(py) = python() else {
        eprintln!(
            "SKIPPED: no Python with the `tensorboard` package (set BALMIX_TENSORBOARD_PYTHON)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe("tiny-bmm.toml", &[]);
    let run = train(&r, 0, &tmp.path().join("full"));
    let series = read(&py, &run);
    let csv_text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(csv_text.as_bytes());
    let header = rows.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    let column = |name: &str| -> Vec<f64> {
        let i = header.iter().position(|h| h == name).unwrap();
        rows.iter().map(|r| r[i].parse().unwrap()).collect()
    };
    let pairs = [
        ("loss/train", "train_loss"),
        ("accuracy/test", "test_accuracy"),
        ("accuracy/val", "val_accuracy"),
        ("macro_f1/test", "test_macro_f1"),
        ("lr", "lr"),
        ("lambda/label", "lambda_label"),
        ("accuracy_own/audio", "accuracy_audio"),
        ("contribution/visual", "contribution_visual"),
        ("contribution_ema/audio", "contribution_ema_audio"),
        ("lambda/visual", "lambda_visual"),
        ("grad_k/audio", "grad_k_audio"),
    ];
    for (tag, col) in pairs {
        let got = series
            .get(tag)
            .unwrap_or_else(|| panic!("no series {tag}: {:?}", series.keys()));
        let want = column(col);
        assert_eq!(got.len(), want.len(), "{tag}");
        for (i, ((step, v), w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(*step, i as u64 + 1, "{tag}");
            assert_eq!(*v, *w as f32 as f64, "{tag} epoch {}", i + 1);
        }
    }
    // Stopped after 2 epochs and resumed: the same series.
    let out = tmp.path().join("cut");
    let stop = RunOptions {
        out: out.clone(),
        stop_after_epochs: Some(2),
        ..RunOptions::default()
    };
    run_seed(&r, 0, &stop).unwrap();
    let resume = RunOptions {
        out: out.clone(),
        resume: true,
        ..RunOptions::default()
    };
    run_seed(&r, 0, &resume).unwrap();
    assert_eq!(read(&py, &out.join(r.name()).join("seed-0")), series);
}
