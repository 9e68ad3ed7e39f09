//! `balmix table`: expand a table into runs, reuse complete runs whose resolved-recipe hash and
//! code version match, run the rest on `jobs` worker threads (each run single-threaded, so
//! results do not depend on `jobs`), and aggregate into a [`Report`].

use super::file::Table;
use crate::data::DataError;
use crate::recipe::Recipe;
use crate::record::Summary;
use crate::report::render::{Cell, ColumnInfo, RefValue, Report, Stat};
use crate::train::run::{run_seed, Outcome, RunError, RunOptions, RunState};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// How to run a table.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Root of run directories.
    pub out: PathBuf,
    /// Parallel runs.
    pub jobs: usize,
    /// No progress output.
    pub quiet: bool,
    /// Download cache.
    pub cache: Option<PathBuf>,
}

enum RunResult {
    Done {
        summary: Box<Summary>,
        reused: bool,
        /// Why a complete run was trained again (other code or data), if it was.
        because: Option<String>,
    },
    Diverged {
        seed: u64,
        epoch: usize,
    },
    DataMissing(String),
    Failed(String),
}

impl RunResult {
    /// The word the table's log line uses.
    fn word(&self) -> &'static str {
        match self {
            RunResult::Done { reused: true, .. } => "reused",
            RunResult::Done {
                because: Some(_), ..
            } => "trained again",
            RunResult::Done { .. } => "trained",
            RunResult::Diverged { .. } => "DIVERGED",
            RunResult::DataMissing(_) => "data not present",
            RunResult::Failed(_) => "FAILED",
        }
    }
}

/// A table expanded into its runs: the cells, each cell's resolved recipe (single-threaded,
/// as every table run is) or why it cannot be loaded, and the runs (cell index, seed) of the
/// cells that loaded, cell by cell, seeds in the table's order.
pub struct Expanded {
    /// The cells.
    pub cells: Vec<super::file::CellSpec>,
    /// Each cell's recipe.
    pub recipes: Vec<Result<Recipe, String>>,
    /// The runs.
    pub jobs: Vec<(usize, u64)>,
}

/// Expand `table` into its runs.
pub fn expand(table: &Table) -> Expanded {
    let load = |c: &super::file::CellSpec| {
        Recipe::load(&c.recipe, &c.sets)
            .map(|r| r.with_threads(1))
            .map_err(|e| e.to_string())
    };
    let mut cells = Vec::new();
    let mut recipes: Vec<Result<Recipe, String>> = Vec::new();
    for spec in table.cells() {
        let recipe = load(&spec);
        let split = recipe.as_ref().map(|r| r.dataset().split.clone());
        match split {
            // A k-fold recipe without a fold: one cell per fold, averaged in the report.
            Ok(crate::recipe::file::SplitSection {
                folds: Some(folds),
                fold: None,
                ..
            }) => {
                for i in 0..folds {
                    let mut one = spec.clone();
                    one.sets.push(format!("dataset.split.fold={i}"));
                    recipes.push(load(&one));
                    cells.push(one);
                }
            }
            _ => {
                recipes.push(recipe);
                cells.push(spec);
            }
        }
    }
    let seeds = &table.file.seeds;
    let jobs: Vec<(usize, u64)> = (0..cells.len())
        .filter(|&i| recipes[i].is_ok())
        .flat_map(|i| seeds.iter().map(move |&s| (i, s)))
        .collect();
    Expanded {
        cells,
        recipes,
        jobs,
    }
}

/// Run (or reuse) every cell and seed of `table` and build its report.
pub fn run_table(table: &Table, opts: &TableOptions) -> Report {
    execute(table, opts, &|_, recipe, seed| run_one(recipe, seed, opts))
}

/// The report of `table` from the runs already on disk, training nothing (after a Slurm
/// array). A complete run is counted as trained when `trained_here` holds its (cell, seed),
/// else as reused; a run that is not complete is a failed cell, with `why_missing`'s words.
pub fn collect_table(
    table: &Table,
    opts: &TableOptions,
    trained_here: &(dyn Fn(usize, u64) -> bool + Sync),
    why_missing: &(dyn Fn(usize, u64) -> String + Sync),
) -> Report {
    execute(
        table,
        opts,
        &|cell, recipe, seed| match crate::train::run::run_state(
            recipe,
            seed,
            &opts.out,
            opts.cache.clone(),
        ) {
            Ok(RunState::Complete(summary)) => RunResult::Done {
                summary,
                reused: !trained_here(cell, seed),
                because: None,
            },
            Ok(RunState::Diverged(d)) => RunResult::Diverged {
                seed,
                epoch: d.epoch,
            },
            Ok(RunState::NotComplete) => RunResult::Failed(why_missing(cell, seed)),
            Err(RunError::Data(DataError::LocalMissing { dataset, .. })) => {
                RunResult::DataMissing(data_missing(&dataset))
            }
            Err(e) => RunResult::Failed(e.to_string()),
        },
    )
}

