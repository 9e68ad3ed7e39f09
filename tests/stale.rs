//! Nothing stale, nothing silent (issue 25): every input that decides a dataset is in the run
//! identity, a retrain never deletes the old run before the new data has loaded, `balmix eval`
//! fails (exit 1) when its scores disagree with the run's summary and names the input that
//! changed, and bad flags, keys and split sizes are bad input (exit 2) with a message that
//! says what to do. Each test runs the binary on the README's sensors example.

use crate::common::{balmix_env, text};
use crate::own_data::example;
use std::path::Path;
use std::process::Output;

/// `balmix ARGS` in `dir` with the download cache (and file-hash memo) inside it.
fn run(dir: &Path, args: &[&str]) -> Output {
    let cache = dir.join("cache");
    balmix_env(args, dir, &[("BALMIX_CACHE", cache.to_str().unwrap())])
}

/// A two-epoch run of the example's concat recipe with `extra` flags.
fn train(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "concat.toml", "--quiet", "--set", "train.epochs=2"];
    args.extend_from_slice(extra);
    run(dir, &args)
}

/// Stdout of a command that must succeed.
fn ok(o: &Output) -> String {
    let (out, err) = text(o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    out
}

/// Stderr of a command that must fail with `code`.
fn failed(o: &Output, code: i32) -> String {
    let (out, err) = text(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    err
}

/// Rewrite the activity column of `data/labels.csv` with `f(line number, activity)`.
fn relabel(dir: &Path, f: impl Fn(usize, &str) -> String) {
    let path = dir.join("data/labels.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            let (head, activity) = line.rsplit_once(',').unwrap();
            out.push_str(&format!("{head},{}", f(i + 1, activity)));
        }
        out.push('\n');
    }
    std::fs::write(&path, out).unwrap();
}

/// `run` and `sit` swapped on every tenth line: the same size, other labels.
fn swap_run_and_sit(line: usize, activity: &str) -> String {
    match (line % 10, activity) {
        (0, "run") => "sit".into(),
        (0, "sit") => "run".into(),
        (_, a) => a.into(),
    }
}

const RUN: &str = "runs/sensors/concat/seed-0";

/// Case 1: relabelling rows of the `[labels]` file (same size) and changing the manifest's
/// class list each retrain the run; both used to be reused as "already complete".
#[test]
fn a_changed_labels_file_or_class_list_retrains_the_run() {
    let (_tmp, dir) = example();
    ok(&train(&dir, &[]));
    let before = std::fs::metadata(dir.join("data/labels.csv"))
        .unwrap()
        .len();
    relabel(&dir, swap_run_and_sit);
    assert_eq!(
        std::fs::metadata(dir.join("data/labels.csv"))
            .unwrap()
            .len(),
        before
    );
    let out = ok(&train(&dir, &[]));
    assert!(out.contains("trained again: the data changed"), "{out}");
    let out = ok(&train(&dir, &[]));
    assert!(out.contains("already complete"), "{out}");
    // The class list (its order decides the label indices).
    let manifest = dir.join("sensors.manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let changed = text.replace(
        r#"classes = ["walk", "run", "sit"]"#,
        r#"classes = ["run", "walk", "sit"]"#,
    );
    assert_ne!(changed, text);
    std::fs::write(&manifest, changed).unwrap();
    let out = ok(&train(&dir, &[]));
    assert!(out.contains("trained again: the data changed"), "{out}");
    // Prose does not decide the data: a new description is the same dataset.
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("Two-sensor", "Two sensor")).unwrap();
    let out = ok(&train(&dir, &[]));
    assert!(out.contains("already complete"), "{out}");
}

/// Case 1 and "nothing lost": an unknown class name written into the labels file while a
/// complete run exists is found (the data changed, so the run is loaded again), and the
/// failed load leaves the old complete run in place.
#[test]
fn bad_new_data_is_reported_and_the_old_complete_run_is_kept() {
    let (_tmp, dir) = example();
    ok(&train(&dir, &[]));
    let summary = std::fs::read(dir.join(RUN).join("summary.json")).unwrap();
    relabel(
        &dir,
        |line, a| {
            if line == 7 {
                "jog".into()
            } else {
                a.into()
            }
        },
    );
    let err = failed(&train(&dir, &[]), 2);
    assert!(err.contains("jog"), "{err}");
    assert_eq!(
        std::fs::read(dir.join(RUN).join("summary.json")).unwrap(),
        summary
    );
    assert!(dir.join(RUN).join("model.safetensors").is_file());
}

/// Case 2: a validation split the recipe asks for that rounds to zero samples is an error
/// that states the counts (exit 2), not a run that "selects" the best of nothing.
#[test]
fn a_validation_split_that_rounds_to_nothing_is_bad_input() {
    let (_tmp, dir) = example();
    let err = failed(
        &train(
            &dir,
            &[
                "--set",
                "dataset.split.val_by=\"row\"",
                "--set",
                "dataset.split.val=0.001",
            ],
        ),
        2,
    );
    assert!(
        err.contains("split `val` is empty")
            && err.contains("dataset.split.val = 0.001")
            && err.contains("rounds to 0 samples"),
        "{err}"
    );
    assert!(
        !dir.join(RUN).join("recipe.resolved.toml").exists()
            && !dir.join(RUN).join("metrics.csv").exists(),
        "nothing was written"
    );
}

