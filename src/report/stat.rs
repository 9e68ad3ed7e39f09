//! A metric's mean, sample standard deviation and count over seeds (or folds × seeds), and how
//! a report shows it: shared by the table report ([`super::render`]) and its robustness part
//! ([`super::robustness`]).

use serde::{Deserialize, Serialize};

/// Mean, standard deviation (n − 1) and count of a metric over seeds, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one seed).
    pub std: f64,
    /// Number of seeds.
    pub n: usize,
}

impl Stat {
    /// Statistics of `values` (fractions, reported in percent).
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        let pct: Vec<f64> = values.iter().map(|v| v * 100.0).collect();
        let mean = pct.iter().sum::<f64>() / n.max(1) as f64;
        let std = if n > 1 {
            (pct.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Stat { mean, std, n }
    }

    /// `mean ± std`, or `mean (n = 1)` for one seed, whose spread is unknown, not zero.
    pub(crate) fn show(&self) -> String {
        if self.n == 1 {
            format!("{:.1} (n = 1)", self.mean)
        } else {
            format!("{:.1} ± {:.1}", self.mean, self.std)
        }
    }

    /// [`Stat::show`], with `(n = k)` added where the cell ran fewer than `most` runs (one seed
    /// already says `(n = 1)`), so a table whose cells differ in n says which.
    pub(crate) fn show_among(&self, most: usize) -> String {
        if self.n != 1 && self.n < most {
            format!("{} (n = {})", self.show(), self.n)
        } else {
            self.show()
        }
    }
}