/// The runs of `table` that are not complete under the run-identity rules (recipe, code and
/// data), in table order.
pub fn incomplete(table: &Table, opts: &TableOptions) -> Vec<(usize, u64)> {
    let expanded = expand(table);
    expanded
        .jobs
        .iter()
        .copied()
        .filter(|&(cell, seed)| {
            let recipe = expanded.recipes[cell]
                .as_ref()
                .expect("queued recipes load");
            !matches!(
                crate::train::run::run_state(recipe, seed, &opts.out, opts.cache.clone()),
                Ok(RunState::Complete(_)) | Ok(RunState::Diverged(_))
            )
        })
        .collect()
}

/// Run (or reuse) one run of a table, as the local runner does; `Ok(())` when it is complete
/// (or diverged, which the report shows), else why not.
pub fn run_task(recipe: &Recipe, seed: u64, opts: &TableOptions) -> Result<(), String> {
    match run_one(recipe, seed, opts) {
        RunResult::Done { .. } | RunResult::Diverged { .. } => Ok(()),
        RunResult::DataMissing(why) | RunResult::Failed(why) => Err(why),
    }
}

/// Every run of `table` through `one`, on `opts.jobs` worker threads, then the report.
fn execute(
    table: &Table,
    opts: &TableOptions,
    one: &(dyn Fn(usize, &Recipe, u64) -> RunResult + Sync),
) -> Report {
    let start = Instant::now();
    let Expanded {
        cells,
        recipes,
        jobs,
    } = expand(table);
    let results: Mutex<Vec<Option<RunResult>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let teachers = teacher_jobs(&recipes, &jobs);
    let finished = (
        Mutex::new(vec![false; jobs.len()]),
        std::sync::Condvar::new(),
    );
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let bar = progress(opts.quiet, jobs.len() as u64);
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(cell, seed)) = jobs.get(j) else {
                    break;
                };
                let recipe = recipes[cell]
                    .as_ref()
                    .expect("only valid recipes are queued");
                if crate::interrupt::interrupted() {
                    let why = "not run: interrupted".to_string();
                    results.lock().expect("results lock")[j] = Some(RunResult::Failed(why));
                    finished.0.lock().expect("finished lock")[j] = true;
                    finished.1.notify_all();
                    continue;
                }
                // A student waits for the teacher runs queued before it (a table lists their
                // rows first) to finish.
                let mut done_flags = finished.0.lock().expect("finished lock");
                while teachers[j].iter().any(|&t| !done_flags[t]) {
                    done_flags = finished.1.wait(done_flags).expect("finished lock");
                }
                drop(done_flags);
                let started = Instant::now();
                let result = one(cell, recipe, seed);
                let mut line = format!(
                    "[{}/{}] {} seed {seed}: {} ({:.1}s)",
                    done.fetch_add(1, Ordering::SeqCst) + 1,
                    jobs.len(),
                    recipe.run_name(),
                    result.word(),
                    started.elapsed().as_secs_f64()
                );
                if let RunResult::Failed(why) | RunResult::DataMissing(why) = &result {
                    line.push_str(&format!(": {}", why.lines().next().unwrap_or("")));
                }
                if let RunResult::Diverged { epoch, .. } = &result {
                    line.push_str(&format!(" in epoch {epoch}"));
                }
                if let RunResult::Done {
                    because: Some(why), ..
                } = &result
                {
                    line.push_str(&format!(": {why}"));
                }
                if let Some(bar) = &bar {
                    bar.println(line);
                    bar.inc(1);
                } else if !opts.quiet {
                    crate::term::eprint_line(&line);
                }
                results.lock().expect("results lock")[j] = Some(result);
                finished.0.lock().expect("finished lock")[j] = true;
                finished.1.notify_all();
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let results: Vec<RunResult> = results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect();
    build_report(
        table,
        &cells,
        &recipes,
        &jobs,
        results,
        start.elapsed().as_secs_f64(),
    )
}

