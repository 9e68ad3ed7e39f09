//! `balmix bench`: time training steps of a recipe's model on its data, and put the speed in
//! context (FLOP count, share of the machine's peak, peak memory).

use super::run::RunError;
use super::trainer::{StepError, Trainer};
use crate::data::{self, Cache, Dataset, Splits};
use crate::model::{Backend, Model};
use crate::recipe::file::DeviceKind;
use crate::recipe::Recipe;
use std::time::Instant;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Timed steps (split into `repeats` equal windows; the median window is reported).
    pub steps: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Kernel threads.
    pub threads: usize,
    /// Timing windows.
    pub repeats: usize,
    /// Peak f32 GFLOP/s of one core, for the "% of peak" figure (none: no such figure).
    pub peak_gflops_per_core: Option<f64>,
    /// Download cache.
    pub cache: Option<std::path::PathBuf>,
    /// Where a method's frozen runs are read from (UMT's teachers, seed 0), as `balmix run
    /// --out` writes them.
    pub out: std::path::PathBuf,
}

/// Measured speed.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// Steps per second of each window.
    pub windows: Vec<f64>,
    /// Median of `windows`.
    pub steps_per_second: f64,
    /// Samples per second at the median.
    pub samples_per_second: f64,
    /// Forward FLOPs of one batch (matrix products only).
    pub forward_flops: f64,
    /// FLOPs of one training step (3 × forward: forward, input and weight gradients).
    pub step_flops: f64,
    /// Achieved GFLOP/s at the median.
    pub gflops: f64,
    /// Share of `threads × peak`, when a peak was given.
    pub peak_fraction: Option<f64>,
    /// Peak resident memory of the process, bytes.
    pub peak_memory_bytes: Option<u64>,
    /// Batch size.
    pub batch: usize,
}

/// Largest spread of a measurement's windows, (max − min) / median, still called steady: past
/// it the speed (and any ratio to another measurement) moves with the machine's load.
pub const STEADY_SPREAD: f64 = 0.10;

/// (max − min) / median of the windows' speeds (0 for fewer than two windows).
pub fn window_spread(windows: &[f64]) -> f64 {
    if windows.len() < 2 {
        return 0.0;
    }
    let mut sorted = windows.to_vec();
    sorted.sort_by(f64::total_cmp);
    (sorted[sorted.len() - 1] - sorted[0]) / median(&sorted)
}

/// The middle value of sorted, non-empty `values` (the upper one of an even count).
fn median(sorted: &[f64]) -> f64 {
    sorted[sorted.len() / 2]
}

impl BenchResult {
    /// (max − min) / median of [`BenchResult::windows`].
    pub fn spread(&self) -> f64 {
        window_spread(&self.windows)
    }

    /// A warning when the windows spread more than [`STEADY_SPREAD`]: names `what` was timed,
    /// the spread and the window range, and suggests ten times the `steps`.
    pub fn unsteady_warning(&self, what: &str, steps: usize) -> Option<String> {
        let spread = self.spread();
        if spread <= STEADY_SPREAD {
            return None;
        }
        let (lo, hi) = self
            .windows
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &w| {
                (a.min(w), b.max(w))
            });
        Some(format!(
            "warning: the {} timing windows of {what} spread {:.0} % ({lo:.0} to {hi:.0} steps/s; (max − min) / median, more than the {:.0} % of a steady measurement): its speed and any ratio to it are unreliable; rerun with more steps, e.g. --steps {}",
            self.windows.len(),
            100.0 * spread,
            100.0 * STEADY_SPREAD,
            10 * steps.max(1)
        ))
    }
}

/// Forward FLOPs of the model on a batch of `b` (2 per multiply-add of every matrix product).
pub fn forward_flops<D: Backend>(model: &Model<D>, b: usize) -> f64 {
    model
        .matmul_shapes()
        .iter()
        .map(|(rows, inner, cols)| 2.0 * (b * rows * inner * cols) as f64)
        .sum()
}

/// Time training steps of `recipe` (seed 0) on the recipe's `train.device`.
pub fn bench(recipe: &Recipe, opts: &BenchOptions) -> Result<BenchResult, RunError> {
    let cache = Cache::new(opts.cache.clone());
    let (data, splits) = data::load(&recipe.data_settings(), &cache, &|line| {
        crate::term::eprint_line(line)
    })?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .expect("thread pool");
    // Devices are created inside the pool: a CUDA device may not cross threads.
    pool.install(|| match recipe.train().device {
        DeviceKind::Cpu => time_steps(recipe, opts, &data, &splits, dfdx::tensor::Cpu::default()),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            let dev = crate::model::backend::cuda_device().map_err(RunError::CudaUnavailable)?;
            time_steps(recipe, opts, &data, &splits, dev)
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(RunError::CudaNotBuilt),
    })
}

