//! Bad data is bad input: each error names the file, the 1-based line, the column (by header
//! name) and the sample id, and the command exits 2 — while a file that is not there exits 1.
//! A tiny id-joined dataset (a labels file with subject groups, two sensor files) is written
//! into a temporary folder and one cell or line of it is spoiled per test.

use crate::common::{balmix, text};
use std::path::{Path, PathBuf};

const MANIFEST: &str = r#"name = "tiny"
description = "test"
license = "test"
citation = "test"
classes = ["walk", "run"]

[[sources]]
kind = "local"
name = "files"
env = "BALMIX_TINY"
path = "data"

[labels]
file = { source = "files", path = "labels.csv" }
id = "id"
label = "activity"
group = "subject"

[[modalities]]
name = "accel"
width = 2
reader = { kind = "csv", file = { source = "files", path = "accel.csv" }, header = true, id = "id" }

[[modalities]]
name = "heart"
width = 1
reader = { kind = "csv", file = { source = "files", path = "heart.csv" }, header = true, id = "id" }
"#;

const RECIPE: &str = r#"name = "tiny/concat"
seeds = [0]

[dataset]
manifest = "tiny"
modalities = ["accel", "heart"]
split = { kind = "group", test = 0.34, val = 0.0, seed = 0 }

[model]
encoders.accel = { kind = "mlp", hidden = [4], out = 4 }
encoders.heart = { kind = "mlp", hidden = [4], out = 4 }
fusion = { kind = "concat" }

[train]
epochs = 1
batch_size = 2
"#;

const LABELS: &str =
    "id,subject,activity\nw1,s1,walk\nw2,s1,run\nw3,s2,walk\nw4,s2,run\nw5,s3,walk\nw6,s3,run\n";
// In reverse id order: line 5 is w3.
const ACCEL: &str =
    "id,ax,ay\nw6,0.6,1.6\nw5,0.5,1.5\nw4,0.4,1.4\nw3,0.3,1.3\nw2,0.2,1.2\nw1,0.1,1.1\n";
const HEART: &str = "id,hr\nw1,71\nw2,72\nw3,73\nw4,74\nw5,75\nw6,76\n";

/// The dataset with `file` (under data/) replaced by `content`; the folder and the data folder.
fn dataset(file: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(tmp.path().join("tiny.manifest.toml"), MANIFEST).unwrap();
    std::fs::write(tmp.path().join("tiny.toml"), RECIPE).unwrap();
    for (name, text) in [
        ("labels.csv", LABELS),
        ("accel.csv", ACCEL),
        ("heart.csv", HEART),
    ] {
        std::fs::write(data.join(name), if name == file { content } else { text }).unwrap();
    }
    (tmp, data)
}

/// `balmix run tiny.toml` in `dir`: its exit status and the error message proper (the line
/// of stderr after the run's context).
fn run(dir: &Path) -> (Option<i32>, String) {
    let o = balmix(&["run", "tiny.toml", "--quiet", "--out", "runs"], dir);
    let err = text(&o).1;
    let last = err
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim_start_matches("  caused by: ")
        .trim_start_matches("error: ")
        .to_string();
    (o.status.code(), last)
}

fn shown(data: &Path, file: &str) -> String {
    data.join(file).display().to_string()
}

#[test]
fn untouched_tiny_dataset_trains() {
    let (tmp, _) = dataset("", "");
    let o = balmix(
        &["run", "tiny.toml", "--quiet", "--out", "runs"],
        tmp.path(),
    );
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn nan_cell_names_file_line_column_and_id_and_exits_2() {
    let (tmp, data) = dataset("accel.csv", &ACCEL.replace("w3,0.3,1.3", "w3,0.3,nan"));
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "{}: line 5, column `ay` (id `w3`): value `nan` is not finite; replace it (e.g. impute a missing reading) or drop the row",
            shown(&data, "accel.csv")
        )
    );
    assert_eq!(code, Some(2));
}