/// For each job, the earlier jobs (same seed) whose runs its method reads as frozen models
/// (UMT's teachers, named beside the student's run). A teacher queued after its student is not
/// waited for: the student then reports that the teacher run is missing.
fn teacher_jobs(recipes: &[Result<Recipe, String>], jobs: &[(usize, u64)]) -> Vec<Vec<usize>> {
    let run_name = |cell: usize| recipes[cell].as_ref().map(|r| r.run_name()).ok();
    jobs.iter()
        .enumerate()
        .map(|(j, &(cell, seed))| {
            let Ok(recipe) = &recipes[cell] else {
                return Vec::new();
            };
            let method = crate::method::build::<dfdx::tensor::Cpu>(&recipe.method_settings(1));
            let names: Vec<String> = method
                .frozen_runs()
                .iter()
                .filter(|r| r.run_dir.is_relative())
                .map(|r| recipe.sibling_run_name(&r.run_dir.to_string_lossy()))
                .collect();
            jobs[..j]
                .iter()
                .enumerate()
                .filter(|&(_, &(c, s))| {
                    s == seed && run_name(c).is_some_and(|n| names.contains(&n))
                })
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
}

fn progress(quiet: bool, total: u64) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("table [{bar:30}] {pos}/{len} runs, ETA {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    Some(bar)
}

fn run_one(recipe: &Recipe, seed: u64, opts: &TableOptions) -> RunResult {
    let run_opts = RunOptions {
        out: opts.out.clone(),
        resume: true,
        quiet: true,
        cache: opts.cache.clone(),
        wait_for_lock: true,
        replace_different: true,
        ..RunOptions::default()
    };
    match run_seed(recipe, seed, &run_opts) {
        Ok(Outcome::AlreadyComplete(summary)) => RunResult::Done {
            summary: Box::new(summary),
            reused: true,
            because: None,
        },
        Ok(Outcome::Trained(summary)) => RunResult::Done {
            summary: Box::new(summary),
            reused: false,
            because: None,
        },
        Ok(Outcome::Retrained { summary, because }) => RunResult::Done {
            summary: Box::new(summary),
            reused: false,
            because: Some(because),
        },
        Ok(Outcome::Stopped { .. }) => RunResult::Failed("stopped early".into()),
        Err(RunError::Diverged { divergence, .. }) => RunResult::Diverged {
            seed,
            epoch: divergence.epoch,
        },
        Err(RunError::Data(DataError::LocalMissing { dataset, .. })) => {
            RunResult::DataMissing(data_missing(&dataset))
        }
        Err(e) => RunResult::Failed(e.to_string()),
    }
}

/// What a cell measured before the column's modality order is known.
enum Measured {
    Done {
        accuracy: Stat,
        macro_f1: Stat,
        per_modality: Vec<(String, Stat)>,
    },
    Problem(Cell),
}

fn build_report(
    table: &Table,
    cells: &[super::file::CellSpec],
    recipes: &[Result<Recipe, String>],
    jobs: &[(usize, u64)],
    results: Vec<RunResult>,
    wall: f64,
) -> Report {
    let f = &table.file;
    let (nr, nc) = (f.rows.len(), f.columns.len());
    let mut measured: Vec<Vec<Option<Measured>>> =
        (0..nr).map(|_| (0..nc).map(|_| None).collect()).collect();
    let mut modalities: Vec<Vec<String>> = vec![Vec::new(); nc];
    let mut finished: Vec<Vec<Vec<Summary>>> = vec![vec![Vec::new(); nc]; nr];
    let mut epochs: Vec<Vec<usize>> = vec![Vec::new(); nc];
    let (mut trained, mut reused, mut train_seconds) = (0, 0, 0.0);
    // The folds of a k-fold cell are separate runs of one table cell.
    let mut grouped: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    for (i, spec) in cells.iter().enumerate() {
        match grouped
            .iter_mut()
            .find(|g| (g.0, g.1) == (spec.row, spec.column))
        {
            Some(g) => g.2.push(i),
            None => grouped.push((spec.row, spec.column, vec![i])),
        }
    }
    for (row, column, members) in grouped {
        let slot = &mut measured[row][column];
        let recipe = match members.iter().map(|&i| &recipes[i]).find(|r| r.is_err()) {
            Some(Err(e)) => {
                *slot = Some(Measured::Problem(Cell::Failed(e.clone())));
                continue;
            }
            _ => recipes[members[0]].as_ref().expect("checked above"),
        };
        let mut summaries = Vec::new();
        let mut problem = None;
        let mut diverged: Vec<(u64, usize)> = Vec::new();
        for (j, _) in jobs
            .iter()
            .enumerate()
            .filter(|(_, (cell, _))| members.contains(cell))
        {
            match &results[j] {
                RunResult::Done {
                    summary,
                    reused: true,
                    ..
                } => {
                    reused += 1;
                    summaries.push((**summary).clone());
                }
                RunResult::Done {
                    summary,
                    reused: false,
                    ..
                } => {
                    trained += 1;
                    train_seconds += summary.seconds;
                    summaries.push((**summary).clone());
                }
                RunResult::Diverged { seed, epoch } => {
                    diverged.push((*seed, *epoch));
                }
                RunResult::DataMissing(why) => problem = Some(Cell::DataMissing(why.clone())),
                RunResult::Failed(why) => problem = problem.or(Some(Cell::Failed(why.clone()))),
            }
        }
        if !epochs[column].contains(&recipe.train().epochs) {
            epochs[column].push(recipe.train().epochs);
        }
        for m in &recipe.dataset().modalities {
            if !modalities[column].contains(m) {
                modalities[column].push(m.clone());
            }
        }
        if problem.is_none() && !diverged.is_empty() {
            // A diverged seed is never averaged: the cell reports the divergence.
            problem = Some(Cell::Diverged(diverged));
        }
        if problem.is_none() {
            finished[row][column] = summaries.clone();
        }
        *slot = Some(match problem {
            Some(p) => Measured::Problem(p),
            None => Measured::Done {
                accuracy: Stat::of(
                    &summaries
                        .iter()
                        .map(|s| s.test_accuracy)
                        .collect::<Vec<_>>(),
                ),
                macro_f1: Stat::of(
                    &summaries
                        .iter()
                        .map(|s| s.test_macro_f1)
                        .collect::<Vec<_>>(),
                ),
                per_modality: recipe
                    .dataset()
                    .modalities
                    .iter()
                    .map(|m| {
                        (
                            m.clone(),
                            Stat::of(
                                &summaries
                                    .iter()
                                    .filter_map(|s| s.modality_accuracy.get(m).copied())
                                    .collect::<Vec<_>>(),
                            ),
                        )
                    })
                    .collect(),
            },
        });
    }
    // The weak modality first where the column names it.
    for (c, col) in f.columns.iter().enumerate() {
        if let Some(pos) = col
            .weak
            .as_ref()
            .and_then(|w| modalities[c].iter().position(|m| m == w))
        {
            let m = modalities[c].remove(pos);
            modalities[c].insert(0, m);
        }
        epochs[c].sort_unstable();
    }
    let grid: Vec<Vec<Cell>> = measured
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .map(|(c, m)| match m {
                    None => Cell::Skipped,
                    Some(Measured::Problem(p)) => p,
                    Some(Measured::Done {
                        accuracy,
                        macro_f1,
                        per_modality,
                    }) => Cell::Done {
                        accuracy,
                        macro_f1,
                        modalities: modalities[c]
                            .iter()
                            .map(|name| {
                                per_modality
                                    .iter()
                                    .find(|(n, _)| n == name)
                                    .map(|(_, s)| *s)
                            })
                            .collect(),
                    },
                })
                .collect()
        })
        .collect();
    let references = (0..nr)
        .map(|r| {
            (0..nc)
                .map(|c| {
                    table.reference(r, c).map(|x| RefValue {
                        value: x.value,
                        source: x.source.clone(),
                    })
                })
                .collect()
        })
        .collect();
    let folds = recipes
        .iter()
        .flatten()
        .find_map(|r| r.dataset().split.folds);
    Report {
        title: f.title.clone(),
        protocol: f.protocol.clone(),
        seeds: f.seeds.clone(),
        folds,
        columns: f
            .columns
            .iter()
            .enumerate()
            .map(|(c, col)| ColumnInfo {
                label: col.label.clone(),
                modalities: modalities[c].clone(),
                epochs: epochs[c].clone(),
            })
            .collect(),
        rows: f.rows.iter().map(|r| r.label.clone()).collect(),
        cells: grid,
        references,
        code_version: crate::build_info::code_version(),
        runs: (trained, reused),
        seconds: (wall, train_seconds),
        robustness: crate::report::robustness::build(
            &f.rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
            &f.columns
                .iter()
                .map(|c| c.label.clone())
                .collect::<Vec<_>>(),
            f.robustness_baseline
                .as_ref()
                .and_then(|k| f.rows.iter().position(|r| &r.key == k)),
            &finished,
        ),
    }
}

/// What a cell whose dataset is not here says: the paper's datasets name the command that
/// prepares them; every local dataset points at `balmix data verify`.
fn data_missing(dataset: &str) -> String {
    let verify =
        format!("`balmix data verify {dataset}` lists what is missing and how to prepare it");
    match crate::media::layout::AvDataset::parse(dataset) {
        Some(_) => {
            let var = format!("BALMIX_{}", dataset.to_uppercase().replace('-', "_"));
            format!("`{dataset}` must be prepared locally: `balmix data prepare {dataset} --from RAW --to DIR`, then `export {var}=DIR`; {verify}")
        }
        None => format!("`{dataset}` must be prepared locally; {verify}"),
    }
}
