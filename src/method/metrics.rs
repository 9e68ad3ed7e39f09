//! Method metrics: the named values a method reports each step, and how the training loop
//! reduces them to one value per epoch without knowing their names. A method declares its
//! columns once ([`crate::method::Method::metric_columns`]); `metrics.csv` and TensorBoard
//! take their column names and tags from there.

use super::engine::StepStats;
use serde::{Deserialize, Serialize};

/// How an epoch's value of a metric is formed from its steps' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// A per-batch mean: the epoch's value is the mean over samples (each step's value
    /// weighted by its batch size).
    SampleMean,
    /// A sum over the batch: the epoch's value is Σ / samples.
    SampleSum,
    /// The mean over the epoch's steps.
    StepMean,
    /// The last value a step reported; an epoch in which no step reported one keeps the
    /// previous epoch's value (blank until one is reported).
    Latest,
}

/// One metric column a method reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricColumn {
    /// Column name in `metrics.csv`, e.g. `contribution_audio`.
    pub name: String,
    /// TensorBoard tag, e.g. `contribution/audio`.
    pub tag: String,
    /// How steps' values become the epoch's.
    pub reduce: Reduce,
}

impl MetricColumn {
    /// The column `<group>_<modality>` with tag `<group>/<modality>`.
    pub fn per_modality(group: &str, modality: &str, reduce: Reduce) -> MetricColumn {
        MetricColumn {
            name: format!("{group}_{modality}"),
            tag: format!("{group}/{modality}"),
            reduce,
        }
    }
}

/// One epoch's value of a method metric, as recorded in `metrics.csv` and checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// Column name ([`MetricColumn::name`]).
    pub name: String,
    /// TensorBoard tag ([`MetricColumn::tag`]).
    pub tag: String,
    /// The epoch's value; `None` when no step has reported one yet.
    pub value: Option<f64>,
}

/// The columns every method of this release reports: the mean contribution `c_m` over
/// training samples, its running average `ĉ_m` (methods that keep one: B-MM), the mean
/// mixing ratios λ_m and λ_y (1 for unmixed samples) and the mean gradient coefficient k_m
/// over steps (OGM-GE's k_m; 1 when nothing scales the gradients).
pub fn standard_columns(modalities: &[String]) -> Vec<MetricColumn> {
    let group = |g: &str, r: Reduce| -> Vec<MetricColumn> {
        modalities
            .iter()
            .map(|m| MetricColumn::per_modality(g, m, r))
            .collect()
    };
    let mut c = group("contribution", Reduce::SampleMean);
    c.extend(group("contribution_ema", Reduce::Latest));
    c.extend(group("lambda", Reduce::SampleSum));
    c.push(MetricColumn {
        name: "lambda_label".into(),
        tag: "lambda/label".into(),
        reduce: Reduce::SampleSum,
    });
    c.extend(group("grad_k", Reduce::StepMean));
    c
}

/// The values of [`standard_columns`] for one step on a batch of `n` samples.
pub fn standard_values(s: &StepStats, n: usize, modalities: usize) -> Vec<Option<f64>> {
    let (lambdas, label) = s.lambda_sums(n, modalities);
    let mut v: Vec<Option<f64>> = s.contribution.iter().map(|&c| Some(c)).collect();
    match &s.contribution_ema {
        Some(e) => v.extend(e.iter().map(|&c| Some(c))),
        None => v.extend((0..modalities).map(|_| None)),
    }
    v.extend(lambdas.into_iter().map(Some));
    v.push(Some(label));
    v.extend(s.coefficients.iter().map(|&k| Some(k)));
    v
}

/// Reduces the steps' values of a method's columns to the epoch's ([`Reduce`]).
#[derive(Debug, Clone)]
pub struct EpochReducer {
    columns: Vec<MetricColumn>,
    sums: Vec<f64>,
    latest: Vec<Option<f64>>,
    samples: usize,
    steps: usize,
}

impl EpochReducer {
    /// A reducer of `columns`, with the previous epoch's values (for [`Reduce::Latest`]).
    pub fn new(columns: Vec<MetricColumn>, previous: Option<&[MetricValue]>) -> EpochReducer {
        let latest = columns
            .iter()
            .map(|c| {
                previous
                    .and_then(|p| p.iter().find(|v| v.name == c.name))
                    .and_then(|v| v.value)
            })
            .collect();
        EpochReducer {
            sums: vec![0.0; columns.len()],
            columns,
            latest,
            samples: 0,
            steps: 0,
        }
    }

