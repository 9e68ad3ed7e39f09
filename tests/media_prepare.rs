//! `balmix data fake` and `balmix data prepare` end to end: fake → prepare gives every clip's
//! frames and audio with a verifiable SHA256SUMS; reruns skip finished clips and redo
//! interrupted ones; missing media, altered lists and a missing ffmpeg fail with messages that
//! say what to do. Tests that need ffmpeg say so on stderr and pass when it is absent, unless
//! BALMIX_FFMPEG_REQUIRED=1 (CI), where its absence is a failure.

use crate::common::{balmix, balmix_env, ffmpeg_or_skip, text};
use balmix::data::cache::sha256_file;
use balmix::media::frame::read_frame;
use balmix::media::layout::{list_frames, AvDataset};
use balmix::media::prepare::PreparedRecord;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run_ok(args: &[&str], cwd: &Path) -> String {
    let o = balmix(args, cwd);
    let (out, err) = text(&o);
    assert!(o.status.success(), "balmix {args:?} failed:\n{out}\n{err}");
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// `fake DATASET --out raw --clips N` (the raw layout), then `prepare --from raw --to prep`.
fn fake_and_prepare(tmp: &Path, dataset: &str, clips: &str) -> (PathBuf, PathBuf, String) {
    let (raw, prep) = (tmp.join("raw"), tmp.join("prep"));
    let out = run_ok(
        &["data", "fake", dataset, "--out", s(&raw), "--clips", clips],
        tmp,
    );
    assert!(out.contains("distribution (raw) layout"), "{out}");
    let out = run_ok(
        &[
            "data",
            "prepare",
            dataset,
            "--from",
            s(&raw),
            "--to",
            s(&prep),
            "--jobs",
            "2",
        ],
        tmp,
    );
    (raw, prep, out)
}

/// Every line of SHA256SUMS matches its file; the listed paths, sorted as written.
fn verify_sums(dir: &Path) -> Vec<String> {
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS");
    let mut names = Vec::new();
    for line in sums.lines() {
        let (hash, name) = line.split_once("  ").expect("sha256sum format");
        assert_eq!(hash.len(), 64, "{line}");
        assert_eq!(sha256_file(&dir.join(name)).unwrap(), hash, "{name}");
        names.push(name.to_string());
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "SHA256SUMS is sorted by path");
    names
}

/// The clip ids of a prepared folder's lists, train then test.
fn clips(dataset: AvDataset, dir: &Path) -> Vec<String> {
    dataset
        .lists()
        .iter()
        .flat_map(|l| {
            let text = std::fs::read_to_string(dir.join(l.file)).expect("list copied");
            dataset.parse_list(&text).unwrap()
        })
        .map(|e| e.clip)
        .collect()
}

/// Every clip has decodable frames of the fake's size (at least `min_frames`, named as the
/// layout names them) and its audio; SHA256SUMS verifies and lists all of it.
fn check_prepared(dataset: AvDataset, dir: &Path, size: (u32, u32), min_frames: usize) {
    let listed = verify_sums(dir);
    let rel = |p: &Path| {
        p.strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/")
    };
    let ids = clips(dataset, dir);
    assert!(!ids.is_empty());
    for clip in &ids {
        let fdir = dataset.frame_dir(dir, clip);
        let frames = list_frames(&fdir).unwrap_or_else(|e| panic!("{clip}: {e}"));
        assert!(frames.len() >= min_frames, "{clip}: {frames:?}");
        assert!(frames[0] == dataset.frame_name(0, 30), "{clip}: {frames:?}");
        for f in &frames {
            let img = read_frame(&fdir.join(f)).unwrap();
            assert_eq!((img.width, img.height), size, "{clip}/{f}");
            assert!(
                listed.contains(&rel(&fdir.join(f))),
                "{clip}/{f} not in SHA256SUMS"
            );
        }
        if dataset.has_audio() {
            let wav = dataset.audio_path(dir, clip);
            let spec = hound::WavReader::open(&wav).unwrap().spec();
            assert_eq!(spec.sample_rate, 16_000, "{clip}");
            assert!(
                listed.contains(&rel(&wav)),
                "{clip}: audio not in SHA256SUMS"
            );
        }
    }
    for name in ["prepared.toml"]
        .into_iter()
        .chain(dataset.lists().map(|l| l.file))
        .chain(dataset.extra_lists().iter().copied())
    {
        assert!(listed.iter().any(|l| l == name), "{name} not in SHA256SUMS");
    }
}

#[test]
fn fake_crema_d_prepares_every_clip_and_a_rerun_skips_all_without_ffmpeg() {
    if !ffmpeg_or_skip("fake_crema_d_prepares_every_clip_and_a_rerun_skips_all_without_ffmpeg") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (raw, prep, out) = fake_and_prepare(tmp.path(), "crema-d", "12");
    assert!(
        out.contains("12 clips (6 train, 6 test, FAKE dataset)"),
        "{out}"
    );
    assert!(out.contains("12 now, 0 already there"), "{out}");
    check_prepared(AvDataset::CremaD, &prep, (96, 72), 3);
    for clip in clips(AvDataset::CremaD, &prep) {
        let copied = std::fs::read(AvDataset::CremaD.audio_path(&prep, &clip)).unwrap();
        let original = std::fs::read(raw.join("AudioWAV").join(format!("{clip}.wav"))).unwrap();
        assert!(
            copied == original,
            "{clip}: CREMA-D audio is copied byte for byte"
        );
        // 30 fps: the first frame of every second is 0, 30, 60, …
        let frames = list_frames(&AvDataset::CremaD.frame_dir(&prep, &clip)).unwrap();
        assert_eq!(
            &frames[..3],
            ["00000.jpg", "00030.jpg", "00060.jpg"],
            "{clip}"
        );
    }
    for list in ["train.csv", "test.csv"] {
        assert_eq!(
            std::fs::read(raw.join(list)).unwrap(),
            std::fs::read(prep.join(list)).unwrap(),
            "{list} is copied verbatim"
        );
    }
    let record = PreparedRecord::read(&prep).unwrap().expect("prepared.toml");
    assert!(record.fake && record.train_clips == 6 && record.test_clips == 6);
    assert!(record
        .ffmpeg
        .as_deref()
        .is_some_and(|v| v.starts_with("ffmpeg")));
    let sums = std::fs::read(prep.join("SHA256SUMS")).unwrap();
    // A rerun has nothing to extract, so it needs no ffmpeg at all.
    let o = balmix_env(
        &[
            "data",
            "prepare",
            "crema-d",
            "--from",
            s(&raw),
            "--to",
            s(&prep),
        ],
        tmp.path(),
        &[("PATH", "")],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("0 now, 12 already there"), "{out}");
    assert_eq!(std::fs::read(prep.join("SHA256SUMS")).unwrap(), sums);
    assert_eq!(PreparedRecord::read(&prep).unwrap(), Some(record));
}

#[test]
fn kinetics_sounds_audio_comes_from_the_video_at_16_khz_with_its_channels() {
    if !ffmpeg_or_skip("kinetics_sounds_audio_comes_from_the_video_at_16_khz_with_its_channels") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_, prep, out) = fake_and_prepare(tmp.path(), "kinetics-sounds", "10");
    assert!(out.contains("10 clips (5 train, 5 test"), "{out}");
    check_prepared(AvDataset::KineticsSounds, &prep, (112, 84), 3);
    for clip in clips(AvDataset::KineticsSounds, &prep) {
        let spec = hound::WavReader::open(AvDataset::KineticsSounds.audio_path(&prep, &clip))
            .unwrap()
            .spec();
        assert_eq!((spec.channels, spec.bits_per_sample), (2, 16), "{clip}");
        let frames = list_frames(&AvDataset::KineticsSounds.frame_dir(&prep, &clip)).unwrap();
        let expected: Vec<String> = (1..=frames.len())
            .map(|t| format!("frame_{t:05}.jpg"))
            .collect();
        assert_eq!(frames, expected, "{clip}: 1-based and contiguous");
    }
}

