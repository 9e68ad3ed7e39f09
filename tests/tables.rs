//! Tables: the renderer from fixed inputs (alignment, ±, deltas, best marks, failed cells,
//! missing references), and the ci-smoke table end to end.

use crate::snapshot;
use balmix::report::render::{csv, markdown, Cell, ColumnInfo, RefValue, Report, Stat};
use balmix::table::file::Table;
use balmix::table::runner::{run_table, TableOptions};
use std::path::Path;

fn stat(mean: f64, std: f64) -> Stat {
    Stat { mean, std, n: 5 }
}

fn fixed_report() -> Report {
    let done = |a: f64, w: f64, s: f64| Cell::Done {
        accuracy: stat(a, 0.4),
        macro_f1: stat(a - 0.5, 0.5),
        modalities: vec![Some(stat(w, 3.0)), Some(stat(s, 1.0))],
    };
    Report {
        title: "Fixed inputs".into(),
        protocol: "made-up numbers for the renderer test".into(),
        seeds: vec![0, 1, 2, 3, 4],
        folds: None,
        columns: vec![
            ColumnInfo {
                label: "data A".into(),
                modalities: vec!["weak".into(), "strong".into()],
                epochs: vec![60],
            },
            ColumnInfo {
                label: "B".into(),
                modalities: vec!["w".into(), "s".into()],
                epochs: vec![10, 20],
            },
        ],
        rows: vec![
            "concat".into(),
            "a much longer method name".into(),
            "unimodal".into(),
            "broken".into(),
        ],
        cells: vec![
            vec![done(93.25, 30.9, 80.1), done(65.0, 40.0, 60.0)],
            vec![
                done(94.1, 41.8, 81.9),
                Cell::DataMissing("`b` must be prepared locally\nsecond line".into()),
            ],
            vec![
                Cell::Done {
                    accuracy: stat(67.2, 1.2),
                    macro_f1: stat(66.0, 1.0),
                    modalities: vec![Some(stat(67.2, 1.2)), None],
                },
                Cell::Skipped,
            ],
            vec![
                Cell::Failed("recipes/x.toml: mixup.alpha must be > 0 (got -1)".into()),
                Cell::DataMissing("`b` must be prepared locally".into()),
            ],
        ],
        references: vec![
            vec![
                None,
                Some(RefValue {
                    value: 65.5,
                    source: "Paper X (2025)".into(),
                }),
            ],
            vec![
                None,
                Some(RefValue {
                    value: 67.76,
                    source: "Paper X (2025)".into(),
                }),
            ],
            vec![None, None],
            vec![None, None],
        ],
        code_version: "0.0.0 (fixed)".into(),
        runs: (12, 3),
        seconds: (12.5, 20.25),
        robustness: None,
    }
}

#[test]
fn markdown_renderer_matches_snapshot() {
    snapshot!("table__renderer_markdown", markdown(&fixed_report()));
}

#[test]
fn csv_renderer_matches_snapshot() {
    snapshot!("table__renderer_csv", csv(&fixed_report()));
}

/// `fixed_report()` with every statistic over `n` runs and `n` seeds.
fn with_n(n: usize) -> Report {
    let mut rep = fixed_report();
    rep.seeds = (0..n as u64).collect();
    for cell in rep.cells.iter_mut().flatten() {
        if let Cell::Done {
            accuracy,
            macro_f1,
            modalities,
        } = cell
        {
            for s in [accuracy, macro_f1]
                .into_iter()
                .chain(modalities.iter_mut().flatten())
            {
                s.n = n;
            }
        }
    }
    rep
}

/// The line under the table that says what a cell is over.
fn cells_line(md: &str) -> &str {
    md.lines()
        .find(|l| l.starts_with("Cells: "))
        .unwrap_or_else(|| panic!("no Cells line: {md}"))
}

/// The report states the cells' actual n; "one seed, spread unknown" only when n is 1 (it
/// once said so whatever n was).
#[test]
fn report_states_the_number_of_runs_per_cell() {
    let three = markdown(&with_n(3));
    assert!(
        cells_line(&three).contains("mean ± std over 3 seeds (n = 3 runs per cell)"),
        "{three}"
    );
    assert!(!three.contains("spread unknown"), "{three}");
    assert!(three.contains("**94.1 ± 0.4**"), "{three}");
    let one = markdown(&with_n(1));
    assert!(
        cells_line(&one).contains("mean ± std over 1 seed (n = 1: one seed, spread unknown)"),
        "{one}"
    );
    assert!(one.contains("**94.1 (n = 1)**"), "{one}");
}

