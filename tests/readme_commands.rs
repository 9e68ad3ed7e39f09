//! The README's commands run as written. Its runnable commands are the lines of its ```sh blocks
//! and the `$ ` lines of its ```console blocks (inline code in prose describes, it is not a
//! command to copy). Every one of them is classified in [`COMMANDS`]: run here (exit 0, or the
//! exit code of an error the README shows on purpose), run where ffmpeg is present, or excluded
//! with the reason written next to it. A command added to the README without a class, a class
//! whose command is gone from the README, and a command-like line in any other kind of code
//! block fail [`every_readme_command_is_classified_and_every_class_is_in_the_readme`]; a command
//! that no longer runs as written, or no longer prints the lines the README shows under it,
//! fails the test that runs it.
//!
//! The commands run in README order through `sh -c`, in a temporary copy of the folders they
//! read (`recipes/`, `examples/` without generated data, `data-manifests/`, `tests/fixtures/`),
//! with the built binary as `balmix` on PATH (`cargo run --release --` maps to it), `/tmp/`
//! mapped to a scratch folder of that copy and no `BALMIX_*` variable inherited: nothing is
//! written into the repository. Shown output is compared line by line, in order, allowing lines
//! the README leaves out; `…` stands for elided lines, a line ending in `…` for its prefix, and
//! durations (`0.7 s`, `2.48s`) are not compared.

use crate::common::{ffmpeg_or_skip, root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What this test does with one README command.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    /// Needs no external data: exits 0 and prints what the README shows under it.
    Runs,
    /// Shows an error on purpose: exits with this code and prints what the README shows.
    Fails(i32),
    /// Needs ffmpeg (fake videos through `balmix data prepare`); runs where it is present.
    NeedsFfmpeg,
    /// Not run, for the reason given.
    Excluded(&'static str),
}

/// Every runnable command of the README, as written there (a trailing `# comment` dropped).
const COMMANDS: &[(&str, Class)] = &[
    // The two first commands.
    ("cargo run --release -- run recipes/quickstart.toml", Class::Runs),
    (
        "cargo test --release",
        Class::Excluded("the whole suite, this test included: minutes, and it would run itself"),
    ),
    // Recipes: errors that name the layer, the key and the rule.
    (
        "balmix check tests/fixtures/recipes/alpha-not-positive.toml",
        Class::Fails(2),
    ),
    (
        "balmix run recipes/quickstart.toml --set mixup.alpha=-1",
        Class::Fails(2),
    ),
    // Bring your own data (examples/sensors), in order: each step reads what the last wrote.
    ("python3 examples/sensors/make_data.py", Class::Runs),
    (
        "head -2 examples/sensors/data/labels.csv examples/sensors/data/accel.csv",
        Class::Runs,
    ),
    (
        "balmix data info sensors --manifests examples/sensors",
        Class::Runs,
    ),
    ("balmix run examples/sensors/concat.toml --quiet", Class::Runs),
    ("balmix eval runs/sensors/concat/seed-0", Class::Runs),
    (
        "balmix data info sensors --recipe examples/sensors/concat.toml",
        Class::Runs,
    ),
    (
        "balmix run examples/sensors/concat.toml --quiet --set 'dataset.split.test_groups=[\"s10\", \"s11\", \"s12\"]' --out runs/held-out",
        Class::Runs,
    ),
    (
        "balmix run examples/sensors/concat.toml --quiet --set 'dataset.split.kind=\"stratified\"' --out runs/stratified",
        Class::Runs,
    ),
    (
        "balmix table examples/sensors/sensors-5fold.toml --quiet",
        Class::Runs,
    ),
    ("balmix plot runs/sensors-5fold", Class::Runs),
    // The paper's datasets from raw media: a fake CREMA-D.
    (
        "balmix data fake crema-d --out /tmp/crema-d-raw --clips 42",
        Class::NeedsFfmpeg,
    ),
    (
        "balmix data prepare crema-d --from /tmp/crema-d-raw --to /tmp/crema-d",
        Class::NeedsFfmpeg,
    ),
    (
        "BALMIX_CREMA_D=/tmp/crema-d balmix run recipes/paper/crema-d/concat.toml --set train.epochs=1 --set train.batch_size=8 --set model.encoders.audio.width=4 --set model.encoders.visual.width=4 --set dataset.media.frame_size=64",
        Class::NeedsFfmpeg,
    ),
    // The paper's model with the real data on a GPU.
    (
        "scripts/build-cuda.sh",
        Class::Excluded(
            "downloads the CUDA toolkit's wheels and builds balmix again with CUDA: minutes",
        ),
    ),
    (
        "balmix data prepare crema-d --from <CREMA-D> --lists <OGM-GE data/CREMAD> --to <DIR>",
        Class::Excluded("needs the real CREMA-D and OGM-GE's lists (placeholders to fill in)"),
    ),
    (
        "export BALMIX_CREMA_D=<DIR>",
        Class::Excluded("a placeholder for the prepared real CREMA-D"),
    ),
    (
        "target/cuda/release/balmix run recipes/paper/crema-d/concat.toml --device cuda",
        Class::Excluded("needs the CUDA build, a GPU and the real CREMA-D"),
    ),
    (
        "target/cuda/release/balmix table recipes/tables/paper-main.toml --executor slurm",
        Class::Excluded("needs a Slurm cluster with GPUs and all three real datasets: 225 runs"),
    ),
];

/// One command as the README shows it.
#[derive(Debug)]
struct Shown {
    /// 1-based line of the README.
    line: usize,
    command: String,
    /// The lines a ```console block shows under it, its indentation removed.
    output: Vec<String>,
}

/// A README's commands, and the command-like lines outside ```sh and ```console blocks (line,
/// text): those cannot be classified, so they are errors.
fn parse(readme: &str) -> (Vec<Shown>, Vec<(usize, String)>) {
    let (mut shown, mut stray) = (Vec::<Shown>::new(), Vec::new());
    // (language, indentation of the fence) while inside a fenced block.
    let mut fence: Option<(String, usize)> = None;
    let mut continued: Option<Shown> = None;
    for (i, raw) in readme.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim_start();
        let indent = raw.len() - trimmed.len();
        if let Some(rest) = trimmed.strip_prefix("```") {
            fence = match fence {
                None => Some((rest.trim().to_string(), indent)),
                Some(_) => None,
            };
            continue;
        }
        let Some((lang, fence_indent)) = &fence else {
            if raw.starts_with("    ") && command_like(trimmed) {
                stray.push((line, raw.to_string()));
            }
            continue;
        };
        match lang.as_str() {
            "sh" => {
                let text = without_comment(trimmed);
                if text.is_empty() {
                    continue;
                }
                let mut cmd = continued.take().unwrap_or(Shown {
                    line,
                    command: String::new(),
                    output: Vec::new(),
                });
                match text.strip_suffix('\\') {
                    Some(head) => {
                        cmd.command.push_str(head.trim_end());
                        cmd.command.push(' ');
                        continued = Some(cmd);
                    }
                    None => {
                        cmd.command.push_str(text);
                        shown.push(cmd);
                    }
                }
            }
            "console" => match trimmed.strip_prefix("$ ") {
                Some(cmd) => shown.push(Shown {
                    line,
                    command: without_comment(cmd).to_string(),
                    output: Vec::new(),
                }),
                None => {
                    if let Some(last) = shown.last_mut() {
                        let cut = (*fence_indent).min(indent);
                        last.output.push(raw[cut..].trim_end().to_string());
                    }
                }
            },
            "toml" | "yaml" => {}
            _ => {
                if command_like(trimmed) {
                    stray.push((line, raw.to_string()));
                }
            }
        }
    }
    (shown, stray)
}