/// Case 4: `balmix eval` exits 1 when the model file is not the one the run wrote (another
/// seed's weights), and when its clean score disagrees with the summary, naming the input that
/// differs (here the data).
#[test]
fn eval_that_disagrees_with_the_summary_exits_1_and_names_what_changed() {
    let (_tmp, dir) = example();
    ok(&train(&dir, &["--set", "seeds=[0, 1]"]));
    let run_dir = dir.join(RUN);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    let recorded = summary["model_sha256"].as_str().unwrap().to_string();
    let bytes = std::fs::read(run_dir.join("model.safetensors")).unwrap();
    assert_eq!(recorded, balmix::data::cache::sha256_hex(&bytes));
    ok(&run(&dir, &["eval", RUN]));
    // Another seed's weights in this run's model file.
    std::fs::copy(
        dir.join("runs/sensors/concat/seed-1/model.safetensors"),
        run_dir.join("model.safetensors"),
    )
    .unwrap();
    // (After two epochs both seeds happen to score 0.45: the file's checksum, not the score,
    // tells them apart.)
    let err = failed(&run(&dir, &["eval", RUN]), 1);
    assert!(
        err.contains("the model file changed") && err.contains("not the model this run wrote"),
        "{err}"
    );
    std::fs::write(run_dir.join("model.safetensors"), &bytes).unwrap();
    relabel(&dir, |_, a| {
        match a {
            "walk" => "sit",
            "sit" => "run",
            _ => "walk",
        }
        .into()
    });
    let err = failed(&run(&dir, &["eval", RUN]), 1);
    assert!(
        err.contains("the data changed") && !err.contains("the model file changed"),
        "{err}"
    );
}

/// A truncated or empty model file is one sentence and what to do, not the library's enum.
#[test]
fn a_truncated_model_file_is_explained() {
    let (_tmp, dir) = example();
    ok(&train(&dir, &[]));
    let model = dir.join(RUN).join("model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    for cut in [0, bytes.len() / 2] {
        std::fs::write(&model, &bytes[..cut]).unwrap();
        let err = failed(&run(&dir, &["eval", RUN]), 1);
        assert!(
            err.contains("not a readable safetensors file")
                && err.contains("--force")
                && !err.contains("MetadataIncompleteBuffer")
                && !err.contains("HeaderTooSmall"),
            "{err}"
        );
    }
}

/// Case 5 and the flag messages: `--unset` of a key nothing sets, `--jobs 0`, malformed TOML in
/// `--set`, an unknown `--corrupt` kind and a batch larger than the training set are bad input
/// (exit 2), each named as the user typed it.
#[test]
fn bad_flags_and_keys_exit_2_naming_what_was_typed() {
    let (_tmp, dir) = example();
    let err = failed(
        &run(&dir, &["check", "concat.toml", "--unset", "optim.momentm"]),
        2,
    );
    assert!(
        err.contains("--unset optim.momentm") && err.contains("did you mean: optim.momentum"),
        "{err}"
    );
    // A key that exists is still removed.
    ok(&run(
        &dir,
        &["check", "concat.toml", "--unset", "optim.momentum"],
    ));
    let err = failed(
        &run(&dir, &["table", "sensors-5fold.toml", "--jobs", "0"]),
        2,
    );
    assert!(err.contains("--jobs"), "{err}");
    let err = failed(
        &run(&dir, &["check", "concat.toml", "--set", "seeds=[0, 1"]),
        2,
    );
    assert!(err.contains("did not parse as TOML"), "{err}");
    assert!(!err.contains("wrong type"), "{err}");
    ok(&train(&dir, &[]));
    let err = failed(&run(&dir, &["eval", RUN, "--corrupt", "gausian"]), 2);
    assert!(
        err.contains("--corrupt: unknown corruption `gausian` (did you mean `gaussian`?)")
            && !err.contains("--set"),
        "{err}"
    );
    let err = failed(
        &train(&dir, &["--force", "--set", "train.batch_size=1000"]),
        2,
    );
    assert!(err.contains("train.batch_size = 1000"), "{err}");
    // The forced run that could not start left the complete run alone.
    assert!(dir.join(RUN).join("summary.json").is_file());
}

/// Grouped data: summary.json names the groups of each part; test groups can be named; by-row
/// validation is an explicit choice; `balmix data info --recipe` previews the recipe's split.
#[test]
fn named_test_groups_are_held_out_and_recorded_by_name() {
    let (_tmp, dir) = example();
    let named = [
        "--set",
        "dataset.split.test_groups=[\"s08\", \"s09\", \"s10\"]",
    ];
    ok(&train(&dir, &named));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(RUN).join("summary.json")).unwrap())
            .unwrap();
    let names = |part: &str| -> Vec<String> {
        summary["split"]["group_names"][part]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("test"), ["s08", "s09", "s10"]);
    let (train_g, val_g) = (names("train"), names("val"));
    assert_eq!(train_g.len() + val_g.len(), 9);
    assert!(train_g.iter().all(|g| !val_g.contains(g)));
    assert_eq!(summary["split"]["test"], 90, "3 subjects × 30 windows");
    // The same split, previewed.
    let out = ok(&run(
        &dir,
        &["data", "info", "sensors", "--recipe", "concat.toml"],
    ));
    assert!(
        out.contains("split: group, test 0.2, val 0.15, val by group, seed 0"),
        "{out}"
    );
    // A name that is not a group.
    let err = failed(
        &train(
            &dir,
            &["--force", "--set", "dataset.split.test_groups=[\"s8\"]"],
        ),
        2,
    );
    assert!(
        err.contains("`s8`") && err.contains("did you mean `s08`?"),
        "{err}"
    );
    // By-row validation: validation shares subjects with training.
    let out = ok(&train(
        &dir,
        &["--force", "--set", "dataset.split.val_by=\"row\""],
    ));
    assert!(out.contains("seed 0"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(RUN).join("summary.json")).unwrap())
            .unwrap();
    let g = &summary["split"]["group_names"];
    let val: Vec<&str> = g["val"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let train: Vec<&str> = g["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(val.iter().any(|v| train.contains(v)), "{g}");
}
