//! Where the paper's datasets keep their files: the layout each is distributed in (what
//! `balmix data prepare --from` reads), the prepared layout the readers use (what it writes),
//! the split lists and how their lines read (`../shared/specs/av-datasets.md` §2–§4).
//!
//! | dataset | raw (distributed) | prepared |
//! |---|---|---|
//! | `crema-d` | `AudioWAV/<clip>.wav`, `VideoFlash/<clip>.flv`; lists `train.csv`, `test.csv` | `AudioWAV/<clip>.wav`, `Image-01-FPS/<clip>/<frame:05>.jpg` |
//! | `kinetics-sounds` | `<id>.mp4` anywhere below; lists `my_train.txt`, `my_test.txt` | `audio/<id>.wav`, `frames/<id>/frame_<t:05>.jpg` |
//! | `ucf-101` | `<Class>/<id>.avi` anywhere below; `classInd.txt`, `trainlist01.txt`, `testlist01.txt` | `ucf101-frames-1fps/video-set/<id>/frame_<t:05>.jpg`, flow `u/<id>/`, `v/<id>/` |
//!
//! The split lists are copied verbatim into the prepared folder. Frames are the first frame of
//! every second (OGM-GE's `video_preprocessing.py` with one frame kept per second); CREMA-D names
//! them by the global frame counter (`00000.jpg`, `00030.jpg`, …), the others 1-based by second.

use std::path::{Path, PathBuf};

pub use super::vocabulary::AvDataset;

/// A split list as published: which file and how many clips it must hold.
#[derive(Debug, Clone, Copy)]
pub struct ListSpec {
    /// File name (in the raw folder, or `--lists`, and in the prepared folder).
    pub file: &'static str,
    /// Clips in the published list.
    pub clips: usize,
    /// sha256 of the published file, where the spec records it.
    pub sha256: Option<&'static str>,
}

/// One line of a split list: the clip id and its label as the list writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Clip id (file stem of its media).
    pub clip: String,
    /// Label text: a class name (CREMA-D, UCF-101) or a class index (Kinetics-Sounds).
    pub label: String,
}

/// CREMA-D's emotion codes in OGM-GE's dictionary order (NEU 0 … ANG 5; spec §2.3).
pub const CREMA_D_OGM_ORDER: [&str; 6] = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"];

/// Kinetics-Sounds' 31 classes; the OGM-GE lists' integer labels index this alphabetical
/// list (spec §3.1).
pub const KINETICS_SOUNDS_CLASSES: [&str; 31] = [
    "blowing_nose",
    "blowing_out_candles",
    "bowling",
    "chopping_wood",
    "dribbling_basketball",
    "laughing",
    "mowing_lawn",
    "playing_accordion",
    "playing_bagpipes",
    "playing_bass_guitar",
    "playing_clarinet",
    "playing_drums",
    "playing_guitar",
    "playing_harmonica",
    "playing_keyboard",
    "playing_organ",
    "playing_piano",
    "playing_saxophone",
    "playing_trombone",
    "playing_trumpet",
    "playing_violin",
    "playing_xylophone",
    "ripping_paper",
    "shoveling_snow",
    "shuffling_cards",
    "singing",
    "stomping_grapes",
    "tap_dancing",
    "tapping_guitar",
    "tapping_pen",
    "tickling",
];

impl AvDataset {
    /// Every dataset, in a fixed order.
    pub const ALL: [AvDataset; 3] = [
        AvDataset::CremaD,
        AvDataset::KineticsSounds,
        AvDataset::Ucf101,
    ];

