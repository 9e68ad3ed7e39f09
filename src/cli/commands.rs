//! Command implementations.

use super::args::{Cli, Command, RecipeArgs, RunArgs};
use anyhow::{Context, Result};
use balmix::recipe::Recipe;
use balmix::train::run::{run_seed, Outcome, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Check(args) => check(args),
        Command::Data(cmd) => super::data::dispatch(cmd),
        Command::Table(args) => super::table::table(args),
        Command::Plot(args) => super::table::plot(args),
        Command::Bench(args) => bench(args),
        Command::Eval(args) => super::eval::eval(args),
    }
}

fn load(args: &RecipeArgs, extra: &[String]) -> Result<Recipe> {
    let mut sets = args.sets.clone();
    sets.extend_from_slice(extra);
    Ok(Recipe::load_with_unset(&args.recipe, &sets, &args.unsets)?)
}

fn check(args: RecipeArgs) -> Result<ExitCode> {
    let recipe = load(&args, &[])?;
    balmix::term::print_text(&recipe.to_toml());
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<ExitCode> {
    if let Some(t) = args.threads {
        check_threads("--threads", t)?;
    }
    let mut extra: Vec<String> = args
        .threads
        .map(|t| format!("train.threads={t}"))
        .into_iter()
        .collect();
    extra.extend(
        args.device
            .as_ref()
            .map(|d| format!("train.device=\"{d}\"")),
    );
    let recipe = load(&args.recipe, &extra)?;
    check_threads("train.threads", recipe.train().threads)?;
    let seeds = recipe.seeds().to_vec();
    for &seed in &seeds {
        let trace = args
            .trace_mixup
            .as_ref()
            .map(|p| trace_path(p, seed, seeds.len()));
        let opts = RunOptions {
            out: args.out.clone(),
            resume: args.resume,
            force: args.force,
            quiet: args.quiet,
            trace_mixup: trace,
            cache: args.cache_dir.clone(),
            ..RunOptions::default()
        };
        let dir = opts.out.join(recipe.name()).join(format!("seed-{seed}"));
        let outcome = run_seed(&recipe, seed, &opts)
            .with_context(|| format!("run {} seed {seed}", recipe.name()))?;
        let line = match outcome {
            Outcome::Trained(s) => describe(&s, &dir),
            Outcome::Retrained { summary, because } => {
                format!("{} (trained again: {because})", describe(&summary, &dir))
            }
            Outcome::AlreadyComplete(s) => format!(
                "{} (already complete with this recipe, code and data; pass --force to train again)",
                describe(&s, &dir)
            ),
            Outcome::Stopped { epochs_done } => {
                format!("{}: stopped after {epochs_done} epochs", dir.display())
            }
        };
        balmix::term::print_line(&line);
    }
    Ok(ExitCode::SUCCESS)
}

/// Threads beyond the machine's parallelism only slow a run down (and thousands never start).
pub(super) fn check_threads(flag: &'static str, threads: usize) -> Result<()> {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 0 || threads > available {
        return Err(super::BadFlag {
            flag,
            problem: format!(
                "{threads} threads requested; this machine runs 1 to {available} at once — choose a value in that range"
            ),
        }
        .into());
    }
    Ok(())
}

fn describe(s: &balmix::record::Summary, dir: &std::path::Path) -> String {
    let per_mod: Vec<String> = s
        .modality_accuracy
        .iter()
        .map(|(m, a)| format!("{m} {a:.4}"))
        .collect();
    format!(
        "{} seed {}: test accuracy {:.4}, macro-F1 {:.4}, per modality [{}], epoch {}/{} ({}), {:.1}s -> {}",
        s.name,
        s.seed,
        s.test_accuracy,
        s.test_macro_f1,
        per_mod.join(", "),
        s.selected_epoch,
        s.epochs,
        s.select,
        s.seconds,
        dir.display()
    )
}

fn trace_path(path: &std::path::Path, seed: u64, seeds: usize) -> PathBuf {
    if seeds <= 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("trace");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("csv");
    path.with_file_name(format!("{stem}.seed-{seed}.{ext}"))
}

