//! The robustness part of a table report: for each dataset column, corruption kind and corrupted
//! modality, the fused test accuracy of every method at every severity (mean ± std over seeds)
//! and its paired difference to the baseline row (the per-seed differences' mean ± std: every
//! method and seed sees the same corrupted samples), rendered as Markdown and as SVG charts of
//! accuracy against severity.

use super::plot::{line_chart, Series};
use super::stat::Stat;
use crate::record::Summary;
use serde::{Deserialize, Serialize};

/// Every block of one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustnessReport {
    /// The row the paired differences are taken against (its label), if the table names one.
    pub baseline: Option<String>,
    /// One block per (column, corruption, modality), in column, then recipe order.
    pub blocks: Vec<Block>,
}

/// One dataset column's scores under one corruption of one modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Column label (dataset).
    pub column: String,
    /// Corruption kind.
    pub corruption: String,
    /// Corrupted modality.
    pub modality: String,
    /// Severities, ascending.
    pub severities: Vec<f64>,
    /// One line per row (method) that reported this corruption.
    pub rows: Vec<BlockRow>,
}

/// One method's scores in a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockRow {
    /// Row label.
    pub label: String,
    /// Fused accuracy per severity.
    pub accuracy: Vec<Stat>,
    /// Paired difference to the baseline per severity (absent for the baseline itself or
    /// when the seeds do not pair up).
    pub vs_baseline: Vec<Option<Stat>>,
}