#[test]
fn ucf_101_flow_is_copied_when_the_raw_folder_has_it_and_recorded_absent_otherwise() {
    if !ffmpeg_or_skip(
        "ucf_101_flow_is_copied_when_the_raw_folder_has_it_and_recorded_absent_otherwise",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (raw, prep, _) = fake_and_prepare(tmp.path(), "ucf-101", "8");
    check_prepared(AvDataset::Ucf101, &prep, (81, 61), 6);
    assert!(PreparedRecord::read(&prep).unwrap().unwrap().flow);
    let listed = verify_sums(&prep);
    for clip in clips(AvDataset::Ucf101, &prep) {
        for d in AvDataset::Ucf101.flow_dirs(&prep, &clip).unwrap() {
            let n = list_frames(&d).unwrap().len();
            assert!(n >= 12, "{}: {n} flow frames", d.display());
        }
        assert!(
            listed.contains(&format!("u/{clip}/frame000001.jpg")),
            "{clip}"
        );
    }
    std::fs::remove_dir_all(raw.join("flow")).unwrap();
    let no_flow = tmp.path().join("no-flow");
    let o = balmix(
        &[
            "data",
            "prepare",
            "ucf-101",
            "--from",
            s(&raw),
            "--to",
            s(&no_flow),
        ],
        tmp.path(),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains("optical flow is not prepared"), "{err}");
    assert!(!PreparedRecord::read(&no_flow).unwrap().unwrap().flow);
    assert!(!no_flow.join("u").exists());
}

/// A raw CREMA-D folder whose lists and WAVs come from a `--no-video` fake and whose videos
/// are placeholders: enough for everything prepare checks before it runs ffmpeg.
fn raw_without_videos(tmp: &Path, fake: bool) -> (PathBuf, Vec<String>) {
    let nv = tmp.join("nv");
    run_ok(
        &[
            "data",
            "fake",
            "crema-d",
            "--no-video",
            "--clips",
            "12",
            "--out",
            s(&nv),
        ],
        tmp,
    );
    let raw = tmp.join("raw");
    for d in ["AudioWAV", "VideoFlash"] {
        std::fs::create_dir_all(raw.join(d)).unwrap();
    }
    let mut names = vec!["train.csv", "test.csv"];
    if fake {
        names.push("FAKE.toml");
    }
    for f in names {
        std::fs::copy(nv.join(f), raw.join(f)).unwrap();
    }
    let ids = clips(AvDataset::CremaD, &nv);
    for id in &ids {
        std::fs::copy(
            AvDataset::CremaD.audio_path(&nv, id),
            raw.join("AudioWAV").join(format!("{id}.wav")),
        )
        .unwrap();
        std::fs::write(
            raw.join("VideoFlash").join(format!("{id}.flv")),
            b"placeholder",
        )
        .unwrap();
    }
    (raw, ids)
}

#[test]
fn a_missing_raw_clip_fails_closed_naming_it_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (raw, ids) = raw_without_videos(tmp.path(), true);
    std::fs::remove_file(raw.join("VideoFlash").join(format!("{}.flv", ids[2]))).unwrap();
    std::fs::remove_file(raw.join("AudioWAV").join(format!("{}.wav", ids[7]))).unwrap();
    let prep = tmp.path().join("prep");
    let o = balmix(
        &[
            "data",
            "prepare",
            "crema-d",
            "--from",
            s(&raw),
            "--to",
            s(&prep),
        ],
        tmp.path(),
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("2 clip(s) of the split lists have no raw media"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{} (VideoFlash/{}.flv)", ids[2], ids[2])),
        "{err}"
    );
    assert!(
        err.contains(&format!("{} (AudioWAV/{}.wav)", ids[7], ids[7])),
        "{err}"
    );
    assert!(!prep.exists(), "nothing is written when media are missing");
}

#[test]
fn prepare_without_ffmpeg_says_how_to_install_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (raw, _) = raw_without_videos(tmp.path(), true);
    let prep = tmp.path().join("prep");
    let o = balmix_env(
        &[
            "data",
            "prepare",
            "crema-d",
            "--from",
            s(&raw),
            "--to",
            s(&prep),
        ],
        tmp.path(),
        &[("PATH", "")],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("ffmpeg was not found on PATH"), "{err}");
    assert!(
        err.contains("apt-get install ffmpeg") && err.contains("brew install ffmpeg"),
        "{err}"
    );
    assert!(!prep.exists());
}