    /// Add one step's `values` (in column order) on a batch of `n` samples. A value of
    /// `None` is "not reported": a [`Reduce::Latest`] column keeps its value; the other
    /// reductions count it as 0.
    ///
    /// # Panics
    /// When `values` does not have one entry per column: the method's
    /// [`crate::method::Method::step_metrics`] disagrees with its own columns, a bug.
    pub fn add(&mut self, values: &[Option<f64>], n: usize) {
        assert_eq!(
            values.len(),
            self.columns.len(),
            "a method reported {} metric values for {} columns",
            values.len(),
            self.columns.len()
        );
        for (i, (c, v)) in self.columns.iter().zip(values).enumerate() {
            match c.reduce {
                Reduce::SampleMean => self.sums[i] += v.unwrap_or(0.0) * n as f64,
                Reduce::SampleSum => self.sums[i] += v.unwrap_or(0.0),
                Reduce::StepMean => self.sums[i] += v.unwrap_or(0.0),
                Reduce::Latest => {
                    if v.is_some() {
                        self.latest[i] = *v;
                    }
                }
            }
        }
        self.samples += n;
        self.steps += 1;
    }

    /// The epoch's values, in column order.
    pub fn finish(self) -> Vec<MetricValue> {
        let samples = self.samples as f64;
        let steps = self.steps.max(1) as f64;
        self.columns
            .into_iter()
            .zip(self.sums)
            .zip(self.latest)
            .map(|((c, sum), latest)| {
                let value = match c.reduce {
                    Reduce::SampleMean | Reduce::SampleSum => Some(sum / samples),
                    Reduce::StepMean => Some(sum / steps),
                    Reduce::Latest => latest,
                };
                MetricValue {
                    name: c.name,
                    tag: c.tag,
                    value,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, reduce: Reduce) -> MetricColumn {
        MetricColumn {
            name: name.into(),
            tag: name.into(),
            reduce,
        }
    }

    #[test]
    fn each_reduction_weights_steps_as_its_name_says() {
        let columns = vec![
            column("mean", Reduce::SampleMean),
            column("sum", Reduce::SampleSum),
            column("step", Reduce::StepMean),
            column("latest", Reduce::Latest),
        ];
        let mut r = EpochReducer::new(columns, None);
        // Batches of 3 and 1 samples: a sample mean weights the first 3:1, a step mean 1:1.
        r.add(&[Some(2.0), Some(6.0), Some(2.0), Some(7.0)], 3);
        r.add(&[Some(6.0), Some(2.0), Some(6.0), None], 1);
        let got: Vec<Option<f64>> = r.finish().into_iter().map(|v| v.value).collect();
        assert_eq!(got, vec![Some(3.0), Some(2.0), Some(4.0), Some(7.0)]);
    }

    #[test]
    fn latest_carries_the_previous_epoch_when_no_step_reports() {
        let previous = [MetricValue {
            name: "ema".into(),
            tag: "ema".into(),
            value: Some(0.25),
        }];
        let mut r = EpochReducer::new(vec![column("ema", Reduce::Latest)], Some(&previous));
        r.add(&[None], 4);
        assert_eq!(r.finish()[0].value, Some(0.25));
        let mut fresh = EpochReducer::new(vec![column("ema", Reduce::Latest)], None);
        fresh.add(&[None], 4);
        assert_eq!(fresh.finish()[0].value, None);
    }

    #[test]
    fn standard_values_follow_standard_columns() {
        let names = ["a".to_string(), "v".to_string()];
        let s = StepStats {
            loss: 1.0,
            contribution: vec![0.25, 0.75],
            contribution_ema: None,
            plan: None,
            coefficients: vec![1.0, 0.5],
        };
        let cols = standard_columns(&names);
        let vals = standard_values(&s, 4, 2);
        assert_eq!(cols.len(), vals.len());
        let named: Vec<(&str, Option<f64>)> =
            cols.iter().map(|c| c.name.as_str()).zip(vals).collect();
        assert_eq!(
            named,
            vec![
                ("contribution_a", Some(0.25)),
                ("contribution_v", Some(0.75)),
                ("contribution_ema_a", None),
                ("contribution_ema_v", None),
                ("lambda_a", Some(4.0)),
                ("lambda_v", Some(4.0)),
                ("lambda_label", Some(4.0)),
                ("grad_k_a", Some(1.0)),
                ("grad_k_v", Some(0.5)),
            ]
        );
    }
}
