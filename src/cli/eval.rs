//! `balmix eval`: a finished run evaluated again, clean and under test-time corruptions.

use super::args::EvalArgs;
use super::BadFlag;
use anyhow::{Context, Result};
use balmix::data::Cache;
use balmix::record::{write_robustness, RobustnessRow};
use balmix::train::eval::evaluate;
use balmix::train::robustness::evaluate_robustness;
use balmix::train::saved;
use std::process::ExitCode;

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    let sets = corruption_sets(&args)?;
    let log = |line: &str| balmix::term::eprint_line(line);
    let cache = Cache::new(args.cache_dir.clone());
    let context = || format!("evaluating {}", args.run.display());
    let mut run = match saved::load(&args.run, &sets, &cache, &log) {
        Ok(run) => run,
        // A bad corruption flag is bad input (exit status 2), like a bad recipe.
        Err(saved::SavedRunError::Recipe(e)) => {
            return Err(anyhow::Error::from(e).context(context()))
        }
        Err(e) => return Err(anyhow::Error::from(e).context(context())),
    };
    // An ensemble's members (UME) are part of its evaluation: loaded as the run recorded them.
    balmix::train::frozen::attach_recorded(&mut run, &cache, &log).with_context(context)?;
    let (idx, recorded) = if args.split == "val" {
        if run.splits.val.is_empty() {
            return Err(BadFlag {
                flag: "--split",
                problem: "this run has no validation split (dataset.split.val = 0)".into(),
            }
            .into());
        }
        (&run.splits.val, run.summary.val_accuracy)
    } else {
        (&run.splits.test, Some(run.summary.test_accuracy))
    };
    let clean = evaluate(&run.model, &*run.method, &run.data, idx)?;
    balmix::term::print_text(&scores(&run, &args.split, idx.len(), &clean, recorded));
    let recorded = recorded.unwrap_or(clean.accuracy);
    // The model file is the run's own record: another one is an error whatever it scores.
    if let Some(change) = run.model_file_changed() {
        anyhow::bail!(
            "{}: {change}: it is not the model this run wrote, so its scores are not the run's. Restore the file, or train the run again (`balmix run RECIPE --force`)",
            args.run.display()
        );
    }
    let changed = run.changed_inputs();
    if clean.accuracy != recorded {
        let what = if args.split == "val" {
            "validation"
        } else {
            "clean test"
        };
        let why = if changed.is_empty() {
            "none of the recorded inputs differ (model file checksum, data fingerprint, code fingerprint): the machine's arithmetic may differ from the one that trained the run".to_string()
        } else {
            changed.join("; ")
        };
        anyhow::bail!(
            "{}: the {what} accuracy {} differs from the run's summary ({recorded}): {why}. Train the run again (`balmix run RECIPE --force`) to get scores that match its inputs",
            args.run.display(),
            clean.accuracy
        );
    }
    if !changed.is_empty() {
        balmix::term::eprint_line(&format!(
            "warning: the scores match the run's summary, but {}",
            changed.join("; ")
        ));
    }
    if args.split == "val" {
        return Ok(ExitCode::SUCCESS);
    }
    let Some(spec) = run.recipe.robustness() else {
        balmix::term::eprint_line(
            "no corruptions: pass --corrupt KIND (or train with train.eval.robustness)",
        );
        return Ok(ExitCode::SUCCESS);
    };
    let shapes: Vec<Option<[usize; 3]>> = run
        .data
        .modalities
        .iter()
        .map(|m| {
            let manifest = run.recipe.manifest();
            manifest
                .modalities
                .iter()
                .find(|s| s.name == m.name)
                .and_then(|s| s.shape)
        })
        .collect();
    let rows = evaluate_robustness(
        &run.model,
        &*run.method,
        &run.data,
        &run.splits,
        &shapes,
        spec,
    )?;
    balmix::term::print_text(&table(&rows));
    let names: Vec<String> = run.data.modalities.iter().map(|m| m.name.clone()).collect();
    let path = args
        .csv
        .clone()
        .unwrap_or_else(|| args.run.join("eval-robustness.csv"));
    write_robustness(&path, &names, &rows)
        .with_context(|| format!("writing {}", path.display()))?;
    balmix::term::eprint_line(&format!("scores: {}", path.display()));
    Ok(ExitCode::SUCCESS)
}

