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
        Command::Summary(args) => summary(args),
        Command::Keys { section } => keys(section.as_deref()),
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

/// Every recipe key (or those under `section`): path, type, default, then its meaning.
fn keys(section: Option<&str>) -> Result<ExitCode> {
    let all = balmix::recipe::keys::keys();
    let chosen: Vec<_> = all
        .iter()
        .filter(|k| section.is_none_or(|s| k.path == s || k.path.starts_with(&format!("{s}."))))
        .collect();
    if chosen.is_empty() {
        let sections: Vec<&str> = all
            .iter()
            .map(|k| k.path.split('.').next().unwrap_or(""))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err(super::BadFlag {
            flag: "SECTION",
            problem: format!(
                "no recipe key under `{}`; sections: {}",
                section.unwrap_or(""),
                sections.join(", ")
            ),
        }
        .into());
    }
    let mut out = String::new();
    for k in chosen {
        let default = if k.default.is_empty() {
            String::new()
        } else {
            format!("  (default {})", k.default)
        };
        out.push_str(&format!("{}  {}{default}\n", k.path, k.ty));
        if !k.meaning.is_empty() {
            out.push_str(&format!("    {}\n", k.meaning));
        }
    }
    balmix::term::print_text(&out);
    Ok(ExitCode::SUCCESS)
}

