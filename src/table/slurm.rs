//! `balmix table --executor slurm`: a table's runs that are not complete become one Slurm job
//! array, one task per cell × seed. Each task runs that one run exactly as the local runner
//! does (`run_task`, with resume), into the shared `--out`; Slurm requeues a task that is
//! preempted, and the run resumes from its checkpoint bit-identically. The report is then
//! built from the run directories ([`super::runner::collect_table`]), so it is the local one.
//!
//! A submission lives in `OUT/<table>/slurm/<k>/`: `tasks.tsv` (task index, cell, seed, run
//! name), `job.sh` (the batch script), `job-id`, one `task-<i>.log` and, when a task ends,
//! `task-<i>.exit` (its exit status, written by the script after balmix returns).

use super::file::Table;
use super::runner::{collect_table, expand, incomplete, run_task, TableOptions};
use crate::report::render::Report;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What `--executor slurm` passes to `sbatch`.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (Slurm's formats, e.g. `2:00:00`).
    pub time: Option<String>,
    /// `--cpus-per-task` (each run is single-threaded; default 1).
    pub cpus_per_task: usize,
    /// `--gpus-per-task`.
    pub gpus_per_task: Option<usize>,
    /// At most this many tasks at once (`--array=…%K`).
    pub array_limit: Option<usize>,
    /// Further `sbatch` arguments, verbatim.
    pub sbatch_args: Vec<String>,
}

/// Why the Slurm path failed.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)]
pub enum SlurmError {
    #[error("`{command}` is not available ({reason}); install Slurm's client commands, or run `scripts/slurm-local.sh start` for a single-node cluster on this machine")]
    NoSlurm { command: String, reason: String },
    #[error("`{command}` failed: {output}")]
    Command { command: String, output: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Task(String),
    #[error("interrupted while following job {job}; its tasks keep running — follow them again or write the report later with `balmix table {table} --executor slurm --collect`")]
    Interrupted { job: String, table: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SlurmError + '_ {
    move |source| SlurmError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One submitted array.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Its folder.
    pub dir: PathBuf,
    /// Slurm's job id of the array.
    pub job_id: String,
    /// The runs, by task index: (cell index, seed).
    pub tasks: Vec<(usize, u64)>,
}

/// How one task ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEnd {
    /// Task index.
    pub index: usize,
    /// Cell index and seed.
    pub run: (usize, u64),
    /// Exit status the job script recorded; `None` when it left none (killed, or not run).
    pub exit: Option<i32>,
    /// The task's log.
    pub log: PathBuf,
}

const TASKS: &str = "tasks.tsv";
const JOB_ID: &str = "job-id";

/// The folder of a table's submissions.
fn slurm_dir(opts: &TableOptions, table: &Table) -> PathBuf {
    opts.out.join(&table.name).join("slurm")
}

/// Submit the runs of `table` that are not complete as one array. `None` when every run is
/// already complete (nothing to submit). `table_path` and the current executable are written
/// into the job script as absolute paths (they must be on a filesystem every node sees).
pub fn submit(
    table: &Table,
    table_path: &Path,
    opts: &TableOptions,
    slurm: &SlurmOptions,
) -> Result<Option<Submission>, SlurmError> {
    let tasks = incomplete(table, opts);
    if tasks.is_empty() {
        return Ok(None);
    }
    let expanded = expand(table);
    let root = slurm_dir(opts, table);
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    let k = next_index(&root)?;
    let dir = absolute(&root.join(k.to_string()))?;
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;

    let mut tsv = String::from("# task\tcell\tseed\trun\n");
    for (i, &(cell, seed)) in tasks.iter().enumerate() {
        let name = expanded.recipes[cell]
            .as_ref()
            .map(|r| r.run_name())
            .unwrap_or_default();
        let _ = writeln!(tsv, "{i}\t{cell}\t{seed}\t{name}");
    }
    write(&dir.join(TASKS), &tsv)?;

    let exe = std::env::current_exe().map_err(io(Path::new("current executable")))?;
    let script = job_script(
        &exe,
        &absolute(table_path)?,
        &absolute(&opts.out)?,
        opts,
        &dir,
    );
    let script_path = dir.join("job.sh");
    write(&script_path, &script)?;

    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable")
        .arg(format!(
            "--job-name=balmix-{}",
            table.name.replace('/', "-")
        ))
        .arg(format!(
            "--array=0-{}{}",
            tasks.len() - 1,
            slurm
                .array_limit
                .map(|k| format!("%{k}"))
                .unwrap_or_default()
        ))
        .arg(format!("--output={}/task-%a.log", dir.display()))
        .arg("--open-mode=append")
        .arg("--requeue")
        .arg(format!("--cpus-per-task={}", slurm.cpus_per_task.max(1)));
    if let Some(p) = &slurm.partition {
        cmd.arg(format!("--partition={p}"));
    }
    if let Some(t) = &slurm.time {
        cmd.arg(format!("--time={t}"));
    }
    if let Some(g) = slurm.gpus_per_task {
        cmd.arg(format!("--gpus-per-task={g}"));
    }
    cmd.args(&slurm.sbatch_args).arg(&script_path);
    let out = run(&mut cmd, "sbatch")?;
    let job_id = out.trim().split(';').next().unwrap_or_default().to_string();
    if job_id.is_empty() {
        return Err(SlurmError::Command {
            command: "sbatch".into(),
            output: format!("no job id in its output: {out:?}"),
        });
    }
    write(&dir.join(JOB_ID), &format!("{job_id}\n"))?;
    Ok(Some(Submission { dir, job_id, tasks }))
}

/// The latest submission of `table` under `opts.out`, if any.
pub fn latest(table: &Table, opts: &TableOptions) -> Result<Option<Submission>, SlurmError> {
    let root = slurm_dir(opts, table);
    let k = next_index(&root)?;
    if k == 1 {
        return Ok(None);
    }
    read_submission(&root.join((k - 1).to_string())).map(Some)
}

fn read_submission(dir: &Path) -> Result<Submission, SlurmError> {
    let job_id = std::fs::read_to_string(dir.join(JOB_ID))
        .map_err(io(&dir.join(JOB_ID)))?
        .trim()
        .to_string();
    let tasks = read_tasks(dir)?
        .into_iter()
        .map(|(cell, seed, _)| (cell, seed))
        .collect();
    Ok(Submission {
        dir: dir.to_path_buf(),
        job_id,
        tasks,
    })
}

fn read_tasks(dir: &Path) -> Result<Vec<(usize, u64, String)>, SlurmError> {
    let path = dir.join(TASKS);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let parsed = match f.as_slice() {
            [_, cell, seed, name] => cell
                .parse()
                .ok()
                .zip(seed.parse().ok())
                .map(|(c, s)| (c, s, name.to_string())),
            _ => None,
        };
        out.push(parsed.ok_or_else(|| {
            SlurmError::Task(format!("{}: cannot read line {line:?}", path.display()))
        })?);
    }
    Ok(out)
}