/// Cells that ran different numbers of runs: the range is stated and each cell below the
/// largest n shows its own.
#[test]
fn report_with_cells_of_different_n_states_the_range_and_marks_the_smaller_cells() {
    let mut rep = with_n(3);
    if let Cell::Done { accuracy, .. } = &mut rep.cells[1][0] {
        accuracy.n = 2;
    }
    if let Cell::Done { accuracy, .. } = &mut rep.cells[2][0] {
        accuracy.n = 1;
    }
    let md = markdown(&rep);
    assert!(
        cells_line(&md).contains("over 3 seeds (n = 1 to 3 runs per cell: a cell with fewer than 3 shows its n; n = 1: one run, spread unknown)"),
        "{md}"
    );
    let row = |label: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {label} ")))
            .unwrap_or_else(|| panic!("no row {label}: {md}"))
            .to_string()
    };
    assert!(
        row("a much longer method name").contains(" **94.1 ± 0.4 (n = 2)** |"),
        "{md}"
    );
    assert!(
        row("unimodal").contains(" 67.2 (n = 1) | 67.2 ± 1.2 |"),
        "{md}"
    );
    // A cell with the most runs shows no n.
    assert!(row("concat").contains(" 93.2 ± 0.4 | 30.9 ± 3.0 |"), "{md}");
    assert!(!row("concat").contains("(n ="), "{md}");
}

#[test]
fn stat_uses_sample_standard_deviation_in_percent() {
    let s = Stat::of(&[0.9, 0.92, 0.94]);
    assert!((s.mean - 92.0).abs() < 1e-9);
    assert!((s.std - 2.0).abs() < 1e-9);
    assert_eq!(Stat::of(&[0.5]).std, 0.0);
}

/// The ci-smoke table end to end (synthetic, 5 epochs, 2 seeds), run with 2 jobs and then
/// again with 1 job in a fresh folder: identical reports; a third invocation reuses every run.
/// The snapshot guards the numbers; the code version and timings are replaced by fixed text.
#[test]
fn ci_smoke_table_matches_snapshot_for_any_jobs_and_reuses_runs() {
    let table =
        Table::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/tables/ci-smoke.toml"))
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let opts = |dir: &str, jobs: usize| TableOptions {
        out: tmp.path().join(dir),
        jobs,
        quiet: true,
        cache: None,
    };
    let normalise = |mut r: Report| {
        r.code_version = "(redacted)".into();
        r.seconds = (0.0, 0.0);
        r.runs = (0, 0);
        r
    };
    let two = run_table(&table, &opts("two", 2));
    assert_eq!(two.runs, (8, 0));
    let one = run_table(&table, &opts("one", 1));
    assert_eq!(markdown(&normalise(one)), markdown(&normalise(two.clone())));
    let again = run_table(&table, &opts("two", 2));
    assert_eq!(again.runs, (0, 8), "every run is reused");
    assert_eq!(
        markdown(&normalise(again)),
        markdown(&normalise(two.clone()))
    );
    snapshot!("table__ci_smoke", markdown(&normalise(two)));
}

#[test]
fn changed_recipe_is_rerun_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let synthetic = root.join("recipes/synthetic");
    let text = std::fs::read_to_string(root.join("recipes/tables/ci-smoke.toml"))
        .unwrap()
        .replace("seeds = [0, 1]", "seeds = [0]")
        .replace(
            "dir = \"../synthetic\"",
            &format!("dir = {:?}", synthetic.display().to_string()),
        );
    let path = dir.path().join("reuse.toml");
    std::fs::write(&path, &text).unwrap();
    let table = Table::load(&path).unwrap();
    let opts = TableOptions {
        out: dir.path().to_path_buf(),
        jobs: 1,
        quiet: true,
        cache: None,
    };
    assert_eq!(run_table(&table, &opts).runs, (4, 0));
    std::fs::write(&path, text.replace("train.epochs=5", "train.epochs=4")).unwrap();
    let table = Table::load(&path).unwrap();
    let rep = run_table(&table, &opts);
    assert_eq!(rep.runs, (4, 0), "a different recipe hash trains again");
}