/// The command without a trailing shell comment (` # …`), trimmed.
fn without_comment(line: &str) -> &str {
    let line = line.trim();
    match line.find(" #") {
        Some(at) => line[..at].trim_end(),
        None if line.starts_with('#') => "",
        None => line,
    }
}

/// Whether a line of a code block looks like a command someone would copy and run.
fn command_like(line: &str) -> bool {
    let line = line.trim_start().trim_start_matches("$ ");
    let env_prefix = line.split_once(' ').is_some_and(|(first, _)| {
        first.split_once('=').is_some_and(|(var, _)| {
            !var.is_empty() && var.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
    });
    let script = line
        .strip_prefix("scripts/")
        .is_some_and(|rest| rest.starts_with(|c: char| !c.is_whitespace()));
    env_prefix
        || script
        || [
            "balmix ", "cargo ", "python3 ", "export ", "target/", "./", "sh ", "bash ",
        ]
        .iter()
        .any(|p| line.starts_with(p))
}

fn class_of(command: &str) -> Option<Class> {
    COMMANDS
        .iter()
        .find(|(c, _)| *c == command)
        .map(|(_, class)| *class)
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md is readable")
}

/// The problems that make the classification incomplete: unclassified commands, classes whose
/// command is gone, command-like lines outside ```sh and ```console blocks.
fn classification_problems(readme: &str) -> Vec<String> {
    let (shown, stray) = parse(readme);
    let mut problems = Vec::new();
    for s in &shown {
        if class_of(&s.command).is_none() {
            problems.push(format!(
                "README.md:{}: `{}` is not classified in tests/readme_commands.rs: add it to \
                 COMMANDS as Runs, Fails(code), NeedsFfmpeg or Excluded(\"reason\")",
                s.line, s.command
            ));
        }
    }
    for (command, _) in COMMANDS {
        if !shown.iter().any(|s| s.command == *command) {
            problems.push(format!(
                "`{command}` is classified in tests/readme_commands.rs but the README no longer \
                 shows it: remove or update its entry"
            ));
        }
    }
    for (line, text) in stray {
        problems.push(format!(
            "README.md:{line}: `{}` looks like a command outside a ```sh or ```console block: \
             put it in one (and classify it) so the README test runs or excludes it",
            text.trim()
        ));
    }
    problems
}

/// A temporary copy of what the commands read, a scratch folder for their `/tmp/` paths and a
/// folder with `balmix` (the built binary) for PATH.
struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    scratch: PathBuf,
    bin: PathBuf,
}

fn copy_tree(from: &Path, to: &Path, skip: &[&Path]) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if skip.contains(&p.as_path()) {
            continue;
        }
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &target, skip);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

