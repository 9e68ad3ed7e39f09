//! One run of one seed, end to end: the run directory's lock, its identity (recipe, code,
//! data) against what is there, the resolved recipe first, training with per-epoch metrics and
//! checkpoints, then weights and summary written atomically — or a divergence record, or a
//! clean stop on an interrupt.

use super::checkpoint::{self, CheckpointError};
use super::progress::Progress;
use super::trace::MixTrace;
use super::trainer::{Divergence, StepError, Trainer};
use crate::data::{self, DataError};
use crate::model::Backend;
use crate::recipe::file::{DeviceKind, EvalSelect};
use crate::recipe::Recipe;
use crate::record::lock::{LockError, RunLock};
use crate::record::Identity;
use crate::record::{self, Summary};
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
    /// Write the mix-plan trace here (appended to on resume).
    pub trace_mixup: Option<PathBuf>,
    /// Stop (resumably) after this many epochs in this invocation — for chunked runs and tests.
    pub stop_after_epochs: Option<usize>,
    /// Download cache folder (default: `$BALMIX_CACHE`, else `~/.cache/balmix`).
    pub cache: Option<PathBuf>,
    /// Wait for another process's lock on the run directory instead of failing at once
    /// (tables: a run another table is training is waited for, then reused).
    pub wait_for_lock: bool,
    /// Replace a complete or diverged run of a different recipe under the same name instead
    /// of refusing (tables, whose cells own their names).
    pub replace_different: bool,
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
            wait_for_lock: false,
            replace_different: false,
        }
    }
}

/// What a call to [`run_seed`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Trained to the end; the summary was written.
    Trained(Summary),
    /// A complete run of the same recipe was there, but the code or data differ: trained
    /// again; `because` says what changed.
    Retrained {
        /// The new summary.
        summary: Summary,
        /// What changed, in words.
        because: String,
    },
    /// The run was already complete (same recipe, code and data) and was left untouched.
    AlreadyComplete(Summary),
    /// Stopped early by `stop_after_epochs`; resumable.
    Stopped {
        /// Epochs done so far.
        epochs_done: usize,
    },
}

impl Outcome {
    /// The summary of a finished run.
    pub fn summary(&self) -> Option<&Summary> {
        match self {
            Outcome::Trained(s) | Outcome::AlreadyComplete(s) => Some(s),
            Outcome::Retrained { summary, .. } => Some(summary),
            Outcome::Stopped { .. } => None,
        }
    }
}

/// Why a run failed.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum RunError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{dir}: a run of a different recipe is here (the resolved recipes differ; see its recipe.resolved.toml); pass --force to replace it, or choose another --out or name")]
    DifferentRecipe { dir: String },
    #[error("{dir}: an interrupted run is here (checkpoint after epoch {epochs}); pass --resume to continue it or --force to start over")]
    Interrupted { dir: String, epochs: usize },
    #[error("{dir}: another balmix process{} is writing this run; wait for it to finish, or stop it first", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { dir: String, pid: Option<u32> },
    #[error("{dir}: training diverged in epoch {} at step {}: the {}. Usual causes: a learning rate too high (optim.lr), too much weight decay (optim.weight_decay), or exploding gradients (set train.grad_clip). The run is recorded as diverged in {}; change the recipe and run again, or pass --force", .divergence.epoch, .divergence.step, .divergence.what, record::DIVERGED)]
    Diverged { dir: String, divergence: Divergence },
    #[error("interrupted at epoch {epoch} — continue with --resume ({dir})")]
    Stopped {
        dir: String,
        epoch: usize,
        signal: i32,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{reason}\nThe run stopped; its checkpoint after the last finished epoch (if any) is kept in {dir}: repair or restore the file (`balmix data verify` checks a prepared folder), then run again with --resume")]
    MediaRead { dir: String, reason: String },
    #[error("train.batch_size = {batch} is larger than the training set ({train} samples), so every step would see the whole set; choose at most {train}")]
    BatchTooLarge { batch: usize, train: usize },
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads { threads: usize, reason: String },
    #[error("train.device = \"cuda\": this binary was built without CUDA support; rebuild with `cargo build --release --features cuda` (or scripts/build-cuda.sh without a local CUDA toolkit), or set train.device = \"cpu\" / BALMIX_DEVICE=cpu")]
    CudaNotBuilt,
    #[error("train.device = \"cuda\": {0}")]
    CudaUnavailable(String),
    #[error("the method cannot train this model: {0}")]
    Unsupported(&'static str),
    #[error("the training method broke the seam's contract: {0} (a bug in the method)")]
    MethodContract(String),
    #[error(transparent)]
    Frozen(#[from] super::frozen::FrozenError),
}

impl RunError {
    /// Whether the error is the user's input (recipe, flags, data) rather than the machine or
    /// the run's state: the command then exits 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RunError::BatchTooLarge { .. } => true,
            RunError::Data(e) => e.is_bad_input(),
            _ => false,
        }
    }
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
    run_on_device(&recipe, seed, opts, &pool)
}

