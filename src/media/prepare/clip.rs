//! One clip, raw to prepared: its kept frames as JPEGs, its audio as WAV, its optical flow
//! copied. Each output is written into a sibling named `<name>.partial` and renamed into
//! place when complete, so a killed run leaves only `.partial` leftovers (redone on the next
//! run) and an output that exists is complete (skipped on the next run).

use super::ffmpeg::Ffmpeg;
use super::jpeg::encode_rgb;
use super::raw::RawClip;
use crate::media::layout::AvDataset;
use std::path::{Path, PathBuf};

/// Where one clip's outputs go in the prepared folder.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The frame folder.
    pub frames: PathBuf,
    /// The WAV file (datasets with audio).
    pub audio: Option<PathBuf>,
    /// The flow folders (u, v), when flow is prepared.
    pub flow: Option<[PathBuf; 2]>,
}

impl Outputs {
    /// The outputs of `clip` in `dir`.
    pub fn of(dataset: AvDataset, dir: &Path, clip: &str, flow: bool) -> Outputs {
        Outputs {
            frames: dataset.frame_dir(dir, clip),
            audio: dataset.has_audio().then(|| dataset.audio_path(dir, clip)),
            flow: dataset.flow_dirs(dir, clip).filter(|_| flow),
        }
    }

    /// Whether every output is in place (renamed from its `.partial`).
    pub fn complete(&self) -> bool {
        self.frames.is_dir()
            && self.audio.as_ref().is_none_or(|a| a.is_file())
            && self.flow.iter().flatten().all(|d| d.is_dir())
    }

    /// Whether anything left to do needs ffmpeg (frames, or audio taken from the video).
    pub fn needs_ffmpeg(&self, dataset: AvDataset) -> bool {
        // Only CREMA-D distributes WAVs; the others' audio comes from the video.
        !self.frames.is_dir()
            || (dataset != AvDataset::CremaD && self.audio.as_ref().is_some_and(|a| !a.is_file()))
    }
}

/// `<path>.partial`, the sibling an output is built in.
pub fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn io(path: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

/// Remove a leftover `.partial` file or folder.
fn clear(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        std::fs::remove_dir_all(path).map_err(|e| io(path, e))
    } else if path.exists() {
        std::fs::remove_file(path).map_err(|e| io(path, e))
    } else {
        Ok(())
    }
}

/// Build `target` with `build(partial)` and rename it into place; a target that exists is
/// left alone.
fn publish(target: &Path, build: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), String> {
    if target.exists() {
        return Ok(());
    }
    let tmp = partial(target);
    clear(&tmp)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    build(&tmp)?;
    std::fs::rename(&tmp, target).map_err(|e| io(target, e))
}

/// Copy the plain files of folder `from` into a new folder `to`.
fn copy_folder(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let p = entry.map_err(|e| io(from, e))?.path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap_or_default())).map_err(|e| io(&p, e))?;
        }
    }
    Ok(())
}

/// Write every missing output of `clip`. `ffmpeg` is needed when frames or video audio are
/// missing.
pub fn prepare_clip(
    dataset: AvDataset,
    out: &Outputs,
    raw: &RawClip,
    ffmpeg: Option<&Ffmpeg>,
) -> Result<(), String> {
    let need = || ffmpeg.ok_or_else(|| "ffmpeg is needed and was not found".to_string());
    publish(&out.frames, |tmp| {
        let ff = need()?;
        std::fs::create_dir_all(tmp).map_err(|e| io(tmp, e))?;
        let info = ff.probe(&raw.video)?;
        let kept = ff.kept_frames(&raw.video, info, &mut |k, rgb| {
            let jpg = encode_rgb(info.width, info.height, rgb)?;
            let path = tmp.join(dataset.frame_name(k, info.fps));
            std::fs::write(&path, jpg).map_err(|e| io(&path, e))
        })?;
        if kept == 0 {
            return Err(format!("{}: no frame decoded", raw.video.display()));
        }
        Ok(())
    })?;
    if let Some(target) = &out.audio {
        publish(target, |tmp| match &raw.audio {
            Some(wav) => std::fs::copy(wav, tmp).map(|_| ()).map_err(|e| io(wav, e)),
            None => need()?.extract_audio(&raw.video, tmp),
        })?;
    }
    if let (Some(targets), Some(sources)) = (&out.flow, &raw.flow) {
        for (target, source) in targets.iter().zip(sources) {
            publish(target, |tmp| copy_folder(source, tmp))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leftover `.partial` from a killed run is replaced, and a finished output is never
    /// rebuilt.
    #[test]
    fn a_partial_leftover_is_redone_and_a_finished_output_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("frames/clip");
        std::fs::create_dir_all(partial(&target)).unwrap();
        std::fs::write(partial(&target).join("00000.jpg"), b"half").unwrap();
        publish(&target, |t| {
            std::fs::create_dir_all(t).unwrap();
            std::fs::write(t.join("00000.jpg"), b"whole").map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(std::fs::read(target.join("00000.jpg")).unwrap(), b"whole");
        assert!(!partial(&target).exists());
        publish(&target, |_| Err("must not run".into())).unwrap();
        let failed = tmp.path().join("frames/other");
        assert!(publish(&failed, |_| Err("boom".into())).is_err());
        assert!(!failed.exists());
    }
}