#[test]
fn lists_of_a_real_dataset_must_have_the_published_counts_and_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    // Without FAKE.toml the folder claims to be the real CREMA-D.
    let (raw, _) = raw_without_videos(tmp.path(), false);
    let prepare = |raw: &Path| {
        let o = balmix(
            &[
                "data",
                "prepare",
                "crema-d",
                "--from",
                s(raw),
                "--to",
                s(&tmp.path().join("prep")),
            ],
            tmp.path(),
        );
        assert_eq!(o.status.code(), Some(1));
        text(&o).1
    };
    let err = prepare(&raw);
    assert!(
        err.contains("train.csv has 6 clips, the published list has 6698"),
        "{err}"
    );
    assert!(err.contains("data/CREMAD/train.csv"), "{err}");
    // The right counts in LF files are still not OGM-GE's CRLF files.
    let lines = |n: usize, emo: &str| -> String {
        (0..n)
            .map(|i| format!("{}_IEO_{emo}_XX,{emo}\n", 1001 + i))
            .collect()
    };
    std::fs::write(raw.join("train.csv"), lines(6698, "ANG")).unwrap();
    std::fs::write(raw.join("test.csv"), lines(744, "SAD")).unwrap();
    let err = prepare(&raw);
    assert!(
        err.contains("but the published list's is 68d0d3fd253830328fc92c68f3cf2e215db8c5b86757ad9c5112d2c76ba68bde"),
        "{err}"
    );
}