/// A cell whose recipe cannot be loaded is shown as failed with its error; the other cells run.
#[test]
fn failed_cell_is_reported_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let text = synthetic_table(
        "[[rows]]\nkey = \"ok\"\nlabel = \"concat\"\nrecipe = \"concat.toml\"\n\
         [[rows]]\nkey = \"bad\"\nlabel = \"missing\"\nrecipe = \"no-such-recipe.toml\"\n",
    );
    let rep = run_table_text(dir.path(), &text);
    assert!(matches!(rep.cells[0][0], Cell::Done { .. }));
    assert!(
        matches!(&rep.cells[1][0], Cell::Failed(e) if e.contains("no-such-recipe.toml: recipe file not found"))
    );
    let md = markdown(&rep);
    assert!(md.contains("| missing |") && md.contains("failed"), "{md}");
    assert!(
        md.contains("missing / synthetic: ") && md.contains("recipe file not found"),
        "{md}"
    );
}

/// A one-seed, one-epoch table on the shipped synthetic recipes with the column `s` and `rows`
/// (TOML).
fn synthetic_table(rows: &str) -> String {
    let synthetic = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/synthetic");
    format!(
        "title = \"t\"\nprotocol = \"p\"\nseeds = [0]\nset = [\"train.epochs=1\"]\n\
         [[columns]]\nkey = \"s\"\nlabel = \"synthetic\"\ndir = {:?}\n{rows}",
        synthetic.display().to_string()
    )
}

/// Write `text` as `t.toml` in `dir` and run it with two jobs into `dir/runs`.
fn run_table_text(dir: &Path, text: &str) -> Report {
    let path = dir.join("t.toml");
    std::fs::write(&path, text).unwrap();
    let table = Table::load(&path).unwrap();
    let opts = TableOptions {
        out: dir.join("runs"),
        jobs: 2,
        quiet: true,
        cache: None,
    };
    run_table(&table, &opts)
}

/// A cell on a local dataset that is not prepared (an empty folder) says "data not present"
/// with the command that lists what is missing, not the first file that failed to open (the
/// data fingerprint once reported an I/O error here).
#[test]
fn a_local_dataset_not_prepared_is_data_not_present() {
    use crate::common::{balmix_env, root, text};
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let table = root().join("tests/fixtures/tables/slurm-failing.toml");
    let o = balmix_env(
        &[
            "table",
            table.to_str().unwrap(),
            "--out",
            tmp.path().join("runs").to_str().unwrap(),
        ],
        root(),
        &[("BALMIX_CREMA_D", empty.to_str().unwrap())],
    );
    let (out, err) = text(&o);
    // Data that is not there is not a failure of the table (the paper tables list it).
    assert!(o.status.success(), "{err}");
    assert!(err.contains("data not present"), "{err}");
    assert!(
        out.contains("`crema-d` must be prepared locally: `balmix data prepare crema-d --from RAW --to DIR`, then `export BALMIX_CREMA_D=DIR`; `balmix data verify crema-d`"),
        "{out}"
    );
}

/// UMT's cells read the table's unimodal cells of the same column and seed as teachers: with
/// two jobs, the student's run waits for a teacher still training in the other worker (the
/// strong teacher trains 40 epochs, the weak one and the student 1 and 2, so the student is
/// dequeued while the strong teacher runs) and every cell finishes; the student's summary
/// names the table's teacher runs.
#[test]
fn a_umt_cell_waits_for_its_teacher_cells() {
    let dir = tempfile::tempdir().unwrap();
    let text = synthetic_table(
        "[[rows]]\nkey = \"weak\"\nlabel = \"audio\"\nrecipe = \"unimodal-audio.toml\"\n\
         [[rows]]\nkey = \"strong\"\nlabel = \"visual\"\nrecipe = \"unimodal-visual.toml\"\nset = [\"train.epochs=40\"]\n\
         [[rows]]\nkey = \"umt\"\nlabel = \"UMT\"\nrecipe = \"umt.toml\"\n\
         set = ['method.teachers=[\"weak\", \"strong\"]', \"train.epochs=2\"]\n",
    );
    let rep = run_table_text(dir.path(), &text);
    for (r, row) in rep.cells.iter().enumerate() {
        assert!(matches!(row[0], Cell::Done { .. }), "row {r}: {:?}", row[0]);
    }
    let dirs = crate::common::frozen_dirs(&dir.path().join("runs/t/s/umt/seed-0"));
    assert!(
        dirs[0].ends_with("t/s/weak/seed-0") && dirs[1].ends_with("t/s/strong/seed-0"),
        "{dirs:?}"
    );
}
