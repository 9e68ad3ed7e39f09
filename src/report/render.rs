//! The report of a table: plain data (cells with mean ± std over seeds, references, failures)
//! and pure renderers to Markdown and CSV, snapshot-tested from fixed inputs.

pub use super::stat::Stat;
use serde::{Deserialize, Serialize};

/// One cell of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    /// The method does not apply to this dataset.
    Skipped,
    /// Every seed ran.
    Done {
        /// Fused test accuracy.
        accuracy: Stat,
        /// Fused macro-F1.
        macro_f1: Stat,
        /// Each modality's own accuracy, in the column's modality order (`None` when the
        /// method does not use that modality, e.g. unimodal rows).
        modalities: Vec<Option<Stat>>,
    },
    /// The data must be prepared locally first.
    DataMissing(String),
    /// A run failed (recipe error, run error).
    Failed(String),
    /// Training diverged (a non-finite loss or gradient) for these `(seed, epoch)`s; the
    /// cell is never averaged.
    Diverged(Vec<(u64, usize)>),
}

impl Cell {
    /// Whether the cell failed or diverged (a table with such a cell exits 1).
    pub fn is_problem(&self) -> bool {
        matches!(self, Cell::Failed(_) | Cell::Diverged(_))
    }

    fn diverged_text(runs: &[(u64, usize)]) -> String {
        let each: Vec<String> = runs
            .iter()
            .map(|(seed, epoch)| format!("seed {seed}, epoch {epoch}"))
            .collect();
        format!("diverged ({})", each.join("; "))
    }
}

/// A dataset column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Heading.
    pub label: String,
    /// Modalities shown (weak one first when known).
    pub modalities: Vec<String>,
    /// Epochs of the column's runs (distinct values).
    pub epochs: Vec<usize>,
}

/// A published number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefValue {
    /// Accuracy in percent.
    pub value: f64,
    /// Source.
    pub source: String,
}

/// Everything a rendered table shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Title.
    pub title: String,
    /// Evaluation protocol.
    pub protocol: String,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Folds of a k-fold split every cell ran (each cell then averages folds × seeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    /// Columns.
    pub columns: Vec<ColumnInfo>,
    /// Row labels.
    pub rows: Vec<String>,
    /// Cells, `rows × columns`.
    pub cells: Vec<Vec<Cell>>,
    /// References, `rows × columns`.
    pub references: Vec<Vec<Option<RefValue>>>,
    /// balmix version and commit.
    pub code_version: String,
    /// Runs trained now and runs reused.
    pub runs: (usize, usize),
    /// Wall-clock seconds of this invocation and summed run seconds (not results).
    pub seconds: (f64, f64),
    /// Scores under test-time corruptions, when the cells' recipes ask for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robustness: Option<super::robustness::RobustnessReport>,
}

impl Report {
    fn has_refs(&self, c: usize) -> bool {
        self.references.iter().any(|r| r[c].is_some())
    }

    /// The smallest and largest n of the cells' fused accuracy (`None` without a done cell).
    fn n_range(&self) -> Option<(usize, usize)> {
        let ns = self.cells.iter().flatten().filter_map(|c| match c {
            Cell::Done { accuracy, .. } => Some(accuracy.n),
            _ => None,
        });
        ns.fold(None, |r, n| match r {
            None => Some((n, n)),
            Some((lo, hi)) => Some((lo.min(n), hi.max(n))),
        })
    }

    /// What a cell's mean ± std is over, with the cells' actual n: `over 3 seeds (n = 3 runs
    /// per cell)`, `over 1 seed (n = 1: …)`, or the range of n where cells differ. Without a
    /// done cell, the n the table asked for.
    fn over(&self) -> String {
        let seeds = self.seeds.len();
        let asked = seeds * self.folds.unwrap_or(1);
        let (lo, hi) = self.n_range().unwrap_or((asked, asked));
        let what = match self.folds {
            Some(k) => format!("{k} folds × {seeds} seed(s)"),
            None if seeds == 1 => "1 seed".to_string(),
            None => format!("{seeds} seeds"),
        };
        let n = if lo != hi {
            format!(
                "n = {lo} to {hi} runs per cell: a cell with fewer than {hi} shows its n; n = 1: one run, spread unknown"
            )
        } else if hi == 1 {
            "n = 1: one seed, spread unknown".to_string()
        } else {
            format!("n = {hi} runs per cell")
        };
        format!("over {what} ({n})")
    }

