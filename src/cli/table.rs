//! `balmix table` and `balmix plot`.

use super::args::{Executor, PlotArgs, TableArgs};
use anyhow::{bail, Context, Result};
use balmix::record::write_atomic;
use balmix::report::plot::{cell_plots, group_plots, run_plots, table_chart};
use balmix::report::render::{csv, markdown, Report};
use balmix::table::file::Table;
use balmix::table::runner::{run_table, TableOptions};
use balmix::table::slurm;
use std::path::Path;
use std::process::ExitCode;

pub fn table(args: TableArgs) -> Result<ExitCode> {
    let table = Table::load(&args.table)?;
    let opts = TableOptions {
        out: args.out.clone(),
        jobs: usize::from(args.jobs),
        quiet: args.quiet,
        cache: args.cache_dir.clone(),
    };
    if let Some(dir) = &args.slurm_task {
        return match slurm::run_array_task(&table, &opts, dir) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                balmix::term::eprint_line(&format!("error: {e}"));
                Ok(ExitCode::from(match balmix::interrupt::signal() {
                    Some(signal) => balmix::interrupt::exit_status(signal),
                    None => 1,
                }))
            }
        };
    }
    if args.executor == Executor::Local {
        let slurm_only = args.detach
            || args.collect
            || args.partition.is_some()
            || args.time.is_some()
            || args.cpus_per_task != 1
            || args.gpus_per_task.is_some()
            || args.array_limit.is_some()
            || !args.sbatch_arg.is_empty();
        if slurm_only {
            bail!("--detach, --collect, --partition, --time, --cpus-per-task, --gpus-per-task, --array-limit and --sbatch-arg belong to --executor slurm");
        }
        let report = run_table(&table, &opts);
        return write_report(&table, &args, &report, &[]);
    }
    // Slurm: every run executes in the array; collecting runs no training.
    let opts = TableOptions { jobs: 2, ..opts };
    let sub = if args.collect {
        let sub = slurm::latest(&table, &opts)?;
        if let Some(s) = &sub {
            let left = slurm::remaining(&s.job_id).unwrap_or_default();
            if !left.is_empty() {
                balmix::term::eprint_line(&format!(
                    "Slurm job {} still has {} task(s) queued or running; the report shows the runs complete so far",
                    s.job_id,
                    left.len()
                ));
            }
        }
        sub
    } else {
        let slurm_opts = slurm::SlurmOptions {
            partition: args.partition.clone(),
            time: args.time.clone(),
            cpus_per_task: args.cpus_per_task,
            gpus_per_task: args.gpus_per_task,
            array_limit: args.array_limit,
            sbatch_args: args.sbatch_arg.clone(),
        };
        match slurm::submit(&table, &args.table, &opts, &slurm_opts)? {
            None => {
                balmix::term::eprint_line("every run of the table is complete: nothing to submit");
                None
            }
            Some(sub) => {
                balmix::term::eprint_line(&format!(
                    "submitted Slurm job {} ({} task(s)); logs and exit statuses in {}",
                    sub.job_id,
                    sub.tasks.len(),
                    sub.dir.display()
                ));
                if args.detach {
                    balmix::term::print_line(&sub.job_id);
                    balmix::term::eprint_line(&format!(
                        "write the report when it has finished: balmix table {} --out {} --executor slurm --collect",
                        args.table.display(),
                        args.out.display()
                    ));
                    return Ok(ExitCode::SUCCESS);
                }
                if let Err(e) = slurm::wait(&sub, &args.table, args.quiet) {
                    balmix::term::eprint_line(&format!("{e}"));
                    return Ok(ExitCode::from(
                        balmix::interrupt::signal().map_or(1, balmix::interrupt::exit_status),
                    ));
                }
                Some(sub)
            }
        }
    };
    let failed: Vec<String> = sub
        .as_ref()
        .map(|s| {
            slurm::task_ends(s)
                .iter()
                .filter(|t| t.exit != Some(0))
                .map(|t| {
                    let recipe = table
                        .cells()
                        .get(t.run.0)
                        .map(|c| c.recipe.display().to_string());
                    format!(
                        "{} seed {}: {}",
                        recipe.unwrap_or_default(),
                        t.run.1,
                        slurm::describe(t, &s.job_id)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let report = slurm::collect(&table, &opts, sub.as_ref());
    write_report(&table, &args, &report, &failed)
}

/// Write the report files, print it, and choose the exit status: 1 when a cell failed or
/// diverged or a Slurm task failed (`failed` lists them).
fn write_report(
    table: &Table,
    args: &TableArgs,
    report: &Report,
    failed: &[String],
) -> Result<ExitCode> {
    let dir = args.out.join(&table.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut md = markdown(report);
    if let Some(rob) = &report.robustness {
        md.push('\n');
        md.push_str(&balmix::report::robustness::markdown(rob));
        for (name, svg) in balmix::report::robustness::charts(rob) {
            write(&dir.join(name), svg.as_bytes())?;
        }
    }
    write(&dir.join("report.md"), md.as_bytes())?;
    write(&dir.join("report.csv"), csv(report).as_bytes())?;
    write(
        &dir.join("report.json"),
        serde_json::to_string_pretty(report)?.as_bytes(),
    )?;
    balmix::term::print_text(&md);
    balmix::term::eprint_line(&format!("report: {}/report.{{md,csv,json}}", dir.display()));
    if let Some(signal) = balmix::interrupt::signal() {
        balmix::term::eprint_line("interrupted — run the same command again to continue (complete runs are reused, interrupted ones resume)");
        return Ok(ExitCode::from(balmix::interrupt::exit_status(signal)));
    }
    if !failed.is_empty() {
        balmix::term::eprint_line(&format!("{} Slurm task(s) failed:", failed.len()));
        for f in failed {
            balmix::term::eprint_line(&format!("  {f}"));
        }
    }
    let problems = report
        .cells
        .iter()
        .flatten()
        .filter(|c| c.is_problem())
        .count();
    if !failed.is_empty() && problems == 0 {
        return Ok(ExitCode::from(1));
    }
    if problems > 0 {
        balmix::term::eprint_line(&format!(
            "{problems} cell(s) failed or diverged; see \"Not run or not reported\" in the report"
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub fn plot(args: PlotArgs) -> Result<ExitCode> {
    let target = &args.target;
    // A table's output folder (`runs/<table>`) holds its report.json.
    let table_report = target.join("report.json");
    let target = if target.is_dir() && table_report.is_file() {
        &table_report
    } else {
        target
    };
    if target.is_dir() {
        // One run folder: its curves; a folder of runs (seeds, folds): mean ± std bands.
        let plots = if target.join("metrics.csv").is_file() {
            run_plots(target)
        } else {
            group_plots(target)
        };
        for (name, svg) in plots.map_err(anyhow::Error::msg)? {
            let path = target.join(name);
            write(&path, svg.as_bytes())?;
            balmix::term::print_line(&path.display().to_string());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report_path = match target.extension().and_then(|e| e.to_str()) {
        Some("json") => target.clone(),
        Some("toml") => {
            let table = Table::load(target)?;
            args.out.join(&table.name).join("report.json")
        }
        _ => bail!(
            "{}: expected a run directory, a folder of runs, a table file (.toml) or a report.json",
            target.display()
        ),
    };
    let text = std::fs::read_to_string(&report_path).with_context(|| {
        format!(
            "{}: no report yet; run `balmix table` first",
            report_path.display()
        )
    })?;
    let report: Report = serde_json::from_str(&text)
        .with_context(|| format!("reading {}", report_path.display()))?;
    let path = report_path.with_file_name("report.svg");
    write(&path, table_chart(&report).as_bytes())?;
    balmix::term::print_line(&path.display().to_string());
    if let Some(rob) = &report.robustness {
        for (name, svg) in balmix::report::robustness::charts(rob) {
            let path = report_path.with_file_name(name);
            write(&path, svg.as_bytes())?;
            balmix::term::print_line(&path.display().to_string());
        }
    }
    // Each cell's runs (seeds, folds) as mean ± std curves in the cell's folder.
    let table_dir = report_path.parent().unwrap_or(Path::new("."));
    let mut cells: Vec<String> = Vec::new();
    for (path, svg) in cell_plots(table_dir).map_err(anyhow::Error::msg)? {
        write(&path, svg.as_bytes())?;
        let cell = path.parent().unwrap_or(table_dir).display().to_string();
        if cells.last() != Some(&cell) {
            cells.push(cell);
        }
    }
    for cell in cells {
        balmix::term::print_line(&format!("{cell}/{{accuracy,balance,loss}}.svg"));
    }
    Ok(ExitCode::SUCCESS)
}
