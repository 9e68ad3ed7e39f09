//! Progress on stderr: a bar with loss, accuracy and ETA on a terminal; one line per epoch
//! otherwise (logs, CI); nothing with `--quiet`.

use super::trainer::StepDone;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Bar units per epoch.
const TICKS: u64 = 1000;

/// Progress display of one run.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    label: String,
}

impl Progress {
    /// A display for `epochs` epochs, starting after `done` of them (resume). The bar moves
    /// in [`TICKS`] per epoch, spread over the epoch's own batches, so an epoch whose list a
    /// method lengthens (or shortens) still fills exactly its share.
    pub fn new(quiet: bool, label: &str, epochs: usize, done: usize) -> Self {
        if quiet {
            return Self {
                bar: None,
                lines: false,
                label: label.into(),
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(
                Some(epochs as u64 * TICKS),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] epoch {msg} ETA {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar.set_position(done as u64 * TICKS);
            Self {
                bar: Some(bar),
                lines: false,
                label: label.into(),
            }
        } else {
            Self {
                bar: None,
                lines: true,
                label: label.into(),
            }
        }
    }

    /// After each step of `epoch` (0-based).
    pub fn step(&self, epoch: usize, epochs: usize, done: StepDone) {
        if let Some(bar) = &self.bar {
            let within = TICKS * done.batch as u64 / done.batches.max(1) as u64;
            bar.set_position(epoch as u64 * TICKS + within);
            if done.batch.is_multiple_of(8) || done.batch == done.batches {
                bar.set_message(format!("{}/{epochs} loss {:.4}", epoch + 1, done.loss));
            }
        }
    }

    /// After each epoch.
    pub fn epoch(
        &self,
        epoch: usize,
        epochs: usize,
        loss: f64,
        test_acc: f64,
        val: Option<f64>,
        secs: f64,
    ) {
        let val = val.map(|v| format!(" val {v:.4}")).unwrap_or_default();
        let text = format!("{epoch}/{epochs} loss {loss:.4}{val} test {test_acc:.4}");
        if let Some(bar) = &self.bar {
            bar.set_message(text);
        } else if self.lines && (epoch == epochs || epoch.is_multiple_of((epochs / 10).max(1))) {
            // Logs get about ten lines per run, not one per epoch.
            crate::term::eprint_line(&format!("{} epoch {text} ({secs:.2}s)", self.label));
        }
    }

    /// At the end.
    pub fn finish(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.bar.is_some() || self.lines {
            crate::term::eprint_line(&format!("{} {text}", self.label));
        }
    }
}