fn run_on_device(
    recipe: &Recipe,
    seed: u64,
    opts: &RunOptions,
    pool: &rayon::ThreadPool,
) -> Result<Outcome, RunError> {
    // Devices are created inside the pool: a CUDA device may not cross threads.
    match recipe.train().device {
        DeviceKind::Cpu => {
            pool.install(|| run_on(recipe, seed, opts, dfdx::tensor::Cpu::default()))
        }
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => pool.install(|| {
            let dev = crate::model::backend::cuda_device().map_err(RunError::CudaUnavailable)?;
            run_on(recipe, seed, opts, dev)
        }),
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(RunError::CudaNotBuilt),
    }
}

/// Where a run stands on disk, read without training, locking or clearing anything.
#[derive(Debug, Clone)]
pub enum RunState {
    /// Complete, with the same recipe, code and data: its summary.
    Complete(Box<Summary>),
    /// Recorded as diverged with the same recipe, code and data.
    Diverged(Divergence),
    /// Anything else: absent, interrupted, being trained, or of other code, data or recipe.
    NotComplete,
}

/// Where the run of `recipe` with seed `seed` under `out` stands (see [`RunState`]), by the
/// same identity rules [`run_seed`] applies before it trains.
pub fn run_state(
    recipe: &Recipe,
    seed: u64,
    out: &Path,
    cache: Option<PathBuf>,
) -> Result<RunState, RunError> {
    let recipe = recipe.for_seed(seed);
    let dir = record::run_dir(out, &recipe.run_name(), seed);
    let Some((found, summary, divergence)) = recorded(&dir) else {
        return Ok(RunState::NotComplete);
    };
    let identity = identity_of(&recipe, &data::Cache::new(cache))?;
    if found.recipe_hash != identity.recipe_hash || !identity.changes_from(&found).is_empty() {
        return Ok(RunState::NotComplete);
    }
    Ok(match (summary, divergence) {
        (Some(s), _) => RunState::Complete(Box::new(s)),
        (None, Some(d)) => RunState::Diverged(d),
        (None, None) => RunState::NotComplete,
    })
}

/// The identity a run of `recipe` would have now: its recipe hash, this binary's code
/// fingerprint and the fingerprint of the data it reads.
fn identity_of(recipe: &Recipe, cache: &data::Cache) -> Result<Identity, RunError> {
    let names: Vec<String> = recipe.dataset().modalities.clone();
    Ok(Identity {
        recipe_hash: recipe.result_hash(),
        code_fingerprint: crate::build_info::code_fingerprint().to_string(),
        data_fingerprint: data::fingerprint::fingerprint(recipe.manifest(), &names, cache)?,
    })
}