    /// Row index of the best fused mean in column `c` (first on ties).
    fn best(&self, c: usize) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (r, row) in self.cells.iter().enumerate() {
            if let Cell::Done { accuracy, .. } = &row[c] {
                if best.is_none_or(|(_, m)| accuracy.mean > m) {
                    best = Some((r, accuracy.mean));
                }
            }
        }
        best.map(|(r, _)| r)
    }
}

/// Markdown: one table, per dataset the fused accuracy (best in bold), each modality's own
/// accuracy, and reference and Δ where the column has references; then notes and footer.
pub fn markdown(rep: &Report) -> String {
    let mut head = vec!["method".to_string()];
    for (c, col) in rep.columns.iter().enumerate() {
        head.push(format!("{} acc", col.label));
        head.extend(col.modalities.iter().map(|m| format!("{m} own")));
        if rep.has_refs(c) {
            head.push("ref".into());
            head.push("Δ".into());
        }
    }
    let most = rep.n_range().map_or(0, |(_, hi)| hi);
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut notes = Vec::new();
    for (r, label) in rep.rows.iter().enumerate() {
        let mut line = vec![label.clone()];
        for (c, col) in rep.columns.iter().enumerate() {
            let reference = &rep.references[r][c];
            let mut delta = String::new();
            match &rep.cells[r][c] {
                Cell::Done {
                    accuracy,
                    modalities,
                    ..
                } => {
                    let text = accuracy.show_among(most);
                    line.push(if rep.best(c) == Some(r) {
                        format!("**{text}**")
                    } else {
                        text
                    });
                    line.extend(
                        modalities
                            .iter()
                            .map(|m| m.map(|s| s.show_among(most)).unwrap_or_else(|| "–".into())),
                    );
                    if let Some(rv) = reference {
                        delta = format!("{:+.1}", accuracy.mean - rv.value);
                    }
                }
                other => {
                    line.push(match other {
                        Cell::Skipped => "–".to_string(),
                        Cell::DataMissing(_) => "data not present".to_string(),
                        Cell::Diverged(runs) => Cell::diverged_text(runs),
                        _ => "failed".to_string(),
                    });
                    line.extend(col.modalities.iter().map(|_| String::new()));
                    match other {
                        // One note per dataset: every row needs the same data.
                        Cell::DataMissing(why) => {
                            push_once(&mut notes, format!("{}: {}", col.label, first_line(why)))
                        }
                        Cell::Diverged(runs) => push_once(
                            &mut notes,
                            format!("{label} / {}: {} — not averaged; lower optim.lr or set train.grad_clip", col.label, Cell::diverged_text(runs)),
                        ),
                        Cell::Failed(why) => push_once(
                            &mut notes,
                            format!("{label} / {}: {}", col.label, first_line(why)),
                        ),
                        _ => {}
                    }
                }
            }
            if rep.has_refs(c) {
                line.push(
                    reference
                        .as_ref()
                        .map(|rv| format!("{:.2}", rv.value))
                        .unwrap_or_default(),
                );
                line.push(delta);
            }
        }
        lines.push(line);
    }
    let mut out = format!("# {}\n\n", rep.title);
    out.push_str(&table(&head, &lines));
    let over = rep.over();
    out.push_str(&format!("\nCells: test accuracy in %, mean ± std {over}; \"own\" is a modality's own (unimodal) accuracy inside the model; bold marks the best fused accuracy per dataset.\n"));
    let mut sources: Vec<&str> = rep
        .references
        .iter()
        .flatten()
        .flatten()
        .map(|r| r.source.as_str())
        .collect();
    // Each source once, in order of first appearance.
    let mut seen = std::collections::BTreeSet::new();
    sources.retain(|s| seen.insert(*s));
    if !sources.is_empty() {
        out.push_str(&format!(
            "References: {}; Δ = ours − reference.\n",
            sources.join("; ")
        ));
    }
    if !notes.is_empty() {
        out.push_str("\nNot run or not reported:\n");
        for n in &notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    let epochs: Vec<String> = rep
        .columns
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.label,
                c.epochs
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            )
        })
        .collect();
    out.push_str(&format!(
        "\nProtocol: {}\nSeeds: {}\nEpochs: {}\nCode: balmix {}\nRuns: {} trained, {} reused; {:.1} s wall, {:.1} s of training\n",
        rep.protocol,
        rep.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
            + &rep
                .folds
                .map(|k| format!("; folds 0..{k} of a {k}-fold split"))
                .unwrap_or_default(),
        epochs.join(", "),
        rep.code_version,
        rep.runs.0,
        rep.runs.1,
        rep.seconds.0,
        rep.seconds.1
    ));
    out
}