/// The robustness report of a table, from each cell's run summaries (`summaries[row][column]`,
/// empty for cells that did not finish). `None` when no run recorded robustness scores.
pub fn build(
    rows: &[String],
    columns: &[String],
    baseline: Option<usize>,
    summaries: &[Vec<Vec<Summary>>],
) -> Option<RobustnessReport> {
    let mut blocks = Vec::new();
    for (c, column) in columns.iter().enumerate() {
        // The (corruption, modality) pairs in the order the runs list them.
        let mut keys: Vec<(String, String)> = Vec::new();
        for s in summaries.iter().flat_map(|r| &r[c]) {
            for x in &s.robustness {
                let key = (x.corruption.clone(), x.modality.clone());
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        for (corruption, modality) in keys {
            let score = |s: &Summary, severity: f64| {
                s.robustness
                    .iter()
                    .find(|x| {
                        x.corruption == corruption
                            && x.modality == modality
                            && x.severity == severity
                    })
                    .map(|x| x.accuracy)
            };
            let mut severities: Vec<f64> = summaries
                .iter()
                .flat_map(|r| &r[c])
                .flat_map(|s| &s.robustness)
                .filter(|x| x.corruption == corruption && x.modality == modality)
                .map(|x| x.severity)
                .collect();
            severities.sort_by(f64::total_cmp);
            severities.dedup();
            let base = baseline.map(|b| &summaries[b][c]);
            let mut lines = Vec::new();
            for (r, label) in rows.iter().enumerate() {
                let runs = &summaries[r][c];
                if !runs.iter().any(|s| score(s, severities[0]).is_some()) {
                    continue;
                }
                let accuracy = severities
                    .iter()
                    .map(|&v| {
                        Stat::of(&runs.iter().filter_map(|s| score(s, v)).collect::<Vec<_>>())
                    })
                    .collect();
                let vs_baseline = severities
                    .iter()
                    .map(|&v| {
                        let base = base.filter(|_| baseline != Some(r))?;
                        let diffs: Vec<f64> = runs
                            .iter()
                            .filter_map(|s| {
                                let b = base.iter().find(|b| b.seed == s.seed)?;
                                Some(score(s, v)? - score(b, v)?)
                            })
                            .collect();
                        (!diffs.is_empty() && diffs.len() == runs.len()).then(|| Stat::of(&diffs))
                    })
                    .collect();
                lines.push(BlockRow {
                    label: label.clone(),
                    accuracy,
                    vs_baseline,
                });
            }
            blocks.push(Block {
                column: column.clone(),
                corruption,
                modality,
                severities,
                rows: lines,
            });
        }
    }
    (!blocks.is_empty()).then(|| RobustnessReport {
        baseline: baseline.map(|b| rows[b].clone()),
        blocks,
    })
}

fn show_diff(s: &Stat) -> String {
    if s.n == 1 {
        format!("{:+.1}", s.mean)
    } else {
        format!("{:+.1} ± {:.1}", s.mean, s.std)
    }
}

/// Markdown: one table per block, rows methods, columns severities; each cell the fused test
/// accuracy in percent and, below the baseline's name, the paired difference to it.
pub fn markdown(rep: &RobustnessReport) -> String {
    let mut out = String::from("## Robustness\n\n");
    out.push_str(
        "Fused test accuracy (%) under test-time corruption of one modality, mean ± std over \
         seeds; severity 0 is the clean test set. ",
    );
    if let Some(b) = &rep.baseline {
        out.push_str(&format!(
            "In brackets: the paired difference to {b} (per seed, the same corrupted samples), \
             mean ± std."
        ));
    }
    out.push_str("\n\n");
    for b in &rep.blocks {
        out.push_str(&format!(
            "### {}: {} of {}\n\n| method |",
            b.column, b.corruption, b.modality
        ));
        for s in &b.severities {
            out.push_str(&format!(" {s} |"));
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(b.severities.len()));
        out.push('\n');
        for r in &b.rows {
            out.push_str(&format!("| {} |", r.label));
            for (a, d) in r.accuracy.iter().zip(&r.vs_baseline) {
                match d {
                    Some(d) => out.push_str(&format!(" {} ({}) |", a.show(), show_diff(d))),
                    None => out.push_str(&format!(" {} |", a.show())),
                }
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// One SVG per (column, corruption): a panel per corrupted modality, accuracy against
/// severity, one line per method. Returns `(file name, svg)`.
pub fn charts(rep: &RobustnessReport) -> Vec<(String, String)> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for b in &rep.blocks {
        let key = (b.column.clone(), b.corruption.clone());
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    groups
        .into_iter()
        .map(|(column, corruption)| {
            let panels: Vec<String> = rep
                .blocks
                .iter()
                .filter(|b| b.column == column && b.corruption == corruption)
                .map(|b| {
                    let series: Vec<Series> = b
                        .rows
                        .iter()
                        .map(|r| Series {
                            name: r.label.clone(),
                            points: b
                                .severities
                                .iter()
                                .zip(&r.accuracy)
                                .map(|(&s, a)| (s, a.mean))
                                .collect(),
                            dashed: false,
                        })
                        .collect();
                    line_chart(
                        &format!("{column}: {corruption} of {}", b.modality),
                        "severity",
                        "fused test accuracy (%)",
                        &series,
                        None,
                    )
                })
                .collect();
            let name = format!("robustness-{}-{}.svg", slug(&column), slug(&corruption));
            (name, stack(&panels))
        })
        .collect()
}

/// Panels (each a complete SVG, 420 high) stacked vertically in one SVG as wide as the widest.
fn stack(panels: &[String]) -> String {
    let h = 420.0;
    let w = panels
        .iter()
        .filter_map(|p| {
            let rest = p.split("width=\"").nth(1)?;
            rest.split('"').next()?.parse::<f64>().ok()
        })
        .fold(720.0, f64::max);
    let mut out = format!(
        "<svg xmlns=\"{}\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\">\n",
        super::plot::SVG_NS,
        h * panels.len() as f64,
        h * panels.len() as f64
    );
    for (i, p) in panels.iter().enumerate() {
        let inner = p.replacen("<svg ", &format!("<svg y=\"{}\" ", h * i as f64), 1);
        out.push_str(&inner);
    }
    out.push_str("</svg>\n");
    out
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::robustness::RobustnessRow;

    fn summary(seed: u64, scores: &[(f64, f64)]) -> Summary {
        Summary {
            name: "r".into(),
            seed,
            recipe_hash: String::new(),
            code_fingerprint: String::new(),
            data_fingerprint: String::new(),
            code_version: String::new(),
            epochs: 1,
            select: "last".into(),
            selected_epoch: 1,
            test_accuracy: scores[0].1,
            test_macro_f1: 0.0,
            val_accuracy: None,
            modality_accuracy: Default::default(),
            final_train_loss: 0.0,
            steps: 1,
            parameters: 1,
            seconds: 0.0,
            peak_memory_bytes: None,
            robustness: scores
                .iter()
                .map(|&(severity, accuracy)| RobustnessRow {
                    corruption: "missing-zero".into(),
                    modality: "audio".into(),
                    severity,
                    accuracy,
                    macro_f1: 0.0,
                    modality_accuracy: Default::default(),
                })
                .collect(),
            split: None,
            manifest_dir: None,
            model_sha256: None,
            frozen: Vec::new(),
        }
    }

    /// The paired difference is the mean ± std of the per-seed differences, matched by seed
    /// (not by position), not the difference of the means with their stds: here the method's
    /// seeds are listed in reverse and its accuracies move with the baseline's, so the paired
    /// std (1 point) is far below either row's own std (20 points).
    #[test]
    fn paired_differences_match_seeds_and_take_the_std_of_the_differences() {
        let base: Vec<Summary> = [(0, 0.50), (1, 0.70), (2, 0.90)]
            .iter()
            .map(|&(s, a)| summary(s, &[(0.0, 0.95), (1.0, a)]))
            .collect();
        // Differences per seed at severity 1: +0.10, +0.11, +0.09.
        let method: Vec<Summary> = [(2, 0.99), (1, 0.81), (0, 0.60)]
            .iter()
            .map(|&(s, a)| summary(s, &[(0.0, 0.95), (1.0, a)]))
            .collect();
        let rows = vec!["concat".to_string(), "mm".to_string()];
        let rep = build(
            &rows,
            &["synthetic".into()],
            Some(0),
            &[vec![base], vec![method]],
        )
        .expect("robustness scores");
        let block = &rep.blocks[0];
        assert_eq!(block.severities, vec![0.0, 1.0]);
        let mm = &block.rows[1];
        let d = mm.vs_baseline[1].expect("paired");
        // By hand, in points: differences 10, 11, 9 → mean 10, sample std 1.
        assert!(
            (d.mean - 10.0).abs() < 1e-9 && (d.std - 1.0).abs() < 1e-9,
            "{d:?}"
        );
        assert_eq!(d.n, 3);
        assert!((mm.accuracy[1].mean - 80.0).abs() < 1e-9);
        assert!((mm.accuracy[1].std - 19.519221).abs() < 1e-5);
        let zero = mm.vs_baseline[0].expect("paired at severity 0");
        assert!(zero.mean.abs() < 1e-9 && zero.std.abs() < 1e-9);
        assert!(
            block.rows[0].vs_baseline.iter().all(Option::is_none),
            "baseline vs itself"
        );
        assert_eq!(rep.baseline.as_deref(), Some("concat"));
    }
}