/// The recipe's model, built as a run's seed 0 would build it (no data is read: widths and
/// classes come from the manifest).
fn summary(args: RecipeArgs) -> Result<ExitCode> {
    use balmix::model::params::Group;
    let recipe = load(&args, &[])?;
    let manifest = recipe.manifest();
    let names = &recipe.dataset().modalities;
    let widths: Vec<usize> = names
        .iter()
        .map(|n| {
            manifest
                .modalities
                .iter()
                .find(|m| &m.name == n)
                .map_or(0, |m| m.width)
        })
        .collect();
    let mut model: balmix::model::Model<dfdx::tensor::Cpu> = balmix::model::Model::build(
        &recipe.model_settings(),
        &widths,
        manifest.classes.len(),
        0,
        Default::default(),
    );
    // Parameters the training method owns (AMCo's layer) are part of the model it trains.
    balmix::method::build::<dfdx::tensor::Cpu>(&recipe.method_settings(1)).add_parameters(
        &mut model,
        &mut balmix::rng::stream(0, balmix::rng::Stream::MethodInit, 0),
    );
    let mut out = format!(
        "{} ({} classes; modalities {})\n",
        recipe.name(),
        manifest.classes.len(),
        names
            .iter()
            .zip(&widths)
            .map(|(n, w)| format!("{n} {w} wide"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let part = |g: Group| match g {
        Group::Encoder(m) => format!("encoder {}", names[m]),
        Group::Fusion => "fusion and head".to_string(),
        Group::Probe(m) => format!("probe {}", names[m]),
        Group::Method => "training method".to_string(),
    };
    let mut totals: Vec<(String, usize, usize)> = Vec::new();
    for p in &model.store.params {
        let dims = p.tensor.dims();
        let n: usize = dims.iter().product();
        let shape = dims
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("×");
        let kind = if p.buffer { " (buffer)" } else { "" };
        out.push_str(&format!("  {:<56} {:>14} {:>11}{kind}\n", p.name, shape, n));
        let name = part(p.group);
        match totals.iter_mut().find(|t| t.0 == name) {
            Some(t) => *(if p.buffer { &mut t.2 } else { &mut t.1 }) += n,
            None => totals.push((
                name,
                if p.buffer { 0 } else { n },
                if p.buffer { n } else { 0 },
            )),
        }
    }
    for (name, params, buffers) in &totals {
        let extra = if *buffers > 0 {
            format!(" (+ {buffers} buffer values)")
        } else {
            String::new()
        };
        out.push_str(&format!("{name}: {params} parameters{extra}\n"));
    }
    out.push_str(&format!(
        "total: {} trainable parameters; forward {:.1} MFLOP per sample (matrix products)\n",
        model.store.count(),
        balmix::train::bench::forward_flops(&model, 1) / 1e6
    ));
    balmix::term::print_text(&out);
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
    // A k-fold recipe without a fold runs every fold.
    let split = &recipe.dataset().split;
    let recipes = match (split.folds, split.fold) {
        (Some(folds), None) => (0..folds)
            .map(|i| {
                let mut sets = extra.clone();
                sets.push(format!("dataset.split.fold={i}"));
                load(&args.recipe, &sets)
            })
            .collect::<Result<Vec<_>>>()?,
        _ => vec![recipe],
    };
    let mut finished = Vec::new();
    for recipe in &recipes {
        let seeds = recipe.seeds().to_vec();
        for &seed in &seeds {
            let trace = args
                .trace_mixup
                .as_ref()
                .map(|p| trace_path(p, recipe.dataset().split.fold, seed, seeds.len()));
            let opts = RunOptions {
                out: args.out.clone(),
                resume: args.resume,
                force: args.force,
                quiet: args.quiet,
                trace_mixup: trace,
                cache: args.cache_dir.clone(),
                ..RunOptions::default()
            };
            let dir = opts
                .out
                .join(recipe.run_name())
                .join(format!("seed-{seed}"));
            let outcome = run_seed(recipe, seed, &opts)
                .with_context(|| format!("run {} seed {seed}", recipe.run_name()))?;
            let line = match outcome {
                Outcome::Trained(s) => {
                    let line = describe(&s, &dir);
                    finished.push(s);
                    line
                }
                Outcome::Retrained { summary, because } => {
                    let line = format!("{} (trained again: {because})", describe(&summary, &dir));
                    finished.push(summary);
                    line
                }
                Outcome::AlreadyComplete(s) => {
                    let line = format!(
                        "{} (already complete with this recipe, code and data; pass --force to train again)",
                        describe(&s, &dir)
                    );
                    finished.push(s);
                    line
                }
                Outcome::Stopped { epochs_done } => {
                    format!("{}: stopped after {epochs_done} epochs", dir.display())
                }
            };
            balmix::term::print_line(&line);
        }
    }
    if finished.len() > 1 {
        balmix::term::print_line(&over_runs(recipes[0].name(), &finished));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of mean ± sample standard deviation (in %) over the runs' summaries (seeds, and
/// folds of a k-fold split): test accuracy, macro-F1 and each modality's own accuracy.
fn over_runs(name: &str, runs: &[balmix::record::Summary]) -> String {
    use balmix::report::render::Stat;
    let show = |values: Vec<f64>| {
        let s = Stat::of(&values);
        format!("{:.2} ± {:.2}", s.mean, s.std)
    };
    let mut parts = vec![
        format!(
            "test accuracy {}",
            show(runs.iter().map(|s| s.test_accuracy).collect())
        ),
        format!(
            "macro-F1 {}",
            show(runs.iter().map(|s| s.test_macro_f1).collect())
        ),
    ];
    for m in runs[0].modality_accuracy.keys() {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|s| s.modality_accuracy.get(m).copied())
            .collect();
        if values.len() == runs.len() {
            parts.push(format!("{m} own {}", show(values)));
        }
    }
    let distinct = |values: Vec<String>| {
        let mut out: Vec<String> = Vec::new();
        for v in values {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out.join(", ")
    };
    let seeds = distinct(runs.iter().map(|s| s.seed.to_string()).collect());
    let folds = distinct(
        runs.iter()
            .filter_map(|s| s.split.as_ref().and_then(|p| p.fold))
            .map(|[f, _]| f.to_string())
            .collect(),
    );
    let over = if folds.is_empty() {
        format!("{} seeds ({seeds})", runs.len())
    } else {
        format!("{} runs (folds {folds} × seeds {seeds})", runs.len())
    };
    format!(
        "{name} over {over}, mean ± sample std in %: {}",
        parts.join(", ")
    )
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
    let fold = s.fold_label();
    format!(
        "{}{fold} seed {}: test accuracy {:.4}, macro-F1 {:.4}, per modality [{}], epoch {}/{} ({}), {:.1}s -> {}",
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

/// The trace file of one run: `path` itself for a single run, else `.fold-<i>` (k-fold) and
/// `.seed-<n>` (several seeds) added before the extension.
fn trace_path(path: &std::path::Path, fold: Option<usize>, seed: u64, seeds: usize) -> PathBuf {
    let mut tag = fold.map(|f| format!(".fold-{f}")).unwrap_or_default();
    if seeds > 1 {
        tag.push_str(&format!(".seed-{seed}"));
    }
    if tag.is_empty() {
        return path.to_path_buf();
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("trace");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("csv");
    path.with_file_name(format!("{stem}{tag}.{ext}"))
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
    // The core's peak: given, or measured now (a large product on one core, under a second).
    let (peak, peak_source) = match args.peak_gflops {
        Some(p) => (p, "given with --peak-gflops".to_string()),
        None => {
            let m = balmix::train::peak::measure();
            (
                m.gflops,
                format!(
                    "measured: fastest of {} {n}×{n} f32 products on one core",
                    m.products,
                    n = balmix::train::peak::SIDE
                ),
            )
        }
    };
    let opts = BenchOptions {
        steps: args.steps,
        warmup: args.warmup,
        threads: args.threads,
        repeats: 5,
        peak_gflops_per_core: Some(peak),
        cache: args.cache_dir.clone(),
        out: args.out.clone(),
    };
    // The method's cost relative to plain training of the same model: the same recipe with
    // `[mixup]`, `[modulation]`, `[losses]` and `[method]` removed, timed before and after it.
    let plain = if args.no_plain {
        None
    } else {
        let mut sets = args.recipe.sets.clone();
        sets.extend_from_slice(&device);
        let plain = Recipe::load_without(
            &args.recipe.recipe,
            &sets,
            &args.recipe.unsets,
            &["mixup", "modulation", "losses", "method"],
        )?;
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
        "steps/s           {} (median of {} windows: {}; spread {:.0} %)",
        significant(r.steps_per_second),
        r.windows.len(),
        windows.join(", "),
        100.0 * r.spread()
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
    if let Some(fraction) = r.peak_fraction {
        balmix::term::print_line(&format!(
            "% of peak         {:.1}% of {} x {peak:.0} GFLOP/s ({peak_source})",
            100.0 * fraction,
            args.threads,
        ));
    }
    if let (Some(b), Some(a)) = (&before, &after) {
        let plain_steps = (b.steps_per_second + a.steps_per_second) / 2.0;
        balmix::term::print_line(&format!(
            "vs plain          {:.2}x the time per step of the same model without the method ({:.1} steps/s, timed before and after: {:.1}, {:.1}; spread {:.0} %, {:.0} %)",
            plain_steps / r.steps_per_second,
            plain_steps,
            b.steps_per_second,
            a.steps_per_second,
            100.0 * b.spread(),
            100.0 * a.spread()
        ));
    }
    if let Some(m) = r.peak_memory_bytes {
        balmix::term::print_line(&format!(
            "peak memory       {:.1} MiB",
            m as f64 / 1048576.0
        ));
    }
    // Unsteady timings on stderr after the figures they put in doubt.
    let name = recipe.name();
    let measured = [
        (
            before.as_ref(),
            format!("{name} without the method (before)"),
        ),
        (Some(&r), name.to_string()),
        (after.as_ref(), format!("{name} without the method (after)")),
    ];
    for (result, what) in measured {
        if let Some(w) = result.and_then(|m| m.unsteady_warning(&what, args.steps)) {
            balmix::term::eprint_line(&w);
        }
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