fn time_steps<D: Backend>(
    recipe: &Recipe,
    opts: &BenchOptions,
    data: &Dataset,
    splits: &Splits,
    dev: D,
) -> Result<BenchResult, RunError> {
    let b = recipe.train().batch_size;
    let lr = recipe.optimizer().lr;
    {
        let mut trainer = Trainer::new(recipe, 0, data, splits, dev).map_err(media_read)?;
        trainer.attach_frozen(&opts.out, &Cache::new(opts.cache.clone()), &|_| {})?;
        let batches: Vec<Vec<usize>> = splits
            .train
            .chunks(b)
            .filter(|c| c.len() == b)
            .map(<[usize]>::to_vec)
            .collect();
        let mut k = 0;
        let mut step = |trainer: &mut Trainer<D>| -> Result<(), RunError> {
            trainer
                .train_step(&batches[k % batches.len()], 0, lr)
                .map_err(step_error)?;
            k += 1;
            Ok(())
        };
        // The method's epoch hook once (e.g. PMR's prototypes), so its steps do their real work;
        // the hook's own per-epoch cost is not part of the per-step time.
        trainer.start_epoch(0).map_err(step_error)?;
        for _ in 0..opts.warmup {
            step(&mut trainer)?;
        }
        let per = (opts.steps / opts.repeats.max(1)).max(1);
        let mut windows = Vec::new();
        for _ in 0..opts.repeats.max(1) {
            let t = Instant::now();
            for _ in 0..per {
                step(&mut trainer)?;
            }
            windows.push(per as f64 / t.elapsed().as_secs_f64());
        }
        let mut sorted = windows.clone();
        sorted.sort_by(f64::total_cmp);
        let median = median(&sorted);
        let fwd = forward_flops(&trainer.model, b);
        let gflops = 3.0 * fwd * median / 1e9;
        Ok(BenchResult {
            windows,
            steps_per_second: median,
            samples_per_second: median * b as f64,
            forward_flops: fwd,
            step_flops: 3.0 * fwd,
            gflops,
            peak_fraction: opts
                .peak_gflops_per_core
                .map(|p| gflops / (p * opts.threads.max(1) as f64)),
            peak_memory_bytes: crate::record::peak_memory_bytes(),
            batch: b,
        })
    }
}

/// What a failed step of the benchmark ends it with.
fn step_error(e: StepError) -> RunError {
    match e {
        StepError::Diverged(divergence) => RunError::Diverged {
            dir: BENCH_DIR.into(),
            divergence,
        },
        StepError::Interrupted => RunError::Stopped {
            dir: BENCH_DIR.into(),
            epoch: 1,
            signal: crate::interrupt::signal().unwrap_or(2),
        },
        StepError::Trace(e) => RunError::Io {
            path: "trace".into(),
            source: e,
        },
        StepError::Unsupported(what) => RunError::Unsupported(what),
        StepError::Contract(what) => RunError::MethodContract(what),
        StepError::Data(e) => media_read(e),
    }
}

/// A media file the benchmark could not read.
fn media_read(e: crate::data::error::MediaReadError) -> RunError {
    RunError::MediaRead {
        dir: BENCH_DIR.into(),
        reason: e.0,
    }
}

/// How the benchmark names itself where a run names its folder.
const BENCH_DIR: &str = "balmix bench";

#[cfg(test)]
mod tests {
    use super::*;

    fn result(windows: &[f64]) -> BenchResult {
        BenchResult {
            windows: windows.to_vec(),
            steps_per_second: 0.0,
            samples_per_second: 0.0,
            forward_flops: 0.0,
            step_flops: 0.0,
            gflops: 0.0,
            peak_fraction: None,
            peak_memory_bytes: None,
            batch: 1,
        }
    }

    #[test]
    fn spread_is_range_over_median_of_the_windows() {
        // Sorted 1124, 1800, 1900, 2000, 2206: median 1900, range 1082.
        let s = window_spread(&[1124.0, 2206.0, 1800.0, 1900.0, 2000.0]);
        assert!((s - 1082.0 / 1900.0).abs() < 1e-12, "{s}");
        assert_eq!(window_spread(&[1500.0]), 0.0);
        assert_eq!(window_spread(&[]), 0.0);
    }

    /// The windows of the MM measurement that reported 0.61x plain (1124 to 2206 steps/s)
    /// warn; windows within 10 % of their median, or exactly at it, do not.
    #[test]
    fn windows_spread_more_than_ten_percent_warn_and_suggest_more_steps() {
        let noisy = result(&[1124.0, 2206.0, 1800.0, 1900.0, 2000.0]);
        let w = noisy.unsteady_warning("bmm", 50).expect("a warning");
        assert_eq!(
            w,
            "warning: the 5 timing windows of bmm spread 57 % (1124 to 2206 steps/s; (max − min) / median, more than the 10 % of a steady measurement): its speed and any ratio to it are unreliable; rerun with more steps, e.g. --steps 500"
        );
        // Range 60 over median 1010: 5.9 %.
        let steady = result(&[1000.0, 1020.0, 1050.0, 990.0, 1010.0]);
        assert_eq!(steady.unsteady_warning("bmm", 50), None);
        // Range 100 over median 1000: exactly 10 %, not more.
        let edge = result(&[950.0, 1000.0, 1050.0]);
        assert!((edge.spread() - 0.10).abs() < 1e-12);
        assert_eq!(edge.unsteady_warning("bmm", 50), None);
    }
}
