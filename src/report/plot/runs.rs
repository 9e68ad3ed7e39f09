//! Curves of runs from their `metrics.csv`: one run as lines, a group of runs (seeds, folds)
//! as the mean per epoch with a shaded ±1 sample-std band.

use super::chart::{Band, LineChart, Series};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One run's `metrics.csv`: per column, its finite values by epoch.
struct Metrics {
    columns: Vec<String>,
    values: BTreeMap<String, BTreeMap<usize, f64>>,
}

/// The run's metrics, `None` when it has no epoch yet (a run that failed or diverged at once).
fn read_metrics(dir: &Path) -> Result<Option<Metrics>, String> {
    let path = dir.join("metrics.csv");
    let err = |e: csv::Error| format!("{}: {e}", path.display());
    let mut r = csv::Reader::from_path(&path).map_err(err)?;
    let columns: Vec<String> = r
        .headers()
        .map_err(err)?
        .iter()
        .map(str::to_string)
        .collect();
    let mut values: BTreeMap<String, BTreeMap<usize, f64>> = BTreeMap::new();
    for row in r.records() {
        let row = row.map_err(err)?;
        let Some(epoch) = row.get(0).and_then(|e| e.parse::<usize>().ok()) else {
            continue;
        };
        for (name, cell) in columns.iter().zip(row.iter()).skip(1) {
            if let Some(v) = cell.parse::<f64>().ok().filter(|v| v.is_finite()) {
                values.entry(name.clone()).or_default().insert(epoch, v);
            }
        }
    }
    Ok((!values.is_empty()).then_some(Metrics { columns, values }))
}