/// The recipe overrides that set `train.eval.robustness` from the flags (none without
/// --corrupt: the run's own section, if any, is used).
fn corruption_sets(args: &EvalArgs) -> Result<Vec<String>> {
    if args.corrupt.is_empty() {
        if !args.modality.is_empty() || !args.severities.is_empty() {
            return Err(BadFlag {
                flag: "--modality/--severities",
                problem: "need at least one --corrupt KIND".into(),
            }
            .into());
        }
        return Ok(Vec::new());
    }
    // Checked here, so a bad value is reported as the flag the user typed, not as the
    // recipe key it is turned into.
    use balmix::recipe::file::CorruptionKind;
    let kinds: Vec<String> = CorruptionKind::ALL.iter().map(|k| k.name()).collect();
    let known = |v: &str, flag: &'static str, names: &[String]| -> Result<()> {
        if names.iter().any(|n| n == v) {
            return Ok(());
        }
        let hint = match balmix::manifest::suggest(v, names).first() {
            Some(n) => format!(" (did you mean `{n}`?)"),
            None => String::new(),
        };
        Err(BadFlag {
            flag,
            problem: format!(
                "unknown corruption `{v}`{hint}; one of {}",
                names.join(", ")
            ),
        }
        .into())
    };
    for c in &args.corrupt {
        known(c, "--corrupt", &kinds)?;
    }
    for s in &args.severities {
        if let Some((kind, _)) = s.split_once('=') {
            known(kind, "--severities", &kinds)?;
        }
    }
    let key = "train.eval.robustness";
    let quoted = |v: &[String]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut sets = vec![
        format!("{key}.corruptions=[{}]", quoted(&args.corrupt)),
        format!("{key}.modalities=[{}]", quoted(&args.modality)),
        format!("{key}.seed={}", args.corruption_seed.unwrap_or(0)),
    ];
    for s in &args.severities {
        let Some((kind, values)) = s.split_once('=') else {
            return Err(BadFlag {
                flag: "--severities",
                problem: format!("`{s}`: expected KIND=S,S,… (e.g. gaussian=0,0.5,1)"),
            }
            .into());
        };
        sets.push(format!("{key}.severities.{kind}=[{values}]"));
    }
    Ok(sets)
}

/// The clean scores of a split: accuracy, macro-F1, each modality's own accuracy and the
/// confusion matrix (rows: true class, columns: predicted).
fn scores(
    run: &saved::SavedRun,
    split: &str,
    n: usize,
    e: &balmix::train::eval::Evaluation,
    recorded: Option<f64>,
) -> String {
    let s = &run.summary;
    let fold = s.fold_label();
    let mut out = format!(
        "{}{fold} seed {}: clean {split} accuracy {:.4}, macro-F1 {:.4} ({n} samples; summary.json: {})\n",
        s.name,
        s.seed,
        e.accuracy,
        e.macro_f1,
        recorded.map_or("not recorded".into(), |a| format!("{a:.4}"))
    );
    let own: Vec<String> = run
        .data
        .modalities
        .iter()
        .zip(&e.modality_accuracy)
        .map(|(m, a)| format!("{} {a:.4}", m.name))
        .collect();
    out.push_str(&format!(
        "each modality's own accuracy: {}\n",
        own.join(", ")
    ));
    let classes = &run.data.classes;
    let w = classes.iter().map(|c| c.len()).max().unwrap_or(1).max(6);
    out.push_str(&format!(
        "confusion matrix ({split}; rows: true class, columns: predicted)\n{:>w$}",
        ""
    ));
    for c in classes {
        out.push_str(&format!(" {c:>w$}"));
    }
    out.push('\n');
    for (c, row) in classes.iter().zip(&e.confusion) {
        out.push_str(&format!("{c:>w$}"));
        for v in row {
            out.push_str(&format!(" {v:>w$}"));
        }
        out.push('\n');
    }
    out
}

/// The scores as an aligned text table.
fn table(rows: &[RobustnessRow]) -> String {
    let mut out =
        String::from("corruption      modality      severity  accuracy  own accuracies\n");
    for r in rows {
        let own: Vec<String> = r
            .modality_accuracy
            .iter()
            .map(|(m, a)| format!("{m} {a:.4}"))
            .collect();
        out.push_str(&format!(
            "{:<15} {:<13} {:>8}  {:>8.4}  {}\n",
            r.corruption,
            r.modality,
            r.severity,
            r.accuracy,
            own.join(", ")
        ));
    }
    out
}