/// Tasks of the array still queued or running (`squeue`), as Slurm prints them.
pub fn remaining(job_id: &str) -> Result<Vec<String>, SlurmError> {
    let out = run(
        Command::new("squeue").args(["-h", "-r", "-j", job_id, "-o", "%i %T"]),
        "squeue",
    );
    match out {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        // Once every task has left the queue (and Slurm forgot the job), squeue calls the
        // job id invalid.
        Err(SlurmError::Command { output, .. }) if output.contains("Invalid job id") => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// How each task of `sub` ended so far.
pub fn task_ends(sub: &Submission) -> Vec<TaskEnd> {
    sub.tasks
        .iter()
        .enumerate()
        .map(|(i, &run)| TaskEnd {
            index: i,
            run,
            exit: std::fs::read_to_string(sub.dir.join(format!("task-{i}.exit")))
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            log: sub.dir.join(format!("task-{i}.log")),
        })
        .collect()
}

/// Follow `sub` until no task is queued or running, with a progress bar (or a line per
/// change when stderr is not a terminal). An interrupt stops following, not the tasks.
pub fn wait(sub: &Submission, table_path: &Path, quiet: bool) -> Result<(), SlurmError> {
    let total = sub.tasks.len() as u64;
    let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "slurm job {msg} [{bar:30}] {pos}/{len} tasks ended, {elapsed}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        b.set_message(sub.job_id.clone());
        b
    });
    let mut shown = u64::MAX;
    let mut failures_in_a_row = 0;
    let mut empty_polls = 0;
    loop {
        if crate::interrupt::interrupted() {
            if let Some(b) = &bar {
                b.abandon();
            }
            return Err(SlurmError::Interrupted {
                job: sub.job_id.clone(),
                table: table_path.display().to_string(),
            });
        }
        let left = match remaining(&sub.job_id) {
            Ok(left) => {
                failures_in_a_row = 0;
                left
            }
            // slurmctld may be briefly unreachable; give up after about a minute.
            Err(e) if failures_in_a_row < 30 => {
                failures_in_a_row += 1;
                if failures_in_a_row == 1 && !quiet {
                    crate::term::eprint_line(&format!("squeue failed, retrying: {e}"));
                }
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
            Err(e) => return Err(e),
        };
        let ended = total.saturating_sub(left.len() as u64);
        if let Some(b) = &bar {
            b.set_position(ended);
        } else if !quiet && ended != shown {
            crate::term::eprint_line(&format!(
                "slurm job {}: {ended}/{total} tasks ended",
                sub.job_id
            ));
        }
        shown = ended;
        // A task between two states (a requeued one leaving PENDING) can be missing from one
        // squeue listing: the array has ended when squeue lists nothing and every task has
        // recorded its exit status, or when squeue has listed nothing three times in a row
        // (a task killed before it could record one).
        if left.is_empty() {
            empty_polls += 1;
            let recorded = task_ends(sub).iter().all(|t| t.exit.is_some());
            if recorded || empty_polls >= 3 {
                break;
            }
        } else {
            empty_polls = 0;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

/// The report of `table` from its run directories, with the runs of `sub` counted as trained
/// and a run that is not complete explained by its task's exit status and log.
pub fn collect(table: &Table, opts: &TableOptions, sub: Option<&Submission>) -> Report {
    let ends = sub.map(task_ends).unwrap_or_default();
    let find = |cell: usize, seed: u64| ends.iter().find(|t| t.run == (cell, seed));
    let job = sub.map(|s| s.job_id.clone()).unwrap_or_default();
    // Collecting trains nothing and prints no line per run.
    let opts = TableOptions {
        quiet: true,
        ..opts.clone()
    };
    let mut report = collect_table(
        table,
        &opts,
        &|cell, seed| find(cell, seed).is_some(),
        &|cell, seed| match find(cell, seed) {
            Some(t) => describe(t, &job),
            None if sub.is_some() => format!("not run: not a task of Slurm job {job}"),
            None => "not run: no Slurm submission of this table yet".to_string(),
        },
    );
    // The wall time is the array's: from its submission until now.
    let submitted = sub.and_then(|s| s.dir.join(JOB_ID).metadata().ok()?.modified().ok());
    if let Some(elapsed) = submitted.and_then(|t| t.elapsed().ok()) {
        report.seconds.0 = elapsed.as_secs_f64();
    }
    report
}

/// A failed task in words: job, task, exit status and log.
pub fn describe(t: &TaskEnd, job: &str) -> String {
    match t.exit {
        Some(code) => format!(
            "Slurm task {job}_{} exited with status {code}; log: {}",
            t.index,
            t.log.display()
        ),
        None => format!(
            "Slurm task {job}_{} left no exit status (cancelled, killed at its time limit, or never started); log: {}",
            t.index,
            t.log.display()
        ),
    }
}

/// The entry point of one array task (`balmix table FILE --slurm-task DIR`): run line
/// `$SLURM_ARRAY_TASK_ID` of `DIR/tasks.tsv`, checking that the table still has that run.
pub fn run_array_task(table: &Table, opts: &TableOptions, dir: &Path) -> Result<(), SlurmError> {
    let index: usize = std::env::var("SLURM_ARRAY_TASK_ID")
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            SlurmError::Task(
                "--slurm-task is for the job script that `balmix table --executor slurm` writes: SLURM_ARRAY_TASK_ID is not set".into(),
            )
        })?;
    let tasks = read_tasks(dir)?;
    let (cell, seed, name) = tasks.get(index).cloned().ok_or_else(|| {
        SlurmError::Task(format!(
            "task {index}: {} lists {} tasks",
            dir.join(TASKS).display(),
            tasks.len()
        ))
    })?;
    let expanded = expand(table);
    let recipe = match expanded.recipes.get(cell) {
        Some(Ok(r)) if r.run_name() == name => r,
        _ => {
            return Err(SlurmError::Task(format!(
                "task {index}: the table no longer has run {name} as cell {cell} (was the table file changed after submission?); submit again"
            )))
        }
    };
    crate::term::eprint_line(&format!("balmix task {index}: {name} seed {seed}"));
    run_task(recipe, seed, opts).map_err(SlurmError::Task)?;
    crate::term::eprint_line(&format!("balmix task {index}: {name} seed {seed} complete"));
    Ok(())
}

/// The batch script: runs the task through this binary, then records its exit status. A
/// SIGTERM (preemption, requeue, time limit) reaches balmix, which stops at the next step
/// boundary; the trap keeps the shell alive to record the status.
fn job_script(exe: &Path, table: &Path, out: &Path, opts: &TableOptions, dir: &Path) -> String {
    let q = |p: &Path| quote(&p.display().to_string());
    let cache = opts
        .cache
        .as_ref()
        .map(|c| {
            format!(
                " --cache-dir {}",
                q(&absolute(c).unwrap_or_else(|_| c.clone()))
            )
        })
        .unwrap_or_default();
    format!(
        "#!/bin/bash\n\
         # Written by `balmix table --executor slurm`: task i runs line i of tasks.tsv.\n\
         trap 'echo \"balmix: SIGTERM from Slurm (preemption, requeue or time limit); stopping at the next step\"' TERM\n\
         dir={}\n\
         rm -f \"$dir/task-$SLURM_ARRAY_TASK_ID.exit\"  # a requeued attempt's status is new\n\
         {} table {} --out {}{cache} --quiet --slurm-task \"$dir\"\n\
         rc=$?\n\
         echo \"$rc\" > \"$dir/task-$SLURM_ARRAY_TASK_ID.exit.part\" \\\n\
         \x20 && mv -f \"$dir/task-$SLURM_ARRAY_TASK_ID.exit.part\" \"$dir/task-$SLURM_ARRAY_TASK_ID.exit\"\n\
         exit \"$rc\"\n",
        q(dir),
        q(exe),
        q(table),
        q(out),
    )
}

/// A shell word in single quotes.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn absolute(p: &Path) -> Result<PathBuf, SlurmError> {
    std::path::absolute(p).map_err(io(p))
}

fn next_index(root: &Path) -> Result<usize, SlurmError> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(1);
    };
    let mut k = 0;
    for e in entries {
        let e = e.map_err(io(root))?;
        if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<usize>().ok()) {
            k = k.max(n);
        }
    }
    Ok(k + 1)
}

