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
    }
}

fn load(args: &RecipeArgs, extra: &[String]) -> Result<Recipe> {
    let mut sets = args.sets.clone();
    sets.extend_from_slice(extra);
    Ok(Recipe::load(&args.recipe, &sets)?)
}

fn check(args: RecipeArgs) -> Result<ExitCode> {
    let recipe = load(&args, &[])?;
    print!("{}", recipe.to_toml());
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<ExitCode> {
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
            stop_after_epochs: None,
            cache: args.cache_dir.clone(),
        };
        let dir = opts.out.join(recipe.name()).join(format!("seed-{seed}"));
        let outcome = run_seed(&recipe, seed, &opts)
            .with_context(|| format!("run {} seed {seed}", recipe.name()))?;
        match outcome {
            Outcome::Trained(s) => println!("{}", describe(&s, &dir)),
            Outcome::AlreadyComplete(s) => {
                println!(
                    "{} (already complete; pass --force to train again)",
                    describe(&s, &dir)
                )
            }
            Outcome::Stopped { epochs_done } => {
                println!("{}: stopped after {epochs_done} epochs", dir.display())
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(s: &balmix::train::record::Summary, dir: &std::path::Path) -> String {
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
    let opts = BenchOptions {
        steps: args.steps,
        warmup: args.warmup,
        threads: args.threads,
        repeats: 5,
        peak_gflops_per_core: args.peak_gflops,
        cache: args.cache_dir.clone(),
    };
    let r = bench(&recipe, &opts)?;
    let windows: Vec<String> = r.windows.iter().map(|w| format!("{w:.1}")).collect();
    println!("recipe            {}", recipe.name());
    println!("device            {:?}", recipe.train().device);
    println!("threads           {}", args.threads);
    println!("batch             {}", r.batch);
    println!(
        "steps/s           {:.1} (median of 5 windows: {})",
        r.steps_per_second,
        windows.join(", ")
    );
    println!("samples/s         {:.0}", r.samples_per_second);
    println!(
        "MFLOP/step        {:.1} (forward {:.1}, x3 for training)",
        r.step_flops / 1e6,
        r.forward_flops / 1e6
    );
    println!("GFLOP/s           {:.1}", r.gflops);
    println!(
        "% of peak         {:.1}% of {} x {:.0} GFLOP/s",
        100.0 * r.peak_fraction,
        args.threads,
        args.peak_gflops
    );
    if let Some(m) = r.peak_memory_bytes {
        println!("peak memory       {:.1} MiB", m as f64 / 1048576.0);
    }
    Ok(ExitCode::SUCCESS)
}