/// A column over runs: per epoch that at least one run has a finite value for, the mean and,
/// where two or more runs have one, mean ± sample standard deviation (n − 1).
fn aggregate(runs: &[Metrics], column: &str) -> Option<(Vec<(f64, f64)>, Band)> {
    let mut by_epoch: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for run in runs {
        for (&e, &v) in run.values.get(column).into_iter().flatten() {
            by_epoch.entry(e).or_default().push(v);
        }
    }
    if by_epoch.is_empty() {
        return None;
    }
    let (mut points, mut band) = (Vec::new(), Vec::new());
    for (e, vs) in by_epoch {
        let n = vs.len() as f64;
        let mean = vs.iter().sum::<f64>() / n;
        points.push((e as f64, mean));
        band.push((vs.len() > 1).then(|| {
            let std = (vs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            (mean - std, mean + std)
        }));
    }
    Some((points, band))
}

/// Run folders at or below `dir`: every folder holding a `metrics.csv` (not searched further),
/// sorted by path. Symbolic links are not followed.
pub fn find_runs(dir: &Path) -> Vec<PathBuf> {
    if dir.join("metrics.csv").is_file() {
        return vec![dir.to_path_buf()];
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    subdirs.iter().flat_map(|d| find_runs(d)).collect()
}

/// Plots of one run directory: `accuracy.svg` (fused and per-modality test accuracy per epoch),
/// `balance.svg` (mean λ per modality and of the label, contribution per modality) and
/// `loss.svg` (every `*_loss` column: training, and validation/test where recorded).
pub fn run_plots(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let run = read_metrics(dir)?
        .ok_or_else(|| format!("{}: no epochs yet", dir.join("metrics.csv").display()))?;
    charts(&dir.display().to_string(), &[run])
}

/// The plots of [`run_plots`] over every run folder below `dir` (seeds, folds): per epoch the
/// mean over the runs that have it, shaded ±1 sample std where two or more do. Runs without
/// an epoch are left out.
pub fn group_plots(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let runs = find_runs(dir);
    if runs.is_empty() {
        return Err(format!(
            "{}: no run folder (with metrics.csv) at or below it",
            dir.display()
        ));
    }
    let mut metrics = Vec::new();
    for run in &runs {
        metrics.extend(read_metrics(run)?);
    }
    if metrics.is_empty() {
        return Err(format!(
            "{}: no epochs yet in any of its {} runs",
            dir.display(),
            runs.len()
        ));
    }
    charts(&dir.display().to_string(), &metrics)
}

/// Per cell of a table's run folder: the group plots of the cell's runs, as `(path, svg)`.
/// A cell is a run folder's path with its trailing `seed-<n>` and `fold-<i>` parts removed,
/// so seeds and folds of one row and column are one group. Runs without an epoch are left
/// out, and so are cells with none left.
pub fn cell_plots(table_dir: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let mut cells: BTreeMap<PathBuf, Vec<Metrics>> = BTreeMap::new();
    for run in find_runs(table_dir) {
        let mut cell = run.clone();
        while cell
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_seed_or_fold)
        {
            cell.pop();
        }
        if cell != table_dir && cell.starts_with(table_dir) {
            if let Some(m) = read_metrics(&run)? {
                cells.entry(cell).or_default().push(m);
            }
        }
    }
    let mut out = Vec::new();
    for (cell, runs) in cells {
        // Titled `<table>/<column>/<row>`.
        let table = table_dir
            .file_name()
            .map(Path::new)
            .unwrap_or(Path::new(""));
        let name = table
            .join(cell.strip_prefix(table_dir).unwrap_or(&cell))
            .display()
            .to_string();
        for (file, svg) in charts(&name, &runs)? {
            out.push((cell.join(file), svg));
        }
    }
    Ok(out)
}

fn is_seed_or_fold(name: &str) -> bool {
    ["seed-", "fold-"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The three charts of `runs` (one run: plain lines; several: mean and bands).
fn charts(name: &str, runs: &[Metrics]) -> Result<Vec<(String, String)>, String> {
    let mut columns: Vec<&str> = Vec::new();
    for c in runs.iter().flat_map(|r| &r.columns) {
        if !columns.contains(&c.as_str()) {
            columns.push(c);
        }
    }
    let mods: Vec<&str> = columns
        .iter()
        .filter_map(|h| h.strip_prefix("accuracy_"))
        .collect();
    let mut acc = Curves::new(runs);
    acc.add("test_accuracy", "fused (test)", false);
    if acc.series.is_empty() {
        return Err(format!("{name}: no test_accuracy column"));
    }
    acc.add("val_accuracy", "fused (val)", true);
    for m in &mods {
        acc.add(&format!("accuracy_{m}"), &format!("{m} own"), false);
    }
    let mut bal = Curves::new(runs);
    let lambdas: Vec<String> = mods
        .iter()
        .map(|m| format!("lambda_{m}"))
        .chain(["lambda_label".to_string()])
        .collect();
    let no_mixing = unmixed(runs, &lambdas);
    if !no_mixing {
        for m in &mods {
            bal.add(&format!("lambda_{m}"), &format!("λ {m}"), false);
        }
        bal.add("lambda_label", "λ label", true);
    }
    for m in &mods {
        bal.add(
            &format!("contribution_{m}"),
            &format!("contribution {m}"),
            true,
        );
    }
    let mut loss = Curves::new(runs);
    // Training loss first, then any other recorded loss in file order.
    let mut losses: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| c.ends_with("_loss"))
        .collect();
    losses.sort_by_key(|c| *c != "train_loss");
    for c in losses {
        let label = c.strip_suffix("_loss").unwrap_or(c);
        loss.add(c, label, label != "train");
    }
    let last: Vec<usize> = runs
        .iter()
        .filter_map(|r| {
            r.values
                .values()
                .filter_map(|v| v.keys().last())
                .max()
                .copied()
        })
        .collect();
    let (fewest, most) = (
        last.iter().min().copied().unwrap_or(0),
        last.iter().max().copied().unwrap_or(0),
    );
    let subtitle = (runs.len() > 1).then(|| {
        let n = runs.len();
        if fewest == most {
            format!("mean over {n} runs; shaded: ±1 sample std")
        } else {
            format!(
                "mean over the runs that reach each epoch ({n} runs of {fewest} to {most} epochs); shaded: ±1 sample std where ≥ 2 do"
            )
        }
    });
    let chart = |title: &str, y_label: &str, c: &Curves, y_range, note| {
        LineChart {
            title: &format!("{title} — {name}"),
            subtitle: subtitle.as_deref(),
            x_label: "epoch",
            y_label,
            series: &c.series,
            bands: &c.bands,
            y_range,
            integer_x: true,
            note,
        }
        .svg()
    };
    let mut out = vec![
        (
            "accuracy.svg".to_string(),
            chart("Accuracy", "accuracy", &acc, Some((0.0, 1.0)), None),
        ),
        (
            "balance.svg".to_string(),
            chart(
                "Mixing and contributions",
                "value",
                &bal,
                Some((0.0, 1.0)),
                no_mixing.then_some(NO_MIXING),
            ),
        ),
    ];
    if !loss.series.is_empty() {
        out.push((
            "loss.svg".to_string(),
            chart("Loss", "loss", &loss, None, None),
        ));
    }
    Ok(out)
}

/// What `balance.svg` says instead of λ lines when no sample was mixed.
const NO_MIXING: &str = "no mixing (λ = 1 throughout)";

/// Whether the runs record λ `columns` and every value is 1: nothing was mixed, and three λ
/// lines at 1 would only hide each other.
fn unmixed(runs: &[Metrics], columns: &[String]) -> bool {
    let values = || {
        runs.iter()
            .flat_map(|r| columns.iter().filter_map(|c| r.values.get(c)))
            .flat_map(|v| v.values())
    };
    values().next().is_some() && values().all(|&v| (v - 1.0).abs() < 1e-9)
}

/// Series and their bands, built column by column.
struct Curves<'a> {
    runs: &'a [Metrics],
    series: Vec<Series>,
    bands: Vec<Band>,
}

impl<'a> Curves<'a> {
    fn new(runs: &'a [Metrics]) -> Self {
        Curves {
            runs,
            series: Vec::new(),
            bands: Vec::new(),
        }
    }

    /// Add `column` as a series named `label` if any run has a value in it.
    fn add(&mut self, column: &str, label: &str, dashed: bool) {
        if let Some((points, band)) = aggregate(self.runs, column) {
            self.series.push(Series {
                name: label.to_string(),
                points,
                dashed,
            });
            self.bands.push(band);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[(usize, f64)]) -> Metrics {
        let mut values = BTreeMap::new();
        values.insert("x".to_string(), rows.iter().copied().collect());
        Metrics {
            columns: vec!["epoch".into(), "x".into()],
            values,
        }
    }

    #[test]
    fn bands_are_mean_plus_minus_sample_std_over_the_runs_that_have_the_epoch() {
        let runs = [
            run(&[(1, 1.0), (2, 2.0)]),
            run(&[(1, 3.0)]),
            run(&[(1, 5.0)]),
        ];
        let (points, band) = aggregate(&runs, "x").unwrap();
        assert_eq!(points, vec![(1.0, 3.0), (2.0, 2.0)]);
        // Values 1, 3, 5: mean 3, sample variance (4 + 0 + 4) / 2 = 4, std 2.
        assert_eq!(band, vec![Some((1.0, 5.0)), None]);
    }

    fn columns(cols: &[(&str, &[f64])]) -> Metrics {
        let mut values = BTreeMap::new();
        for (name, vs) in cols {
            values.insert(name.to_string(), (1..).zip(vs.iter().copied()).collect());
        }
        Metrics {
            columns: cols.iter().map(|c| c.0.to_string()).collect(),
            values,
        }
    }

    #[test]
    fn runs_are_unmixed_only_when_every_recorded_lambda_is_one() {
        let lambdas = ["lambda_a".to_string(), "lambda_label".to_string()];
        let flat = columns(&[("lambda_a", &[1.0, 1.0]), ("lambda_label", &[1.0, 1.0])]);
        let mixed = columns(&[("lambda_a", &[1.0, 1.0]), ("lambda_label", &[1.0, 0.93])]);
        assert!(unmixed(std::slice::from_ref(&flat), &lambdas));
        assert!(!unmixed(&[flat, mixed], &lambdas));
        // No λ recorded: nothing to say about mixing.
        let none = columns(&[("contribution_a", &[0.5])]);
        assert!(!unmixed(&[none], &lambdas));
    }

    #[test]
    fn seed_and_fold_folders_are_recognised() {
        assert!(is_seed_or_fold("seed-0") && is_seed_or_fold("fold-12"));
        assert!(!is_seed_or_fold("seed-") && !is_seed_or_fold("seed-a") && !is_seed_or_fold("mm"));
    }
}