    /// The name used on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            AvDataset::CremaD => "crema-d",
            AvDataset::KineticsSounds => "kinetics-sounds",
            AvDataset::Ucf101 => "ucf-101",
        }
    }

    /// The dataset called `name`.
    pub fn parse(name: &str) -> Option<AvDataset> {
        AvDataset::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The train and test lists (spec §2.2, §3.2, §4).
    pub fn lists(self) -> [ListSpec; 2] {
        match self {
            AvDataset::CremaD => [
                ListSpec {
                    file: "train.csv",
                    clips: 6698,
                    sha256: Some(
                        "68d0d3fd253830328fc92c68f3cf2e215db8c5b86757ad9c5112d2c76ba68bde",
                    ),
                },
                ListSpec {
                    file: "test.csv",
                    clips: 744,
                    sha256: Some(
                        "14866c99301fd56fb4a16f8a7048a8a6372a47069aee9f216443bc718be45f1f",
                    ),
                },
            ],
            AvDataset::KineticsSounds => [
                ListSpec {
                    file: "my_train.txt",
                    clips: 14799,
                    sha256: Some(
                        "e75bb596c30bf839adb3c2dc73b4a4617add66b36c2f416f96ac2e56a251751f",
                    ),
                },
                ListSpec {
                    file: "my_test.txt",
                    clips: 2597,
                    sha256: Some(
                        "3bb1fee2c9d30919cec6887a3e2fa27b7936cc3f46dff447d85ea21892a80a58",
                    ),
                },
            ],
            AvDataset::Ucf101 => [
                ListSpec {
                    file: "trainlist01.txt",
                    clips: 9537,
                    sha256: None,
                },
                ListSpec {
                    file: "testlist01.txt",
                    clips: 3783,
                    sha256: None,
                },
            ],
        }
    }

    /// Extra list files copied with the split lists (UCF-101's class index).
    pub fn extra_lists(self) -> &'static [&'static str] {
        match self {
            AvDataset::Ucf101 => &["classInd.txt"],
            _ => &[],
        }
    }

    /// The entries of a split list's text (blank lines skipped; CRLF and a BOM tolerated).
    pub fn parse_list(self, text: &str) -> Result<Vec<Entry>, String> {
        let mut out = Vec::new();
        let text = text.trim_start_matches('\u{feff}');
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: &str| format!("line {}: {why}: `{line}`", i + 1);
            let entry = match self {
                // `clip,EMO`
                AvDataset::CremaD => {
                    let (clip, label) = line
                        .split_once(',')
                        .ok_or_else(|| bad("expected `clip,EMOTION`"))?;
                    Entry {
                        clip: clip.trim().to_string(),
                        label: label.trim().to_string(),
                    }
                }
                // `id,10,label`
                AvDataset::KineticsSounds => {
                    let parts: Vec<&str> = line.split(',').map(str::trim).collect();
                    if parts.len() != 3 {
                        return Err(bad("expected `id,seconds,label`"));
                    }
                    Entry {
                        clip: parts[0].to_string(),
                        label: parts[2].to_string(),
                    }
                }
                // `Class/v_Class_gXX_cYY.avi [index]`: the id is the part after `/` up to
                // the first `.`; the label is the class folder.
                AvDataset::Ucf101 => {
                    let path = line.split_whitespace().next().unwrap_or("");
                    let (class, file) = path
                        .split_once('/')
                        .ok_or_else(|| bad("expected `Class/v_Class_gXX_cYY.avi`"))?;
                    let clip = file.split('.').next().unwrap_or("");
                    if clip.is_empty() {
                        return Err(bad("empty clip id"));
                    }
                    Entry {
                        clip: clip.to_string(),
                        label: class.to_string(),
                    }
                }
            };
            if entry.clip.is_empty() {
                return Err(bad("empty clip id"));
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// The extension of the raw video files.
    pub fn video_extension(self) -> &'static str {
        match self {
            AvDataset::CremaD => "flv",
            AvDataset::KineticsSounds => "mp4",
            AvDataset::Ucf101 => "avi",
        }
    }

    /// Whether the dataset has an audio modality (UCF-101 is RGB + flow).
    pub fn has_audio(self) -> bool {
        self != AvDataset::Ucf101
    }

    /// Prepared audio of `clip`.
    pub fn audio_path(self, prepared: &Path, clip: &str) -> PathBuf {
        match self {
            AvDataset::CremaD => prepared.join("AudioWAV").join(format!("{clip}.wav")),
            _ => prepared.join("audio").join(format!("{clip}.wav")),
        }
    }

    /// The folder of `clip`'s prepared RGB frames.
    pub fn frame_dir(self, prepared: &Path, clip: &str) -> PathBuf {
        match self {
            AvDataset::CremaD => prepared.join("Image-01-FPS").join(clip),
            AvDataset::KineticsSounds => prepared.join("frames").join(clip),
            AvDataset::Ucf101 => prepared
                .join("ucf101-frames-1fps")
                .join("video-set")
                .join(clip),
        }
    }

    /// The folders of `clip`'s optical flow (u, v), UCF-101 only.
    pub fn flow_dirs(self, prepared: &Path, clip: &str) -> Option<[PathBuf; 2]> {
        (self == AvDataset::Ucf101)
            .then(|| [prepared.join("u").join(clip), prepared.join("v").join(clip)])
    }

    /// File name of the frame kept for second `second` (0-based) of a clip at `fps` frames
    /// per second (integer, as OpenCV's rate truncated).
    pub fn frame_name(self, second: usize, fps: usize) -> String {
        match self {
            AvDataset::CremaD => format!("{:05}.jpg", second * fps),
            _ => format!("frame_{:05}.jpg", second + 1),
        }
    }

    /// Where the published split lists come from (for messages and help).
    pub fn list_origin(self) -> &'static str {
        match self {
            AvDataset::CremaD => "OGM-GE's data/CREMAD/train.csv and test.csv",
            AvDataset::KineticsSounds => "OGM-GE's data/KineticSound/my_train.txt and my_test.txt",
            AvDataset::Ucf101 => {
                "classInd.txt, trainlist01.txt and testlist01.txt of UCF-101's ucfTrainTestlist"
            }
        }
    }

    /// The raw audio of `clip`, when the distribution carries WAVs (CREMA-D's `AudioWAV/`);
    /// the others take their audio from the video.
    pub fn raw_audio(self, raw: &Path, clip: &str) -> Option<PathBuf> {
        (self == AvDataset::CremaD).then(|| raw.join("AudioWAV").join(format!("{clip}.wav")))
    }
}