#[test]
fn a_partial_leftover_from_a_kill_is_redone() {
    if !ffmpeg_or_skip("a_partial_leftover_from_a_kill_is_redone") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (raw, prep, _) = fake_and_prepare(tmp.path(), "crema-d", "12");
    let ids = clips(AvDataset::CremaD, &prep);
    // As a kill leaves it: frames half-written in `<clip>.partial`, audio not yet renamed.
    let frames = AvDataset::CremaD.frame_dir(&prep, &ids[4]);
    let partial = frames.with_file_name(format!("{}.partial", ids[4]));
    std::fs::rename(&frames, &partial).unwrap();
    std::fs::write(partial.join("00030.jpg"), b"\xff\xd8 half a frame").unwrap();
    let wav = AvDataset::CremaD.audio_path(&prep, &ids[4]);
    std::fs::rename(&wav, wav.with_extension("wav.partial")).unwrap();
    let out = run_ok(
        &[
            "data",
            "prepare",
            "crema-d",
            "--from",
            s(&raw),
            "--to",
            s(&prep),
            "--jobs",
            "1",
        ],
        tmp.path(),
    );
    assert!(out.contains("1 now, 11 already there"), "{out}");
    assert!(!partial.exists() && !wav.with_extension("wav.partial").exists());
    check_prepared(AvDataset::CremaD, &prep, (96, 72), 3);

    // A real kill in the middle of a run: whatever is in place is whole, and a rerun finishes.
    let again = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_balmix"))
        .args([
            "data",
            "prepare",
            "crema-d",
            "--from",
            s(&raw),
            "--to",
            s(&again),
            "--jobs",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = child.kill();
    let _ = child.wait();
    for clip in &ids {
        let d = AvDataset::CremaD.frame_dir(&again, clip);
        for f in list_frames(&d).unwrap_or_default() {
            read_frame(&d.join(&f)).unwrap_or_else(|e| panic!("a frame in place is whole: {e}"));
        }
    }
    run_ok(
        &[
            "data",
            "prepare",
            "crema-d",
            "--from",
            s(&raw),
            "--to",
            s(&again),
        ],
        tmp.path(),
    );
    check_prepared(AvDataset::CremaD, &again, (96, 72), 3);
}

#[test]
fn without_video_the_fake_is_the_prepared_layout_and_the_same_seed_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, seed: &str, env: &[(&str, &str)]| {
        let dir = tmp.path().join(name);
        let mut args = vec![
            "data",
            "fake",
            "kinetics-sounds",
            "--out",
            s(&dir),
            "--seed",
            seed,
        ];
        if env.is_empty() {
            args.push("--no-video");
        }
        let o = balmix_env(&args, tmp.path(), env);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}\n{err}");
        assert!(out.contains("PREPARED layout"), "{out}");
        (dir, out)
    };
    let (a, out) = write("a", "3", &[]);
    assert!(out.contains("--no-video"), "{out}");
    let (b, out) = write("b", "3", &[("PATH", "")]);
    assert!(out.contains("no ffmpeg on PATH"), "{out}");
    let (c, _) = write("c", "4", &[]);
    check_prepared(AvDataset::KineticsSounds, &a, (112, 84), 3);
    let record = PreparedRecord::read(&a).unwrap().unwrap();
    assert!(record.fake && record.ffmpeg.is_none() && record.train_clips + record.test_clips == 15);
    let sums = |d: &Path| std::fs::read_to_string(d.join("SHA256SUMS")).unwrap();
    assert_eq!(sums(&a), sums(&b), "same seed, same files");
    assert_ne!(sums(&a), sums(&c), "another seed, other files");
    assert!(sums(&a).contains("  FAKE.toml\n"));
}

