//! Embeds what identifies the code in the binary, so run records say which code made them:
//!
//! * `BALMIX_GIT` — the commit (`unknown` outside a git checkout);
//! * `BALMIX_DIRTY` — `dirty` when the working tree differs from the commit, else `clean`;
//! * `BALMIX_CODE_FINGERPRINT` — sha256 over every file that can change a result: `src/**`,
//!   `Cargo.lock`, `Cargo.toml`, `build.rs` and the embedded `data-manifests/**` (paths sorted,
//!   each path and its bytes hashed), so an uncommitted edit counts. Docs, tests, recipes and
//!   scripts are left out: they cannot change what a recipe produces;
//! * `$OUT_DIR/recipe_keys.rs` — every recipe key's type and documentation, read from the doc
//!   comments of the recipe file types (`build/recipe_keys.rs`), for `balmix keys`.

#[path = "build/recipe_keys.rs"]
mod recipe_keys;

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files and folders whose bytes make the code fingerprint.
const RESULT_SOURCES: &[&str] = &[
    "src",
    "data-manifests",
    "Cargo.lock",
    "Cargo.toml",
    "build.rs",
];

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if s.is_empty() => "clean",
        Some(_) => "dirty",
        None => "unknown",
    };
    let mut files = Vec::new();
    for source in RESULT_SOURCES {
        collect(Path::new(source), &mut files);
        println!("cargo:rerun-if-changed={source}");
    }
    files.sort();
    let mut h = Sha256::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        h.update(file.to_string_lossy().as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let fingerprint: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=BALMIX_GIT={commit}");
    println!("cargo:rustc-env=BALMIX_DIRTY={dirty}");
    println!("cargo:rustc-env=BALMIX_CODE_FINGERPRINT={fingerprint}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    // Every method file holds its own config (its `[method]` keys): all of `src/method/` is
    // read, after the files above (the first item of a name wins), so a new method's keys are
    // documented without a line here. The list macro's own text is not a recipe type.
    let mut method_files: Vec<String> = std::fs::read_dir("src/method")
        .expect("src/method")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter(|p| {
            !std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("macro_rules!")
        })
        .map(|p| p.display().to_string())
        .collect();
    method_files.sort();
    println!("cargo:rerun-if-changed=src/method");
    let mut sources: Vec<&str> = vec![
        "src/recipe/file.rs",
        "src/data/config.rs",
        "src/epoch_window.rs",
        "src/mixup/config.rs",
        "src/method/config.rs",
        "src/model/config.rs",
        "src/optim/config.rs",
        "src/data/robustness.rs",
        "src/data/split.rs",
        "src/media/options.rs",
        "src/media/resample.rs",
        "src/media/select.rs",
        "src/media/spectrogram.rs",
        "src/media/vocabulary.rs",
    ];
    for file in &method_files {
        if !sources.contains(&file.as_str()) {
            sources.push(file);
        }
    }
    recipe_keys::write(&sources, &Path::new(&out).join("recipe_keys.rs"));
}

/// Every file below `path` (or `path` itself), skipping hidden entries.
fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            continue;
        }
        collect(&p, out);
    }
}
