//! The mix-plan trace (`balmix run --trace-mixup FILE.csv`).
//!
//! One CSV, two kinds of rows, told apart by the `kind` column:
//!
//! * `sample` — one per training sample per step: `epoch, step, sample` (position in the
//!   batch), `partner` (π(sample); the sample itself when the batch is not mixed),
//!   `lambda_label` and one `lambda_<modality>` per modality (1 when not mixed);
//! * `step` — one per step, after its sample rows: the contributions `c_<modality>` measured on
//!   the clean batch and their EMA `ema_<modality>` (B-MM only; empty otherwise).
//!
//! Cells that do not apply to a row kind are empty. Writing the trace reads the plan the step
//! already made and draws nothing, so it cannot change the run.

use crate::mixup::MixPlan;
use std::fs::File;
use std::path::Path;

/// An open trace file.
pub struct MixTrace {
    writer: csv::Writer<File>,
    modalities: usize,
}

impl MixTrace {
    /// Create (truncate) the trace at `path` for these modalities.
    pub fn create(path: &Path, modalities: &[String]) -> std::io::Result<Self> {
        let mut writer = csv::Writer::from_writer(File::create(path)?);
        writer.write_record(header(modalities))?;
        Ok(Self {
            writer,
            modalities: modalities.len(),
        })
    }

    /// Continue the trace of a resumed run that has done `steps_done` steps: rows of later
    /// steps (written after the last checkpoint, before a kill or interrupt) and any cut-off
    /// last line are dropped, and new rows are appended, so the trace of a resumed run equals
    /// the uninterrupted one byte for byte. A missing trace is created (and then covers only
    /// the steps from here on).
    pub fn resume(path: &Path, modalities: &[String], steps_done: u64) -> std::io::Result<Self> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Self::create(path, modalities);
        };
        let expected = header(modalities).join(",");
        let mut lines = text.split_inclusive('\n');
        if lines.next().map(str::trim_end) != Some(expected.as_str()) {
            return Err(std::io::Error::other(format!(
                "{}: not a mix-plan trace of this recipe (its header differs); remove it or choose another --trace-mixup file",
                path.display()
            )));
        }
        let fields = expected.split(',').count();
        let mut keep = format!("{expected}\n");
        for line in lines {
            let complete = line.ends_with('\n') && line.trim_end().split(',').count() == fields;
            let step = line.split(',').nth(2).and_then(|s| s.parse::<u64>().ok());
            if complete && step.is_some_and(|s| s < steps_done) {
                keep.push_str(line);
            }
        }
        crate::record::write_atomic(path, keep.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Self {
            writer: csv::Writer::from_writer(file),
            modalities: modalities.len(),
        })
    }

    /// Rows of one step.
    pub fn record(
        &mut self,
        epoch: usize,
        step: u64,
        n: usize,
        plan: Option<&MixPlan>,
        contribution: &[f64],
        ema: Option<&[f64]>,
    ) -> std::io::Result<()> {
        let m = self.modalities;
        for i in 0..n {
            let mut row = vec![
                "sample".to_string(),
                epoch.to_string(),
                step.to_string(),
                i.to_string(),
            ];
            match plan {
                Some(p) => {
                    row.push(p.perm[i].to_string());
                    row.push(p.label[i].to_string());
                    row.extend(p.modality.iter().map(|l| l[i].to_string()));
                }
                None => {
                    row.push(i.to_string());
                    row.push("1".into());
                    row.extend((0..m).map(|_| "1".to_string()));
                }
            }
            row.extend((0..2 * m).map(|_| String::new()));
            self.writer.write_record(&row)?;
        }
        let mut row = vec![
            "step".to_string(),
            epoch.to_string(),
            step.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ];
        row.extend((0..m).map(|_| String::new()));
        row.extend(contribution.iter().map(f64::to_string));
        match ema {
            Some(e) => row.extend(e.iter().map(f64::to_string)),
            None => row.extend((0..m).map(|_| String::new())),
        }
        self.writer.write_record(&row)?;
        Ok(())
    }

    /// Flush buffered rows.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// The header row.
fn header(modalities: &[String]) -> Vec<String> {
    let mut header: Vec<String> = ["kind", "epoch", "step", "sample", "partner", "lambda_label"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for prefix in ["lambda", "c", "ema"] {
        header.extend(modalities.iter().map(|m| format!("{prefix}_{m}")));
    }
    header
}