#[test]
fn fakes_need_two_clips_per_class_and_an_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let o = balmix(
        &[
            "data",
            "fake",
            "crema-d",
            "--no-video",
            "--clips",
            "11",
            "--out",
            "x",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("--clips 11: crema-d fakes need between 12"),
        "{:?}",
        text(&o)
    );
    std::fs::write(tmp.path().join("keep.txt"), b"mine").unwrap();
    let o = balmix(
        &[
            "data",
            "fake",
            "crema-d",
            "--no-video",
            "--out",
            s(tmp.path()),
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("is not empty"), "{:?}", text(&o));
}

#[test]
fn a_fake_of_another_dataset_and_a_folder_prepared_for_another_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (raw, _) = raw_without_videos(tmp.path(), true);
    let o = balmix(
        &[
            "data",
            "prepare",
            "kinetics-sounds",
            "--from",
            s(&raw),
            "--to",
            s(&tmp.path().join("p")),
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("describes a fake crema-d dataset, not kinetics-sounds"),
        "{err}"
    );
    let ks = tmp.path().join("ks");
    run_ok(
        &[
            "data",
            "fake",
            "kinetics-sounds",
            "--no-video",
            "--out",
            s(&ks),
        ],
        tmp.path(),
    );
    let o = balmix(
        &[
            "data",
            "prepare",
            "crema-d",
            "--from",
            s(&raw),
            "--to",
            s(&ks),
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("holds a prepared kinetics-sounds dataset"),
        "{err}"
    );
}

#[test]
fn a_clip_ffmpeg_cannot_read_fails_the_run_and_the_others_are_kept() {
    if !ffmpeg_or_skip("a_clip_ffmpeg_cannot_read_fails_the_run_and_the_others_are_kept") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    run_ok(
        &["data", "fake", "crema-d", "--clips", "12", "--out", s(&raw)],
        tmp.path(),
    );
    let ids = clips(AvDataset::CremaD, &raw);
    std::fs::write(
        raw.join("VideoFlash").join(format!("{}.flv", ids[5])),
        b"not a video",
    )
    .unwrap();
    let prep = tmp.path().join("prep");
    // Another process preparing into the same folder holds its lock.
    std::fs::create_dir_all(&prep).unwrap();
    let lock = std::fs::File::create(prep.join(".prepare.lock")).unwrap();
    lock.lock().unwrap();
    let args = [
        "data",
        "prepare",
        "crema-d",
        "--from",
        s(&raw),
        "--to",
        s(&prep),
    ];
    let o = balmix(&args, tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("is being prepared by another balmix process"),
        "{:?}",
        text(&o)
    );
    drop(lock);
    let o = balmix(&args, tmp.path());
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("1 of 12 clip(s) failed: {}: ", ids[5])),
        "{err}"
    );
    assert!(err.contains("run the same command again"), "{err}");
    for (i, clip) in ids.iter().enumerate() {
        assert_eq!(
            AvDataset::CremaD.frame_dir(&prep, clip).is_dir(),
            i != 5,
            "{clip}"
        );
    }
    assert!(!prep.join("prepared.toml").exists() && !prep.join("SHA256SUMS").exists());
}