/// What `dir` records of a finished run: its identity and summary, or its identity and
/// divergence; `None` when it holds neither.
fn recorded(dir: &Path) -> Option<(Identity, Option<Summary>, Option<Divergence>)> {
    record::read_summary(dir)
        .map(|s| (s.identity(), Some(s), None))
        .or_else(|| record::read_diverged(dir).map(|d| (d.identity, None, Some(d.divergence))))
}

/// What is in a run directory before this invocation trains, once its lock is held.
enum Existing {
    Nothing,
    Complete(Box<Summary>),
    /// A complete or diverged run of the same recipe whose code or data differ.
    Stale(String),
}

/// Inspect the run directory `dir` (nothing is removed here: a stale run is cleared only once
/// the new data has loaded, so data that fails to load never costs the old run).
fn existing(dir: &Path, identity: &Identity, opts: &RunOptions) -> Result<Existing, RunError> {
    let shown = || dir.display().to_string();
    if opts.force {
        return Ok(Existing::Nothing);
    }
    let Some((found, summary, divergence)) = recorded(dir) else {
        return Ok(Existing::Nothing);
    };
    if found.recipe_hash != identity.recipe_hash && !opts.replace_different {
        return Err(RunError::DifferentRecipe { dir: shown() });
    }
    let mut changes = identity.changes_from(&found);
    // A result read from frozen models (teachers) is stale once one of them was retrained.
    let frozen = summary.as_ref().map_or(&[][..], |s| &s.frozen[..]);
    changes.extend(frozen.iter().filter_map(|f| f.changed()));
    if changes.is_empty() {
        return match (summary, divergence) {
            (Some(s), _) => Ok(Existing::Complete(Box::new(s))),
            (None, Some(divergence)) => Err(RunError::Diverged {
                dir: shown(),
                divergence,
            }),
            (None, None) => Ok(Existing::Nothing),
        };
    }
    Ok(Existing::Stale(changes.join("; ")))
}

/// A run's folder and what its files are checked against, shared by the stages of [`run_on`].
struct RunContext<'a> {
    recipe: &'a Recipe,
    seed: u64,
    opts: &'a RunOptions,
    dir: PathBuf,
    checkpoint: PathBuf,
    /// The modalities (column names of the records).
    names: Vec<String>,
    identity: Identity,
    /// Why an earlier result in the folder is trained again (stale), if it is.
    because: Option<String>,
}

impl RunContext<'_> {
    fn log(&self, line: &str) {
        if !self.opts.quiet {
            crate::term::eprint_line(line);
        }
    }

    fn media_read(&self, e: crate::data::error::MediaReadError) -> RunError {
        RunError::MediaRead {
            dir: self.dir.display().to_string(),
            reason: e.0,
        }
    }
}

/// Run `recipe` with `seed` on `dev`, in stages: open the folder (lock, identity, an earlier
/// result), load the data, resume or start, fit the epochs, finish (model, summary).
fn run_on<D: Backend>(
    recipe: &Recipe,
    seed: u64,
    opts: &RunOptions,
    dev: D,
) -> Result<Outcome, RunError> {
    let dir = record::run_dir(&opts.out, &recipe.run_name(), seed);
    let _lock = RunLock::acquire(&dir, opts.wait_for_lock).map_err(|e| match e {
        LockError::Held(pid) => RunError::Locked {
            dir: dir.display().to_string(),
            pid,
        },
        LockError::Io(e) => io(&dir)(e),
    })?;
    let cache = data::Cache::new(opts.cache.clone());
    let cx = match open(recipe, seed, opts, dir, &cache)? {
        Ok(cx) => cx,
        Err(done) => return Ok(done),
    };
    let (data, splits) = load_data(&cx, &cache)?;
    let mut trainer =
        Trainer::new(recipe, seed, &data, &splits, dev).map_err(|e| cx.media_read(e))?;
    trainer.attach_frozen(&opts.out, &cache, &|m| cx.log(m))?;
    let resumed = resume(&cx, &mut trainer)?;
    start_records(&cx, &mut trainer, resumed)?;
    let progress = Progress::new(
        opts.quiet,
        &format!("{} seed {seed}", recipe.run_name()),
        recipe.train().epochs,
        trainer.epochs_done,
    );
    if let Some(stopped) = fit(&cx, &mut trainer, &progress)? {
        return Ok(stopped);
    }
    let outcome = finish(cx, &mut trainer, &data, &splits)?;
    if let Outcome::Trained(summary) | Outcome::Retrained { summary, .. } = &outcome {
        progress.finish(&format!(
            "done: test accuracy {:.4} (epoch {}), {:.1}s",
            summary.test_accuracy, summary.selected_epoch, summary.seconds
        ));
    }
    Ok(outcome)
}

