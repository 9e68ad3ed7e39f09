//! One run of one seed, end to end: run directory, resolved recipe first, training with
//! per-epoch metrics and checkpoints, then weights and summary written atomically.

use super::checkpoint::{self, CheckpointError};
use super::progress::Progress;
use super::record::{self, Summary};
use super::trace::MixTrace;
use super::trainer::Trainer;
use crate::data::{self, DataError};
use crate::model::Backend;
use crate::recipe::file::{DeviceKind, EvalSelect};
use crate::recipe::Recipe;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Root of run directories. Default `runs`.
    pub out: PathBuf,
    /// Continue an interrupted run from its checkpoint.
    pub resume: bool,
    /// Delete an existing run (complete or not) and start over.
    pub force: bool,
    /// No progress output.
    pub quiet: bool,
    /// Write the mix-plan trace here.
    pub trace_mixup: Option<PathBuf>,
    /// Stop (resumably) after this many epochs in this invocation — for chunked runs and tests.
    pub stop_after_epochs: Option<usize>,
    /// Download cache folder (default: `$BALMIX_CACHE`, else `~/.cache/balmix`).
    pub cache: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from("runs"),
            resume: false,
            force: false,
            quiet: true,
            trace_mixup: None,
            stop_after_epochs: None,
            cache: None,
        }
    }
}

/// What a call to [`run_seed`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Trained to the end; the summary was written.
    Trained(Summary),
    /// The run was already complete and was left untouched.
    AlreadyComplete(Summary),
    /// Stopped early by `stop_after_epochs`; resumable.
    Stopped {
        /// Epochs done so far.
        epochs_done: usize,
    },
}

/// Why a run failed.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum RunError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{dir}: a complete run of a different recipe is here (the resolved recipes differ; see its recipe.resolved.toml); pass --force to replace it, or choose another --out or name")]
    DifferentRecipe { dir: String },
    #[error("{dir}: an interrupted run is here (checkpoint after epoch {epochs}); pass --resume to continue it or --force to start over")]
    Interrupted { dir: String, epochs: usize },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads { threads: usize, reason: String },
    #[error("train.device = \"cuda\": this binary was built without CUDA support; rebuild with `cargo build --release --features cuda` (or scripts/build-cuda.sh without a local CUDA toolkit), or set train.device = \"cpu\" / BALMIX_DEVICE=cpu")]
    CudaNotBuilt,
    #[error("train.device = \"cuda\": {0}")]
    CudaUnavailable(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Run `recipe` with master seed `seed`.
pub fn run_seed(recipe: &Recipe, seed: u64, opts: &RunOptions) -> Result<Outcome, RunError> {
    let threads = recipe.train().threads;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::Threads {
            threads,
            reason: e.to_string(),
        })?;
    let recipe = recipe.for_seed(seed);
    // Devices are created inside the pool: a CUDA device may not cross threads.
    match recipe.train().device {
        DeviceKind::Cpu => {
            pool.install(|| run_on(&recipe, seed, opts, dfdx::tensor::Cpu::default()))
        }
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => pool.install(|| {
            let dev = crate::model::backend::cuda_device().map_err(RunError::CudaUnavailable)?;
            run_on(&recipe, seed, opts, dev)
        }),
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(RunError::CudaNotBuilt),
    }
}

