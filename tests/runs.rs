//! Whole runs: what the recorded numbers mean, and a snapshot of a short B-MM run.

use crate::common::{metrics_without_timing, recipe, train};
use crate::snapshot;
use balmix::record::read_summary;

/// Per-epoch metrics of a 4-epoch B-MM run on the synthetic data (tests/fixtures/recipes/
/// tiny-bmm.toml, seed 0), rounded to 3 decimals: the tolerance this snapshot allows across
/// machines (CPU gemm blocking may change the last bits of f32 results). Produced by this
/// harness; there is no external reference for these numbers.
#[test]
fn short_bmm_run_metrics_match_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = train(&recipe("tiny-bmm.toml", &[]), 0, tmp.path());
    let rows = metrics_without_timing(&dir);
    let rounded: Vec<String> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| match cell.parse::<f64>() {
                    Ok(v) if cell.contains('.') || cell.contains('e') => format!("{v:.3}"),
                    _ => cell.clone(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    snapshot!("run__tiny_bmm_seed0_metrics", rounded.join("\n"));
}

#[test]
fn summary_reports_the_selected_epoch_and_per_modality_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe("tiny-bmm.toml", &[]);
    let dir = train(&r, 0, tmp.path());
    let s = read_summary(&dir).expect("summary.json");
    let rows = metrics_without_timing(&dir);
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // best-val: the summary's epoch is the first epoch with the highest validation accuracy.
    let best = rows[1..]
        .iter()
        .max_by(|a, b| {
            let (va, vb): (f64, f64) = (
                a[col("val_accuracy")].parse().unwrap(),
                b[col("val_accuracy")].parse().unwrap(),
            );
            va.partial_cmp(&vb).unwrap().then(b[0].cmp(&a[0]))
        })
        .unwrap();
    assert_eq!(s.selected_epoch.to_string(), best[0]);
    assert_eq!(s.test_accuracy.to_string(), best[col("test_accuracy")]);
    assert_eq!(
        s.modality_accuracy.keys().collect::<Vec<_>>(),
        vec!["audio", "visual"]
    );
    assert_eq!(s.steps, 33 * 4);
    assert!(
        s.test_accuracy > 0.5,
        "4 epochs already learn: {}",
        s.test_accuracy
    );
}

#[test]
fn bmm_metrics_record_per_modality_lambdas_and_contribution_ema() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = train(&recipe("tiny-bmm.toml", &[]), 1, tmp.path());
    let rows = metrics_without_timing(&dir);
    let header = &rows[0];
    let get = |row: &Vec<String>, name: &str| -> f64 {
        row[header.iter().position(|h| h == name).unwrap()]
            .parse()
            .unwrap()
    };
    for row in &rows[1..] {
        for m in ["audio", "visual"] {
            let l = get(row, &format!("lambda_{m}"));
            assert!((0.5..=1.0).contains(&l), "folded λ_{m} mean {l}");
            assert!(get(row, &format!("contribution_ema_{m}")) > 0.0);
        }
        // visual dominates, so dominant-more mixes it more: its mean λ is lower.
        assert!(
            get(row, "lambda_visual") < get(row, "lambda_audio"),
            "{row:?}"
        );
    }
}

/// The head of a real mix-plan trace: tiny-bmm, seed 0, written by `--trace-mixup`; the first
/// step's first samples and its contribution row (B-MM's EMA starts at the first batch's
/// contributions). Values come from this harness; rounded to 4 decimals for portability.
#[test]
fn mix_plan_trace_head_matches_snapshot() {
    use balmix::train::run::{run_seed, RunOptions};
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace.csv");
    let opts = RunOptions {
        out: tmp.path().to_path_buf(),
        trace_mixup: Some(trace.clone()),
        ..RunOptions::default()
    };
    run_seed(&recipe("tiny-bmm.toml", &["train.epochs=1"]), 0, &opts).unwrap();
    let text = std::fs::read_to_string(&trace).unwrap();
    let round = |cell: &str| match cell.parse::<f64>() {
        Ok(v) if cell.contains('.') => format!("{v:.4}"),
        _ => cell.to_string(),
    };
    let mut lines: Vec<String> = text
        .lines()
        .take(9)
        .map(|l| l.split(',').map(round).collect::<Vec<_>>().join(","))
        .collect();
    let step_row = text.lines().find(|l| l.starts_with("step,")).unwrap();
    lines.push(step_row.split(',').map(round).collect::<Vec<_>>().join(","));
    snapshot!("trace__tiny_bmm_seed0_head", lines.join("\n"));
}