/// The sorted `.jpg` files of a frame folder (file names only). Sorting makes the released
/// "first k of `os.listdir`" reproducible (spec §2.6).
pub fn list_frames(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jpg") && !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines_read_as_each_dataset_writes_them() {
        let c = AvDataset::CremaD
            .parse_list("\u{feff}1001_DFA_ANG_XX,ANG\r\n\r\n1091_IEO_HAP_HI,HAP\r\n")
            .unwrap();
        assert_eq!(c[1].clip, "1091_IEO_HAP_HI");
        assert_eq!(c[1].label, "HAP");
        let k = AvDataset::KineticsSounds
            .parse_list("--4-0ihtnBU_000058_000068,10,25\n")
            .unwrap();
        assert_eq!(k[0].clip, "--4-0ihtnBU_000058_000068");
        assert_eq!(k[0].label, "25");
        let u = AvDataset::Ucf101
            .parse_list("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n")
            .unwrap();
        assert_eq!(u[0].clip, "v_ApplyEyeMakeup_g08_c01");
        assert_eq!(u[0].label, "ApplyEyeMakeup");
        assert!(AvDataset::KineticsSounds.parse_list("a,b\n").is_err());
    }

    #[test]
    fn frames_are_named_as_the_reference_loaders_expect() {
        assert_eq!(AvDataset::CremaD.frame_name(2, 30), "00060.jpg");
        assert_eq!(
            AvDataset::KineticsSounds.frame_name(0, 25),
            "frame_00001.jpg"
        );
        assert_eq!(AvDataset::Ucf101.frame_name(5, 25), "frame_00006.jpg");
    }
}