/// One run on device `dev`: the same code for every device.
fn run_on<D: Backend>(
    recipe: &Recipe,
    seed: u64,
    opts: &RunOptions,
    dev: D,
) -> Result<Outcome, RunError> {
    let dir = record::run_dir(&opts.out, recipe.name(), seed);
    let checkpoint_path = dir.join(record::CHECKPOINT);
    if opts.force && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    let hash = recipe.result_hash();
    if let Some(summary) = record::read_summary(&dir) {
        if summary.recipe_hash != hash {
            return Err(RunError::DifferentRecipe {
                dir: dir.display().to_string(),
            });
        }
        return Ok(Outcome::AlreadyComplete(summary));
    }
    let names: Vec<String> = recipe.dataset().modalities.clone();
    let cache = data::Cache::new(opts.cache.clone());
    let quiet = opts.quiet;
    let (data, splits) = data::load(recipe, &cache, &|line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    })?;
    let mut trainer = Trainer::new(recipe, seed, &data, &splits, dev);
    let param_names: Vec<String> = trainer
        .model
        .store
        .params
        .iter()
        .map(|p| p.name.clone())
        .collect();

    if checkpoint_path.exists() {
        let (state, tensors) = checkpoint::load(&checkpoint_path, &param_names, &hash)?;
        if !opts.resume {
            return Err(RunError::Interrupted {
                dir: dir.display().to_string(),
                epochs: state.epochs_done,
            });
        }
        trainer.restore(state, tensors);
    } else {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    }
    let resolved = dir.join(record::RESOLVED_RECIPE);
    record::write_atomic(&resolved, recipe.to_toml().as_bytes()).map_err(io(&resolved))?;
    record::write_metrics(&dir, &names, &trainer.metrics).map_err(io(&dir))?;
    if let Some(path) = &opts.trace_mixup {
        trainer.trace = Some(MixTrace::create(path, &names).map_err(io(path))?);
    }

    let epochs = recipe.train().epochs;
    let per_epoch = trainer.steps_per_epoch() as u64;
    let label = format!("{} seed {seed}", recipe.name());
    let progress = Progress::new(
        opts.quiet,
        &label,
        per_epoch * epochs as u64,
        trainer.epochs_done as u64 * per_epoch,
    );
    let mut this_call = 0;
    while trainer.epochs_done < epochs {
        if opts.stop_after_epochs.is_some_and(|s| this_call >= s) {
            flush_trace(&mut trainer, opts)?;
            return Ok(Outcome::Stopped {
                epochs_done: trainer.epochs_done,
            });
        }
        let epoch = trainer.epochs_done;
        let row = trainer.run_epoch(&mut |loss| progress.step(epoch, epochs, loss));
        record::append_metrics(&dir, &row).map_err(io(&dir))?;
        let (state, tensors) = trainer.checkpoint(&hash);
        checkpoint::save(&checkpoint_path, &state, &tensors).map_err(io(&checkpoint_path))?;
        progress.epoch(
            row.epoch,
            epochs,
            row.train_loss,
            row.test_accuracy,
            row.val_accuracy,
            row.seconds,
        );
        this_call += 1;
    }
    flush_trace(&mut trainer, opts)?;

    let (selected, weights) = trainer.selected();
    let mut tensors = record::store_tensors(&trainer.model.store);
    for (t, w) in tensors.iter_mut().zip(weights) {
        t.2 = w;
    }
    let model_path = dir.join(record::MODEL);
    record::write_atomic(&model_path, &record::safetensors_bytes(&tensors, None))
        .map_err(io(&model_path))?;
    let summary = Summary {
        name: recipe.name().to_string(),
        seed,
        recipe_hash: hash,
        code_version: crate::code_version(),
        epochs,
        select: match recipe.train().eval.select {
            EvalSelect::Last => "last".into(),
            EvalSelect::BestVal => "best-val".into(),
        },
        selected_epoch: selected.epoch,
        test_accuracy: selected.test_accuracy,
        test_macro_f1: selected.test_macro_f1,
        val_accuracy: selected.val_accuracy,
        modality_accuracy: names
            .iter()
            .cloned()
            .zip(selected.modality_accuracy.iter().copied())
            .collect::<BTreeMap<_, _>>(),
        final_train_loss: trainer.metrics.last().map_or(f64::NAN, |m| m.train_loss),
        steps: trainer.step,
        parameters: trainer.model.store.count(),
        seconds: trainer.seconds,
        peak_memory_bytes: record::peak_memory_bytes(),
    };
    let summary_path = dir.join(record::SUMMARY);
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    record::write_atomic(&summary_path, json.as_bytes()).map_err(io(&summary_path))?;
    std::fs::remove_file(&checkpoint_path).map_err(io(&checkpoint_path))?;
    progress.finish(&format!(
        "done: test accuracy {:.4} (epoch {}), {:.1}s",
        summary.test_accuracy, summary.selected_epoch, summary.seconds
    ));
    Ok(Outcome::Trained(summary))
}

fn flush_trace<D: Backend>(trainer: &mut Trainer<D>, opts: &RunOptions) -> Result<(), RunError> {
    if let (Some(t), Some(path)) = (trainer.trace.as_mut(), &opts.trace_mixup) {
        t.flush().map_err(io(path))?;
    }
    Ok(())
}