fn sandbox() -> Sandbox {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    // What examples/sensors generates and writes is ignored by git; the copy starts without it.
    let generated = [
        root().join("examples/sensors/data"),
        root().join("examples/sensors/runs"),
    ];
    let skip: Vec<&Path> = generated.iter().map(PathBuf::as_path).collect();
    for dir in ["recipes", "examples", "data-manifests", "tests/fixtures"] {
        copy_tree(&root().join(dir), &repo.join(dir), &skip);
    }
    let (scratch, bin) = (tmp.path().join("scratch"), tmp.path().join("bin"));
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_balmix"), bin.join("balmix")).unwrap();
    Sandbox {
        _tmp: tmp,
        root: repo,
        scratch,
        bin,
    }
}

/// Run one README command in the sandbox as a user's shell would.
fn run(command: &str, sb: &Sandbox) -> Output {
    let line = match command.strip_prefix("cargo run --release --") {
        Some(rest) => format!("balmix{rest}"),
        None => command.to_string(),
    };
    let line = line.replace("/tmp/", &format!("{}/", sb.scratch.display()));
    let path = format!(
        "{}:{}",
        sb.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&line)
        .current_dir(&sb.root)
        .env("PATH", path);
    for (k, _) in std::env::vars() {
        if k.starts_with("BALMIX_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("sh runs")
}

/// Durations (`0.7 s`, `2.48s`) replaced by `#`, so that shown and actual lines compare.
fn without_durations(line: &str) -> String {
    let b = line.as_bytes();
    let (mut out, mut i) = (String::new(), 0);
    while i < b.len() {
        let starts_number = b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if starts_number {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                j += 1;
            }
            let unit = if line[j..].starts_with('s') {
                Some(j + 1)
            } else if line[j..].starts_with(" s") {
                Some(j + 2)
            } else {
                None
            };
            if let Some(end) = unit.filter(|&e| e == b.len() || !b[e].is_ascii_alphanumeric()) {
                out.push('#');
                out.push_str(&line[j..end]);
                i = end;
                continue;
            }
            out.push_str(&line[i..j]);
            i = j;
            continue;
        }
        let c = line[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The first shown line that is not printed (in order, after the previous one), if any.
fn first_missing_line(shown: &[String], printed: &str) -> Option<String> {
    let printed: Vec<String> = printed
        .lines()
        .map(|l| without_durations(l.trim_end()))
        .collect();
    let mut at = 0;
    for s in shown {
        if s.trim() == "…" {
            continue;
        }
        let want = without_durations(s);
        let found = printed[at..]
            .iter()
            .position(|p| match want.strip_suffix('…') {
                Some(prefix) => p.starts_with(prefix.trim_end()),
                None => *p == want,
            });
        match found {
            Some(k) => at += k + 1,
            None => return Some(s.clone()),
        }
    }
    None
}

/// Run `s` as its class says; the failure, if any, says which command, how and what it printed.
fn check(s: &Shown, class: Class, sb: &Sandbox) -> Result<(), String> {
    let want = match class {
        Class::Runs | Class::NeedsFfmpeg => 0,
        Class::Fails(code) => code,
        Class::Excluded(_) => return Ok(()),
    };
    let o = run(&s.command, sb);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    let report = |what: String| {
        format!(
            "README.md:{}: `{}` {what}\n--- stdout\n{out}--- stderr\n{err}",
            s.line, s.command
        )
    };
    if o.status.code() != Some(want) {
        return Err(report(format!(
            "exited with {:?}, expected {want}",
            o.status.code()
        )));
    }
    match first_missing_line(&s.output, &format!("{out}{err}")) {
        Some(line) => Err(report(format!(
            "did not print the README's line `{line}` (in this order)"
        ))),
        None => Ok(()),
    }
}

/// Run the README's commands whose class `pick` accepts, in README order, in one sandbox.
fn run_readme_commands(pick: impl Fn(Class) -> bool) -> usize {
    let sb = sandbox();
    let (shown, _) = parse(&readme());
    let mut ran = 0;
    for s in &shown {
        let class = class_of(&s.command).expect("classified (checked by its own test)");
        if !pick(class) {
            continue;
        }
        eprintln!("README.md:{}: {}", s.line, s.command);
        if let Err(e) = check(s, class, &sb) {
            panic!("{e}");
        }
        ran += 1;
    }
    ran
}

#[test]
fn every_readme_command_is_classified_and_every_class_is_in_the_readme() {
    let problems = classification_problems(&readme());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn an_unclassified_command_a_stale_class_and_a_command_outside_a_command_block_are_reported() {
    let readme = "\
```sh
cargo run --release -- run recipes/quickstart.toml   # classified
balmix run recipes/quickstart.toml --threads 1        # not classified
```

```
balmix keys
```

    BALMIX_THREADS=1 balmix run recipes/quickstart.toml
";
    let problems = classification_problems(readme).join("\n");
    assert!(
        problems.contains(
            "README.md:3: `balmix run recipes/quickstart.toml --threads 1` is not classified"
        ),
        "{problems}"
    );
    assert!(
        problems.contains("`cargo test --release` is classified in tests/readme_commands.rs but the README no longer shows it"),
        "{problems}"
    );
    assert!(
        problems.contains("README.md:7: `balmix keys` looks like a command outside"),
        "{problems}"
    );
    assert!(
        problems.contains("README.md:10: `BALMIX_THREADS=1 balmix run"),
        "{problems}"
    );
}

#[test]
fn a_readme_command_with_a_bad_flag_or_output_it_does_not_print_fails_the_check() {
    let sb = sandbox();
    let bad_flag = Shown {
        line: 1,
        command: "balmix check recipes/quickstart.toml --no-such-flag".into(),
        output: Vec::new(),
    };
    let e = check(&bad_flag, Class::Runs, &sb).unwrap_err();
    assert!(e.contains("exited with Some(2), expected 0"), "{e}");
    let wrong_output = Shown {
        line: 1,
        command: "balmix run recipes/quickstart.toml --set mixup.alpha=-1".into(),
        output: vec!["error: --set mixup.alpha=-1: mixup.alpha must be > 1 (got -1)".into()],
    };
    let e = check(&wrong_output, Class::Fails(2), &sb).unwrap_err();
    assert!(e.contains("did not print the README's line"), "{e}");
}

#[test]
fn shown_output_matches_in_order_with_elisions_prefixes_and_durations_left_out() {
    let printed = "a\nRuns: 20 trained; 0.7 s wall, 2.48s\nCells: n = 10 runs per cell; more\nz\n";
    let shown = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert_eq!(
        first_missing_line(
            &shown(&[
                "a",
                "…",
                "Runs: 20 trained; 9.9 s wall, 0.1s",
                "Cells: n = 10 runs …",
                "z"
            ]),
            printed
        ),
        None
    );
    assert_eq!(
        first_missing_line(&shown(&["z", "a"]), printed),
        Some("a".to_string())
    );
    assert_eq!(
        first_missing_line(&shown(&["Runs: 21 trained; 0.7 s wall, 2.48s"]), printed),
        Some("Runs: 21 trained; 0.7 s wall, 2.48s".to_string())
    );
    assert_eq!(
        without_durations("2 seed(s), 5 folds, 10.5 s wall"),
        "2 seed(s), 5 folds, # s wall"
    );
}

#[test]
fn readme_commands_that_need_no_external_data_run_as_written_and_print_what_it_shows() {
    let ran = run_readme_commands(|c| matches!(c, Class::Runs | Class::Fails(_)));
    assert!(ran >= 10, "only {ran} README commands ran");
}

#[test]
fn readme_fake_crema_d_commands_run_as_written_where_ffmpeg_is_present() {
    if !ffmpeg_or_skip("readme_fake_crema_d_commands_run_as_written_where_ffmpeg_is_present") {
        return;
    }
    let ran = run_readme_commands(|c| c == Class::NeedsFfmpeg);
    assert_eq!(ran, 3, "the fake CREMA-D fetch, prepare and run");
}
