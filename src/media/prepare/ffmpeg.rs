//! The FFmpeg programs, run as child processes: `ffprobe` for a video's size and frame rate,
//! `ffmpeg` to decode the kept frames to raw RGB on a pipe, to extract audio as 16 kHz PCM,
//! and (for fake datasets) to encode raw frames piped to its stdin.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// How to install FFmpeg, for messages.
pub const INSTALL_HINT: &str = "install FFmpeg (it brings ffprobe): `apt-get install ffmpeg` \
     (Debian, Ubuntu), `dnf install ffmpeg` (Fedora, with RPM Fusion), `brew install ffmpeg` \
     (macOS) or `conda install -c conda-forge ffmpeg`, then check that `ffmpeg -version` runs";

/// `ffmpeg` and `ffprobe`, found on `PATH`.
#[derive(Debug, Clone)]
pub struct Ffmpeg {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    /// The first line of `ffmpeg -version`.
    pub version: String,
    /// The option that keeps every decoded frame with its own timestamp (no duplication or
    /// dropping to a constant rate): `-fps_mode` from FFmpeg 5.1, `-vsync` before.
    passthrough: &'static str,
}

/// Receives each kept frame: its index among the kept frames and its RGB bytes.
pub type KeepFrame<'a> = dyn FnMut(usize, &[u8]) -> Result<(), String> + 'a;

/// A video stream's properties, as ffprobe reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoInfo {
    /// Frame width in pixels.
    pub width: usize,
    /// Frame height in pixels.
    pub height: usize,
    /// The frame rate truncated to an integer (at least 1), as OpenCV's `CAP_PROP_FPS` cast to
    /// `int` in OGM-GE's extraction.
    pub fps: usize,
}

/// The executable `name` in a folder of `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file() || p.with_extension("exe").is_file()
    }
}

/// Run a child to completion while its stderr is collected on a thread (a full stderr pipe
/// must never block it).
fn stderr_collector(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut err = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    })
}

fn failure(what: &str, status: std::process::ExitStatus, stderr: &str) -> String {
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("{what} failed ({status}): {}", tail.join(" | ").trim())
}

