//! `balmix table --executor slurm` against a real single-node Slurm (scripts/slurm-local.sh):
//! the report equals the local one, a task requeued mid-run resumes bit-identically, and a
//! failed task is listed with its log and exit status.
//!
//! These tests need a running cluster. `.ci/run` starts one (as root, installing the OS
//! packages when missing) and sets `BALMIX_SLURM_REQUIRED=1`, which turns a missing cluster
//! into a failure; elsewhere, without a cluster, each test says SKIPPED on stderr and passes.

use crate::common::{balmix_env, model_bytes, root, text};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a node of the cluster answers in a state that takes or runs jobs. `completing` counts:
/// the three tests run in parallel, so one test may look while another's job is finishing.
fn answers(conf: &str) -> bool {
    Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .env("SLURM_CONF", conf)
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).lines().any(|l| {
                    let state = l
                        .trim()
                        .trim_end_matches(['*', '~', '#', '+', '$', '@', '^', '-']);
                    ["idle", "mixed", "allocated", "completing"].contains(&state)
                })
        })
        .unwrap_or(false)
}

/// The cluster's SLURM_CONF, if a cluster answers within 30 s (a node that has just finished a
/// job or re-registered after a controller restart may be between states for a few seconds).
fn cluster(test: &str) -> Option<String> {
    let conf = std::env::var("SLURM_CONF").unwrap_or_else(|_| {
        let dir = std::env::var("BALMIX_SLURM_DIR").unwrap_or("/tmp/balmix-slurm".into());
        format!("{dir}/slurm.conf")
    });
    if Path::new(&conf).is_file() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if answers(&conf) {
                return Some(conf);
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let why = format!(
        "no Slurm cluster answers (SLURM_CONF {conf}); start one with scripts/slurm-local.sh start"
    );
    if std::env::var("BALMIX_SLURM_REQUIRED").as_deref() == Ok("1") {
        panic!("{test}: BALMIX_SLURM_REQUIRED=1 but {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    None
}

fn table(name: &str) -> PathBuf {
    root().join("tests/fixtures/tables").join(name)
}

/// `balmix table FILE --out OUT EXTRA…` with the cluster's SLURM_CONF (and `env`).
fn table_cmd(
    conf: &str,
    file: &Path,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args = vec![
        "table",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut env = env.to_vec();
    env.push(("SLURM_CONF", conf));
    balmix_env(&args, root(), &env)
}

fn slurm(conf: &str, args: &[&str]) -> String {
    let o = Command::new(args[0])
        .args(&args[1..])
        .env("SLURM_CONF", conf)
        .output()
        .expect("slurm command runs");
    assert!(o.status.success(), "{args:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// report.md without its `Runs:` line (wall time and run counts).
fn report_without_times(out: &Path, table: &str) -> String {
    std::fs::read_to_string(out.join(table).join("report.md"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("Runs:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ci-smoke` through a Slurm array gives the local `--jobs 2` report: report.md equal apart
/// from the `Runs:` line (times), report.csv byte for byte.
#[test]
fn a_table_through_slurm_gives_the_local_report() {
    let Some(conf) = cluster("a_table_through_slurm_gives_the_local_report") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let smoke = root().join("recipes/tables/ci-smoke.toml");
    let (local, remote) = (tmp.path().join("local"), tmp.path().join("slurm"));
    let o = table_cmd(&conf, &smoke, &local, &["--jobs", "2", "--quiet"], &[]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = table_cmd(&conf, &smoke, &remote, &["--executor", "slurm"], &[]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("submitted Slurm job"), "{err}");
    assert_eq!(
        report_without_times(&local, "ci-smoke"),
        report_without_times(&remote, "ci-smoke")
    );
    let csv = |d: &Path| std::fs::read(d.join("ci-smoke/report.csv")).unwrap();
    assert_eq!(csv(&local), csv(&remote));
    // Submitting again finds every run complete.
    let o = table_cmd(&conf, &smoke, &remote, &["--executor", "slurm"], &[]);
    assert!(o.status.success());
    assert!(text(&o).1.contains("nothing to submit"), "{:?}", text(&o));
}

/// A task requeued mid-run (`scontrol requeue`, as on preemption) receives SIGTERM, stops at a
/// step boundary, runs again and resumes: the model equals the uninterrupted local run's, byte
/// for byte. Slurm holds a requeued job for about two minutes; the test releases it at once.
#[test]
fn a_requeued_task_resumes_bit_identically() {
    let Some(conf) = cluster("a_requeued_task_resumes_bit_identically") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let file = table("slurm-requeue.toml");
    let (local, remote) = (tmp.path().join("local"), tmp.path().join("slurm"));
    let o = table_cmd(
        &conf,
        &file,
        &remote,
        &["--executor", "slurm", "--detach"],
        &[],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let job = text(&o).0.trim().to_string();
    let task = format!("{job}_0");
    let dir = remote.join("slurm-requeue/tiny/long/seed-0");
    let start = Instant::now();
    while !dir.join("checkpoint.safetensors").exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !dir.join("summary.json").exists(),
        "finished before the requeue"
    );
    slurm(&conf, &["scontrol", "requeue", &task]);
    // Release the requeued task from its hold as soon as it is pending again.
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "never pending again"
        );
        let state = slurm(&conf, &["squeue", "-h", "-r", "-j", &job, "-o", "%T"]);
        if state.trim() == "PENDING" {
            let id = format!("JobId={task}");
            slurm(&conf, &["scontrol", "update", &id, "StartTime=now"]);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Done when the second attempt has recorded its exit status and the queue is empty.
    let exit = remote.join("slurm-requeue/slurm/1/task-0.exit");
    while std::fs::read_to_string(&exit).map_or(true, |s| s.trim() != "0")
        || !slurm(&conf, &["squeue", "-h", "-r", "-j", &job])
            .trim()
            .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the task did not finish"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let o = table_cmd(
        &conf,
        &file,
        &remote,
        &["--executor", "slurm", "--collect"],
        &[],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let log = std::fs::read_to_string(remote.join("slurm-requeue/slurm/1/task-0.log")).unwrap();
    assert!(log.contains("DUE TO JOB REQUEUE"), "{log}");
    assert!(log.contains("interrupted at epoch"), "{log}");
    let starts = log.matches("balmix task 0: slurm-requeue/tiny/long seed 0\n");
    assert_eq!(starts.count(), 2, "{log}");
    let o = table_cmd(&conf, &file, &local, &["--quiet"], &[]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        model_bytes(&dir),
        model_bytes(&local.join("slurm-requeue/tiny/long/seed-0")),
        "the requeued run differs from the uninterrupted one"
    );
}

/// A task that fails is listed by cell with its exit status and log, the cell reports it, and
/// the command exits 1.
#[test]
fn a_failed_task_is_listed_with_its_log_and_exit_status() {
    let Some(conf) = cluster("a_failed_task_is_listed_with_its_log_and_exit_status") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-data");
    std::fs::create_dir_all(&empty).unwrap();
    let o = table_cmd(
        &conf,
        &table("slurm-failing.toml"),
        tmp.path(),
        &["--executor", "slurm"],
        &[("BALMIX_CREMA_D", empty.to_str().unwrap())],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("1 Slurm task(s) failed"), "{err}");
    assert!(err.contains("concat.toml seed 0: Slurm task"), "{err}");
    assert!(err.contains("exited with status 1; log: "), "{err}");
    let log = tmp.path().join("slurm-failing/slurm/1/task-0.log");
    assert!(err.contains(log.to_str().unwrap()), "{err}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("must be prepared locally"), "{log}");
}
