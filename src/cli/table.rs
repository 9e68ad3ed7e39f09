//! `balmix table` and `balmix plot`.

use super::args::{PlotArgs, TableArgs};
use anyhow::{bail, Context, Result};
use balmix::record::write_atomic;
use balmix::report::plot::{run_plots, table_chart};
use balmix::report::render::{csv, markdown, Report};
use balmix::table::file::Table;
use balmix::table::runner::{run_table, TableOptions};
use std::path::Path;
use std::process::ExitCode;

pub fn table(args: TableArgs) -> Result<ExitCode> {
    let table = Table::load(&args.table)?;
    let opts = TableOptions {
        out: args.out.clone(),
        jobs: args.jobs.max(1),
        quiet: args.quiet,
        cache: args.cache_dir.clone(),
    };
    let report = run_table(&table, &opts);
    let dir = args.out.join(&table.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut md = markdown(&report);
    if let Some(rob) = &report.robustness {
        md.push('\n');
        md.push_str(&balmix::report::robustness::markdown(rob));
        for (name, svg) in balmix::report::robustness::charts(rob) {
            write(&dir.join(name), svg.as_bytes())?;
        }
    }
    write(&dir.join("report.md"), md.as_bytes())?;
    write(&dir.join("report.csv"), csv(&report).as_bytes())?;
    write(
        &dir.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    balmix::term::print_text(&md);
    balmix::term::eprint_line(&format!("report: {}/report.{{md,csv,json}}", dir.display()));
    if let Some(signal) = balmix::interrupt::signal() {
        balmix::term::eprint_line("interrupted — run the same command again to continue (complete runs are reused, interrupted ones resume)");
        return Ok(ExitCode::from(balmix::interrupt::exit_status(signal)));
    }
    let problems = report
        .cells
        .iter()
        .flatten()
        .filter(|c| c.is_problem())
        .count();
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
        for (name, svg) in run_plots(target).map_err(anyhow::Error::msg)? {
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
            "{}: expected a run directory, a table file (.toml) or a report.json",
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
    Ok(ExitCode::SUCCESS)
}