impl Ffmpeg {
    /// Both programs, or the name of the first one missing (or not runnable).
    pub fn find() -> Result<Ffmpeg, &'static str> {
        let ffmpeg = which("ffmpeg").ok_or("ffmpeg")?;
        let ffprobe = which("ffprobe").ok_or("ffprobe")?;
        let out = Command::new(&ffmpeg)
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .map_err(|_| "ffmpeg")?;
        if !out.status.success() {
            return Err("ffmpeg");
        }
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("ffmpeg (unknown version)")
            .to_string();
        // `ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers`
        let version = first
            .split(" Copyright")
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        Command::new(&ffprobe)
            .arg("-version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
            .ok_or("ffprobe")?;
        let help = Command::new(&ffmpeg)
            .args(["-hide_banner", "-h", "full"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("-fps_mode"))
            .unwrap_or(false);
        Ok(Ffmpeg {
            ffmpeg,
            ffprobe,
            version,
            passthrough: if help { "-fps_mode" } else { "-vsync" },
        })
    }

    /// Whether every one of `names` is among `ffmpeg -encoders`.
    pub fn has_encoders(&self, names: &[&str]) -> bool {
        let Ok(out) = Command::new(&self.ffmpeg)
            .args(["-hide_banner", "-encoders"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        else {
            return false;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        names.iter().all(|n| {
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(*n))
        })
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.ffmpeg);
        c.args(["-nostdin", "-hide_banner", "-v", "error"]);
        c
    }

    /// Size and integer frame rate of the first video stream of `video`. The rate is the
    /// average rate, else the base rate when the container gives no average (OpenCV's order).
    pub fn probe(&self, video: &Path) -> Result<VideoInfo, String> {
        let out = Command::new(&self.ffprobe)
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .arg("stream=width,height,avg_frame_rate,r_frame_rate")
            .args(["-of", "default=noprint_wrappers=1"])
            .arg(video)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("ffprobe could not run: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(failure(
                "ffprobe",
                out.status,
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        parse_probe(&text)
    }

    /// Decode `video` and hand each kept frame (`width × height × 3` RGB bytes) to `keep`:
    /// the frames whose 0-based index is a multiple of `info.fps`, i.e. the first frame of
    /// every second. Returns how many were kept.
    pub fn kept_frames(
        &self,
        video: &Path,
        info: VideoInfo,
        keep: &mut KeepFrame,
    ) -> Result<usize, String> {
        let mut child = self
            .command()
            .args(["-threads", "1", "-i"])
            .arg(video)
            .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf"])
            .arg(format!("select=not(mod(n\\,{}))", info.fps))
            .args([self.passthrough, "passthrough"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("ffmpeg could not run: {e}"))?;
        let errors = stderr_collector(&mut child);
        let mut stdout = child.stdout.take().expect("stdout piped");
        let mut frame = vec![0u8; info.width * info.height * 3];
        let mut kept = 0;
        let result = loop {
            match read_full(&mut stdout, &mut frame) {
                Ok(0) => break Ok(()),
                Ok(n) if n < frame.len() => {
                    break Err(format!(
                        "ffmpeg ended inside frame {kept} ({n} of {} bytes)",
                        frame.len()
                    ))
                }
                Ok(_) => {
                    if let Err(e) = keep(kept, &frame) {
                        break Err(e);
                    }
                    kept += 1;
                }
                Err(e) => break Err(format!("reading ffmpeg's output: {e}")),
            }
        };
        drop(stdout);
        if result.is_err() {
            let _ = child.kill();
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        let stderr = errors.join().unwrap_or_default();
        result?;
        if !status.success() {
            return Err(failure("ffmpeg (frames)", status, &stderr));
        }
        Ok(kept)
    }

    /// Write the first audio stream of `video` to `wav` as 16-bit PCM at 16 kHz, keeping its
    /// channel count (OGM-GE's and MLA's `mp4_to_wav.py`).
    pub fn extract_audio(&self, video: &Path, wav: &Path) -> Result<(), String> {
        let out = self
            .command()
            .args(["-y", "-threads", "1", "-i"])
            .arg(video)
            .args(["-map", "0:a:0", "-vn", "-c:a", "pcm_s16le", "-ar", "16000"])
            .args(["-map_metadata", "-1", "-bitexact", "-fflags", "+bitexact"])
            .args(["-f", "wav"])
            .arg(wav)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("ffmpeg could not run: {e}"))?;
        if !out.status.success() {
            return Err(failure(
                "ffmpeg (audio)",
                out.status,
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        Ok(())
    }

    /// Encode raw RGB frames into the video `out` with the built-in encoder `codec` at `rate`
    /// frames per second (e.g. `30` or `30000/1001`), muxing `audio` (a WAV file) encoded with
    /// `audio_codec` when given. `frame(i)` gives frame `i` of `frames`.
    #[allow(clippy::too_many_arguments)]
    pub fn encode_video(
        &self,
        out: &Path,
        (width, height): (usize, usize),
        rate: &str,
        codec: &str,
        frames: usize,
        frame: &mut dyn FnMut(usize) -> Vec<u8>,
        audio: Option<(&Path, &str)>,
    ) -> Result<(), String> {
        let mut c = self.command();
        c.arg("-y")
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
            .arg(format!("{width}x{height}"))
            .args(["-r", rate, "-i", "pipe:0"]);
        if let Some((wav, _)) = audio {
            c.arg("-i").arg(wav);
        }
        c.args([
            "-map", "0:v", "-c:v", codec, "-q:v", "3", "-pix_fmt", "yuv420p",
        ]);
        if let Some((_, acodec)) = audio {
            c.args(["-map", "1:a", "-c:a", acodec]);
        }
        c.args(["-map_metadata", "-1", "-bitexact", "-fflags", "+bitexact"])
            .args(["-threads", "1"])
            .arg(out)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .map_err(|e| format!("ffmpeg could not run: {e}"))?;
        let errors = stderr_collector(&mut child);
        let mut stdin = child.stdin.take().expect("stdin piped");
        let written = (0..frames).try_for_each(|i| stdin.write_all(&frame(i)));
        drop(stdin);
        let status = child.wait().map_err(|e| e.to_string())?;
        let stderr = errors.join().unwrap_or_default();
        if !status.success() {
            return Err(failure("ffmpeg (encode)", status, &stderr));
        }
        written.map_err(|e| format!("writing frames to ffmpeg: {e}"))
    }
}

/// Read until `buf` is full or the stream ends; the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A rate such as `30000/1001`, `25/1` or `0/0` as a number (0 when absent).
fn rate(text: &str) -> f64 {
    match text.split_once('/') {
        Some((n, d)) => match (n.trim().parse::<f64>(), d.trim().parse::<f64>()) {
            (Ok(n), Ok(d)) if d > 0.0 => n / d,
            _ => 0.0,
        },
        None => text.trim().parse().unwrap_or(0.0),
    }
}

/// ffprobe's `key=value` lines to a [`VideoInfo`].
fn parse_probe(text: &str) -> Result<VideoInfo, String> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let size = |key: &str| {
        field(key)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&v| v > 0)
    };
    let (Some(width), Some(height)) = (size("width"), size("height")) else {
        return Err(format!(
            "no video stream with a frame size (ffprobe: `{}`)",
            text.trim()
        ));
    };
    let avg = field("avg_frame_rate").map(rate).unwrap_or(0.0);
    let base = field("r_frame_rate").map(rate).unwrap_or(0.0);
    let fps = if avg > 0.0 { avg } else { base };
    if !(fps > 0.0 && fps.is_finite()) {
        return Err(format!("no frame rate (ffprobe: `{}`)", text.trim()));
    }
    Ok(VideoInfo {
        width,
        height,
        fps: (fps as usize).max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenCV's `int(CAP_PROP_FPS)`: 29.97 keeps every 29th frame, not every 30th.
    #[test]
    fn frame_rates_truncate_as_opencv_casts_them() {
        let p = parse_probe(
            "width=97\nheight=73\nr_frame_rate=30000/1001\navg_frame_rate=30000/1001\n",
        )
        .unwrap();
        assert_eq!(
            p,
            VideoInfo {
                width: 97,
                height: 73,
                fps: 29
            }
        );
        let base_only = parse_probe("width=8\nheight=6\nr_frame_rate=25/1\navg_frame_rate=0/0\n");
        assert_eq!(base_only.unwrap().fps, 25);
        let slow = parse_probe("width=8\nheight=6\nr_frame_rate=1/2\navg_frame_rate=1/2\n");
        assert_eq!(slow.unwrap().fps, 1);
        assert!(parse_probe("width=8\nheight=6\nr_frame_rate=0/0\navg_frame_rate=0/0\n").is_err());
        assert!(parse_probe("").is_err());
    }
}