#[test]
fn cell_beyond_f32_range_is_an_overflow_not_an_infinity_and_exits_2() {
    let (tmp, data) = dataset("accel.csv", &ACCEL.replace("w3,0.3,1.3", "w3,1e40,1.3"));
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "{}: line 5, column `ax` (id `w3`): value `1e40` overflows f32 (|x| > 3.4e38); rescale the column (e.g. another unit)",
            shown(&data, "accel.csv")
        )
    );
    assert_eq!(code, Some(2));
}

#[test]
fn duplicate_id_cites_both_file_lines_and_exits_2() {
    let (tmp, data) = dataset("heart.csv", &format!("{HEART}w2,99\n"));
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "{}: id `w2` appears twice (lines 3 and 8); ids must be unique",
            shown(&data, "heart.csv")
        )
    );
    assert_eq!(code, Some(2));
}

#[test]
fn header_only_csv_says_it_has_no_data_rows_and_exits_2() {
    let (tmp, data) = dataset("heart.csv", "id,hr\n");
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "{}: no data rows (a header of 2 columns and nothing below it); add one row per sample",
            shown(&data, "heart.csv")
        )
    );
    assert_eq!(code, Some(2));
}

#[test]
fn empty_group_cell_is_an_error_naming_file_line_and_id_and_exits_2() {
    let (tmp, data) = dataset("labels.csv", &LABELS.replace("w4,s2,run", "w4,,run"));
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "{}: line 5, column `subject` (id `w4`): the group cell is empty; give every row its group (e.g. the subject it was recorded from), or remove `group` from the manifest",
            shown(&data, "labels.csv")
        )
    );
    assert_eq!(code, Some(2));
}

#[test]
fn unknown_class_name_names_file_line_column_and_id_and_exits_2() {
    let (tmp, data) = dataset("labels.csv", &LABELS.replace("w4,s2,run", "w4,s2,jog"));
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "{}: line 5, column `activity` (id `w4`): label `jog` is neither a class name nor a class index (classes: walk, run)",
            shown(&data, "labels.csv")
        )
    );
    assert_eq!(code, Some(2));
}

#[test]
fn class_index_out_of_range_names_file_line_column_and_id_and_exits_2() {
    let (tmp, data) = dataset("labels.csv", &LABELS.replace("w4,s2,run", "w4,s2,5"));
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "{}: line 5, column `activity` (id `w4`): label 5 is outside the class range 0..2",
            shown(&data, "labels.csv")
        )
    );
    assert_eq!(code, Some(2));
}

#[test]
fn id_missing_from_a_modality_names_both_files_and_the_line_and_exits_2() {
    let (tmp, data) = dataset("heart.csv", &HEART.replace("w4,74\n", ""));
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "dataset `tiny`: 1 sample id(s) missing from modality `heart` ({}): `w4` ({} line 5)",
            shown(&data, "heart.csv"),
            shown(&data, "labels.csv")
        )
    );
    assert_eq!(code, Some(2));
}

#[test]
fn id_that_is_not_a_sample_names_its_line_and_exits_2() {
    let (tmp, data) = dataset("heart.csv", &format!("{HEART}w9,79\n"));
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "dataset `tiny`: 1 id(s) of modality `heart` ({}) are not samples: `w9` (line 8)",
            shown(&data, "heart.csv")
        )
    );
    assert_eq!(code, Some(2));
}

/// Not bad input: a data file that is not there is the machine's state (exit 1), told with
/// the manifest's instructions.
#[test]
fn missing_data_file_exits_1() {
    let (tmp, data) = dataset("", "");
    std::fs::remove_file(data.join("heart.csv")).unwrap();
    let (code, err) = run(tmp.path());
    assert_eq!(
        err,
        format!(
            "dataset `tiny` is not present: {} is missing",
            shown(&data, "heart.csv")
        )
    );
    assert_eq!(code, Some(1));
}
