//! `balmix table` and `balmix plot`.

use super::args::{PlotArgs, TableArgs};
use anyhow::{bail, Context, Result};
use balmix::report::plot::{run_plots, table_chart};
use balmix::report::render::{csv, markdown, Report};
use balmix::report::runner::{run_table, TableOptions};
use balmix::report::table_file::Table;
use balmix::train::record::write_atomic;
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
    let md = markdown(&report);
    write(&dir.join("report.md"), md.as_bytes())?;
    write(&dir.join("report.csv"), csv(&report).as_bytes())?;
    write(
        &dir.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    print!("{md}");
    eprintln!("report: {}/report.{{md,csv,json}}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub fn plot(args: PlotArgs) -> Result<ExitCode> {
    let target = &args.target;
    if target.is_dir() {
        for (name, svg) in run_plots(target).map_err(anyhow::Error::msg)? {
            let path = target.join(name);
            write(&path, svg.as_bytes())?;
            println!("{}", path.display());
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
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