/// Clean what a killed process left, compute the run's identity, and look at an earlier
/// result: `Err(outcome)` when the folder already holds this run, complete.
fn open<'a>(
    recipe: &'a Recipe,
    seed: u64,
    opts: &'a RunOptions,
    dir: PathBuf,
    cache: &data::Cache,
) -> Result<Result<RunContext<'a>, Outcome>, RunError> {
    record::clean_leftovers(&dir).map_err(io(&dir))?;
    let identity = identity_of(recipe, cache)?;
    let because = match existing(&dir, &identity, opts)? {
        Existing::Complete(summary) => return Ok(Err(Outcome::AlreadyComplete(*summary))),
        Existing::Stale(why) => Some(why),
        Existing::Nothing => None,
    };
    let cx = RunContext {
        recipe,
        seed,
        opts,
        checkpoint: dir.join(record::CHECKPOINT),
        dir,
        names: recipe.dataset().modalities.clone(),
        identity,
        because,
    };
    if let Some(why) = &cx.because {
        cx.log(&format!("{}: training again: {why}", cx.dir.display()));
    }
    Ok(Ok(cx))
}

/// The run's data, checked to fit its batch size; only then does a forced or stale run's
/// folder make way (data that fails to load never costs the old run).
fn load_data(
    cx: &RunContext,
    cache: &data::Cache,
) -> Result<(data::Dataset, data::Splits), RunError> {
    let (data, splits) = data::load(&cx.recipe.data_settings(), cache, &|line| cx.log(line))?;
    let batch = cx.recipe.train().batch_size;
    if batch > splits.train.len() {
        return Err(RunError::BatchTooLarge {
            batch,
            train: splits.train.len(),
        });
    }
    if cx.opts.force || cx.because.is_some() {
        record::clear_run_dir(&cx.dir).map_err(io(&cx.dir))?;
    }
    Ok((data, splits))
}

/// Restore the folder's checkpoint when there is one (and `--resume` allows it). A table's
/// cell (`replace_different`) owns its run: a checkpoint of another recipe, code or data is
/// cleared instead. Returns whether the run resumed.
fn resume<D: Backend>(cx: &RunContext, trainer: &mut Trainer<D>) -> Result<bool, RunError> {
    let param_names = trainer.model.store.names();
    let path = &cx.checkpoint;
    if cx.opts.replace_different && path.exists() {
        if let Err(CheckpointError::IdentityMismatch { changes, .. }) =
            checkpoint::load(path, &param_names, &cx.identity, &trainer.frozen)
        {
            cx.log(&format!("{}: starting over: {changes}", cx.dir.display()));
            record::clear_run_dir(&cx.dir).map_err(io(&cx.dir))?;
        }
    }
    if !path.exists() {
        return Ok(false);
    }
    let (state, tensors) = checkpoint::load(path, &param_names, &cx.identity, &trainer.frozen)?;
    if !cx.opts.resume {
        return Err(RunError::Interrupted {
            dir: cx.dir.display().to_string(),
            epochs: state.epochs_done,
        });
    }
    trainer.restore(state, tensors)?;
    Ok(true)
}