fn write(path: &Path, text: &str) -> Result<(), SlurmError> {
    crate::record::write_atomic(path, text.as_bytes()).map_err(io(path))
}

fn run(cmd: &mut Command, name: &str) -> Result<String, SlurmError> {
    let out = cmd.output().map_err(|e| SlurmError::NoSlurm {
        command: name.to_string(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(SlurmError::Command {
            command: name.to_string(),
            output: format!(
                "{}{}",
                text,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_quotes_and_spaces() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's a dir"), r"'it'\''s a dir'");
        let out = Command::new("bash")
            .args(["-c", &format!("printf %s {}", quote("a 'b' $c \"d\""))])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a 'b' $c \"d\"");
    }

    #[test]
    fn the_job_script_records_the_exit_status_of_the_task() {
        let opts = TableOptions {
            out: "runs".into(),
            jobs: 1,
            quiet: true,
            cache: None,
        };
        let dir = Path::new("/shared/runs/t/slurm/1");
        let script = job_script(
            Path::new("/bin/balmix"),
            Path::new("/t.toml"),
            Path::new("/shared/runs"),
            &opts,
            dir,
        );
        assert!(script.contains("--slurm-task \"$dir\""), "{script}");
        assert!(script.contains("trap '"), "{script}");
        assert!(
            script.contains("task-$SLURM_ARRAY_TASK_ID.exit"),
            "{script}"
        );
        let check = Command::new("bash")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(check.status.success(), "{script}: {check:?}");
    }
}