fn bench(args: super::args::BenchArgs) -> Result<ExitCode> {
    use balmix::train::bench::{bench, BenchOptions};
    let device: Vec<String> = args
        .device
        .iter()
        .map(|d| format!("train.device=\"{d}\""))
        .collect();
    let recipe = load(&args.recipe, &device)?;
    check_threads("--threads", args.threads)?;
    if args.steps == 0 {
        return Err(super::BadFlag {
            flag: "--steps",
            problem: "must be at least 1 (timed steps)".into(),
        }
        .into());
    }
    if let Some(p) = args.peak_gflops.filter(|p| !(p.is_finite() && *p > 0.0)) {
        return Err(super::BadFlag {
            flag: "--peak-gflops",
            problem: format!("must be a positive number of GFLOP/s (got {p})"),
        }
        .into());
    }
    let opts = BenchOptions {
        steps: args.steps,
        warmup: args.warmup,
        threads: args.threads,
        repeats: 5,
        peak_gflops_per_core: args.peak_gflops,
        cache: args.cache_dir.clone(),
    };
    // The method's cost relative to plain training of the same model: the same recipe with
    // `[mixup]`, `[modulation]`, `[losses]` and `[method]` removed, timed before and after it.
    let plain = if args.no_plain {
        None
    } else {
        let mut unsets = args.recipe.unsets.clone();
        unsets.extend(["mixup", "modulation", "losses", "method"].map(String::from));
        let mut sets = args.recipe.sets.clone();
        sets.extend_from_slice(&device);
        let plain = Recipe::load_with_unset(&args.recipe.recipe, &sets, &unsets)?;
        (plain.result_hash() != recipe.result_hash()).then_some(plain)
    };
    let before = plain.as_ref().map(|p| bench(p, &opts)).transpose()?;
    let r = bench(&recipe, &opts)?;
    let after = plain.as_ref().map(|p| bench(p, &opts)).transpose()?;
    let windows: Vec<String> = r.windows.iter().map(|&w| significant(w)).collect();
    balmix::term::print_line(&format!("recipe            {}", recipe.name()));
    balmix::term::print_line(&format!("device            {:?}", recipe.train().device));
    balmix::term::print_line(&format!("threads           {}", args.threads));
    balmix::term::print_line(&format!("batch             {}", r.batch));
    balmix::term::print_line(&format!(
        "steps/s           {} (median of 5 windows: {})",
        significant(r.steps_per_second),
        windows.join(", ")
    ));
    balmix::term::print_line(&format!(
        "samples/s         {}",
        significant(r.samples_per_second)
    ));
    balmix::term::print_line(&format!(
        "MFLOP/step        {:.1} (forward {:.1}, x3 for training)",
        r.step_flops / 1e6,
        r.forward_flops / 1e6
    ));
    balmix::term::print_line(&format!("GFLOP/s           {:.1}", r.gflops));
    if let (Some(fraction), Some(peak)) = (r.peak_fraction, args.peak_gflops) {
        balmix::term::print_line(&format!(
            "% of peak         {:.1}% of {} x {peak:.0} GFLOP/s",
            100.0 * fraction,
            args.threads,
        ));
    }
    if let (Some(b), Some(a)) = (&before, &after) {
        let plain_steps = (b.steps_per_second + a.steps_per_second) / 2.0;
        balmix::term::print_line(&format!(
            "vs plain          {:.2}x the time per step of the same model without the method ({:.1} steps/s, timed before and after: {:.1}, {:.1})",
            plain_steps / r.steps_per_second,
            plain_steps,
            b.steps_per_second,
            a.steps_per_second
        ));
    }
    if let Some(m) = r.peak_memory_bytes {
        balmix::term::print_line(&format!(
            "peak memory       {:.1} MiB",
            m as f64 / 1048576.0
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// A speed with three significant digits (at least none after the point): 32586, 509,
/// 2.41, 0.301.
fn significant(v: f64) -> String {
    let digits = if v > 0.0 && v.is_finite() {
        (2 - v.log10().floor() as i32).max(0) as usize
    } else {
        1
    };
    format!("{v:.digits$}")
}