/// The resolved recipe, the metrics so far (none, or the resumed epochs') and the mix-plan
/// trace, written before the first new epoch.
fn start_records<D: Backend>(
    cx: &RunContext,
    trainer: &mut Trainer<D>,
    resumed: bool,
) -> Result<(), RunError> {
    let resolved = cx.dir.join(record::RESOLVED_RECIPE);
    record::write_atomic(&resolved, cx.recipe.to_toml().as_bytes()).map_err(io(&resolved))?;
    record::write_metrics(
        &cx.dir,
        &cx.names,
        &trainer.metric_columns(),
        &trainer.metrics,
    )
    .map_err(io(&cx.dir))?;
    record::tensorboard::write_events(&cx.dir, &cx.names, &trainer.metrics).map_err(io(&cx.dir))?;
    if let Some(path) = &cx.opts.trace_mixup {
        let trace = if resumed {
            MixTrace::resume(path, &cx.names, trainer.step)
        } else {
            MixTrace::create(path, &cx.names)
        };
        trainer.trace = Some(trace.map_err(io(path))?);
    }
    Ok(())
}

/// Train the remaining epochs, recording each (metrics, events, trace, then the checkpoint
/// that covers them). `Some(outcome)` when `--stop-after-epochs` stopped it early.
fn fit<D: Backend>(
    cx: &RunContext,
    trainer: &mut Trainer<D>,
    progress: &Progress,
) -> Result<Option<Outcome>, RunError> {
    let epochs = cx.recipe.train().epochs;
    let mut this_call = 0;
    while trainer.epochs_done < epochs {
        if cx.opts.stop_after_epochs.is_some_and(|s| this_call >= s) {
            flush_trace(trainer, cx.opts)?;
            return Ok(Some(Outcome::Stopped {
                epochs_done: trainer.epochs_done,
            }));
        }
        let epoch = trainer.epochs_done;
        let row = trainer
            .run_epoch(&mut |done| progress.step(epoch, epochs, done))
            .map_err(|e| epoch_failed(cx, progress, epoch, e))?;
        record::append_metrics(&cx.dir, &row).map_err(io(&cx.dir))?;
        record::tensorboard::write_events(&cx.dir, &cx.names, &trainer.metrics)
            .map_err(io(&cx.dir))?;
        // The trace is flushed before the checkpoint that covers its rows.
        flush_trace(trainer, cx.opts)?;
        let (state, tensors) = trainer.checkpoint(&cx.identity);
        checkpoint::save(&cx.checkpoint, &state, &tensors).map_err(io(&cx.checkpoint))?;
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
    flush_trace(trainer, cx.opts)?;
    Ok(None)
}

/// What a failed epoch ends the run with; a divergence is recorded in the folder first.
fn epoch_failed(cx: &RunContext, progress: &Progress, epoch: usize, e: StepError) -> RunError {
    let dir = cx.dir.display().to_string();
    match e {
        StepError::Diverged(divergence) => {
            progress.finish("diverged");
            let rec = record::DivergedRecord {
                identity: cx.identity.clone(),
                divergence: divergence.clone(),
            };
            let path = cx.dir.join(record::DIVERGED);
            let written = serde_json::to_string_pretty(&rec)
                .map_err(std::io::Error::from)
                .and_then(|json| record::write_atomic(&path, json.as_bytes()));
            match written {
                Ok(()) => RunError::Diverged { dir, divergence },
                Err(e) => io(&path)(e),
            }
        }
        StepError::Interrupted => {
            progress.finish("interrupted");
            RunError::Stopped {
                dir,
                epoch: epoch + 1,
                signal: crate::interrupt::signal().unwrap_or(2),
            }
        }
        StepError::Trace(e) => io(&cx.opts.trace_mixup.clone().unwrap_or_default())(e),
        StepError::Unsupported(what) => RunError::Unsupported(what),
        StepError::Contract(what) => RunError::MethodContract(what),
        StepError::Data(e) => {
            progress.finish("stopped");
            cx.media_read(e)
        }
    }
}

/// The selected weights as the model file, the robustness scores, the summary; then the
/// checkpoint goes (a kill in between leaves both, and the next start removes the checkpoint).
fn finish<D: Backend>(
    cx: RunContext,
    trainer: &mut Trainer<D>,
    data: &data::Dataset,
    splits: &data::Splits,
) -> Result<Outcome, RunError> {
    let (selected, weights) = trainer.selected();
    let mut tensors = trainer.model.store.named_host_tensors();
    for (t, w) in tensors.iter_mut().zip(weights) {
        t.2 = w;
    }
    let model_path = cx.dir.join(record::MODEL);
    let model_bytes = record::safetensors_bytes(&tensors, None);
    record::write_atomic(&model_path, &model_bytes).map_err(io(&model_path))?;
    let robustness = trainer.robustness().map_err(|e| cx.media_read(e))?;
    if !robustness.is_empty() {
        let path = cx.dir.join(record::ROBUSTNESS);
        record::write_robustness(&path, &cx.names, &robustness).map_err(io(&path))?;
    }
    let summary = summary_of(
        &cx,
        trainer,
        &selected,
        (data, splits),
        robustness,
        &model_bytes,
    );
    let summary_path = cx.dir.join(record::SUMMARY);
    let json = serde_json::to_string_pretty(&summary).map_err(|e| io(&summary_path)(e.into()))?;
    record::write_atomic(&summary_path, json.as_bytes()).map_err(io(&summary_path))?;
    std::fs::remove_file(&cx.checkpoint).map_err(io(&cx.checkpoint))?;
    Ok(match cx.because {
        Some(because) => Outcome::Retrained { summary, because },
        None => Outcome::Trained(summary),
    })
}

/// The run's summary: its identity, the selected epoch's scores, the robustness rows, how
/// the data was split and the model file's digest.
fn summary_of<D: Backend>(
    cx: &RunContext,
    trainer: &Trainer<D>,
    selected: &crate::record::metrics::EpochMetrics,
    (data, splits): (&data::Dataset, &data::Splits),
    robustness: Vec<record::RobustnessRow>,
    model_bytes: &[u8],
) -> Summary {
    let recipe = cx.recipe;
    Summary {
        name: recipe.name().to_string(),
        seed: cx.seed,
        recipe_hash: cx.identity.recipe_hash.clone(),
        code_fingerprint: cx.identity.code_fingerprint.clone(),
        data_fingerprint: cx.identity.data_fingerprint.clone(),
        code_version: crate::build_info::code_version(),
        epochs: recipe.train().epochs,
        select: match recipe.train().eval.select {
            EvalSelect::Last => "last".into(),
            EvalSelect::BestVal => "best-val".into(),
        },
        selected_epoch: selected.epoch,
        test_accuracy: selected.test_accuracy,
        test_macro_f1: selected.test_macro_f1,
        val_accuracy: selected.val_accuracy,
        modality_accuracy: cx
            .names
            .iter()
            .cloned()
            .zip(selected.modality_accuracy.iter().copied())
            .collect::<BTreeMap<_, _>>(),
        final_train_loss: trainer.metrics.last().map_or(f64::NAN, |m| m.train_loss),
        steps: trainer.step,
        parameters: trainer.model.store.count(),
        seconds: trainer.seconds,
        peak_memory_bytes: record::peak_memory_bytes(),
        robustness,
        manifest_dir: recipe
            .manifest()
            .dir
            .as_ref()
            .map(|d| d.display().to_string()),
        split: Some(record::SplitRecord::of(
            &recipe.dataset().split,
            data,
            splits,
        )),
        model_sha256: Some(crate::digest::sha256_hex(model_bytes)),
        frozen: trainer.frozen.clone(),
    }
}

fn flush_trace<D: Backend>(trainer: &mut Trainer<D>, opts: &RunOptions) -> Result<(), RunError> {
    if let (Some(t), Some(path)) = (trainer.trace.as_mut(), &opts.trace_mixup) {
        t.flush().map_err(io(path))?;
    }
    Ok(())
}