fn push_once(notes: &mut Vec<String>, note: String) {
    if !notes.contains(&note) {
        notes.push(note);
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn table(head: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].chars().count(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let fmt_row = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = fmt_row(head);
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                "-".repeat(*w)
            } else {
                format!("{}:", "-".repeat(w - 1))
            }
        })
        .collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for r in rows {
        out.push_str(&fmt_row(r));
    }
    out
}

/// CSV, one line per cell and metric: `row,column,metric,mean,std,n,reference,delta,status,detail`.
pub fn csv(rep: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "row",
        "column",
        "metric",
        "mean",
        "std",
        "n",
        "reference",
        "delta",
        "status",
        "detail",
    ])
    .expect("in-memory csv");
    for (r, label) in rep.rows.iter().enumerate() {
        for (c, col) in rep.columns.iter().enumerate() {
            let reference = rep.references[r][c].as_ref();
            let mut put =
                |metric: String, stat: Option<Stat>, status: &str, detail: &str, with_ref: bool| {
                    let (mean, std, n) = stat
                        .map(|s| {
                            (
                                format!("{:.2}", s.mean),
                                // One seed has no spread to report.
                                if s.n > 1 {
                                    format!("{:.2}", s.std)
                                } else {
                                    String::new()
                                },
                                s.n.to_string(),
                            )
                        })
                        .unwrap_or_default();
                    let (rv, delta) = match (with_ref, reference, stat) {
                        (true, Some(rv), Some(s)) => (
                            format!("{:.2}", rv.value),
                            format!("{:+.2}", s.mean - rv.value),
                        ),
                        (true, Some(rv), None) => (format!("{:.2}", rv.value), String::new()),
                        _ => (String::new(), String::new()),
                    };
                    w.write_record([
                        label.as_str(),
                        col.label.as_str(),
                        &metric,
                        &mean,
                        &std,
                        &n,
                        &rv,
                        &delta,
                        status,
                        detail,
                    ])
                    .expect("in-memory csv");
                };
            match &rep.cells[r][c] {
                Cell::Done {
                    accuracy,
                    macro_f1,
                    modalities,
                } => {
                    put("accuracy".into(), Some(*accuracy), "ok", "", true);
                    put("macro_f1".into(), Some(*macro_f1), "ok", "", false);
                    for (m, s) in col.modalities.iter().zip(modalities) {
                        if let Some(s) = s {
                            put(format!("accuracy_{m}"), Some(*s), "ok", "", false);
                        }
                    }
                }
                Cell::Skipped => put("accuracy".into(), None, "skipped", "", false),
                Cell::DataMissing(why) => put(
                    "accuracy".into(),
                    None,
                    "data-missing",
                    why.lines().next().unwrap_or(""),
                    true,
                ),
                Cell::Failed(why) => put(
                    "accuracy".into(),
                    None,
                    "failed",
                    why.lines().next().unwrap_or(""),
                    true,
                ),
                Cell::Diverged(runs) => put(
                    "accuracy".into(),
                    None,
                    "diverged",
                    &Cell::diverged_text(runs),
                    true,
                ),
            }
        }
    }
    String::from_utf8(w.into_inner().expect("in-memory csv")).expect("utf-8")
}
