//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `--version`: crate version, commit, whether the tree was dirty at build time, and the code
/// fingerprint that run identities use.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BALMIX_GIT"),
    ", ",
    env!("BALMIX_DIRTY"),
    ", code fingerprint ",
    env!("BALMIX_CODE_FINGERPRINT"),
    ")"
);

/// balmix — reproduce balanced multimodal mixup (MM, B-MM) from declarative recipes.
#[derive(Debug, Parser)]
#[command(name = "balmix", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a recipe: one run per seed, recorded under OUT/<name>/seed-<n>/.
    Run(RunArgs),
    /// Validate a recipe and print it fully resolved (every default written out).
    Check(RecipeArgs),
    /// Print a recipe's model without training it: every parameter and buffer with its shape
    /// and size, totals per part, and the forward FLOPs per sample.
    Summary(RecipeArgs),
    /// List every recipe key with its type, default and meaning (from the same doc comments as
    /// the API docs); `balmix keys model.encoders` lists one section.
    Keys {
        /// Only keys under this dotted prefix (e.g. `train`, `dataset.split`, `model.encoders`).
        section: Option<String>,
    },
    /// Datasets: list, fetch, verify, describe; fake and prepare the paper's media datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Reproduce a table: run (or reuse) every cell × seed, then write the report.
    Table(TableArgs),
    /// Write SVG plots: a run's curves (accuracy, loss, λ), mean ± std bands over the runs
    /// below a folder (seeds, folds), or a table's report and its cells' bands.
    Plot(PlotArgs),
    /// Time training steps of a recipe's model: steps/s, samples/s, GFLOP/s, % of peak, memory.
    Bench(BenchArgs),
    /// Evaluate a finished run again: clean test scores (checked against its summary) and, with
    /// --corrupt or the recipe's train.eval.robustness, scores under test-time corruptions.
    Eval(EvalArgs),
}

/// `balmix eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A finished run directory (OUT/<name>/seed-<n>).
    pub run: PathBuf,
    /// Which split to evaluate: `test` (default) or `val`.
    #[arg(long, value_name = "SPLIT", default_value = "test", value_parser = ["test", "val"])]
    pub split: String,
    /// A corruption kind: missing-zero, missing-mean, gaussian, occlusion (images), blur
    /// (images). Repeat for several. Without it, the run's own train.eval.robustness is used.
    #[arg(long, value_name = "KIND")]
    pub corrupt: Vec<String>,
    /// Corrupt only this modality (repeat for several; default: every modality).
    #[arg(long, value_name = "MODALITY")]
    pub modality: Vec<String>,
    /// Severities of one kind, e.g. `gaussian=0,0.5,1` (default: the kind's defaults).
    #[arg(long, value_name = "KIND=S,S,…")]
    pub severities: Vec<String>,
    /// Seed of the corruption stream (default 0; the same for every method and run seed).
    #[arg(long)]
    pub corruption_seed: Option<u64>,
    /// Where to write the scores (default: RUN/eval-robustness.csv; the run's own
    /// robustness.csv from training is never overwritten).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Download cache folder.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// `balmix bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The recipe.
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Timed steps (in 5 windows; the median window is reported).
    #[arg(long, default_value_t = 500)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// Kernel threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Device, `cpu` or `cuda` (same as --set train.device=...; cuda needs a CUDA build).
    #[arg(long, value_parser = ["cpu", "cuda"])]
    pub device: Option<String>,
    /// Peak f32 GFLOP/s of one core, for the "% of peak" figure. Without it the peak is measured
    /// at start-up (the fastest of a few 512×512 f32 products on one core through the ResNet
    /// layers' kernel, under a second); give it to compare with a data-sheet figure.
    #[arg(long)]
    pub peak_gflops: Option<f64>,
    /// Download cache folder.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Skip timing the same recipe without its method (no mixing, modulation, extra losses or
    /// own step), which is otherwise timed before and after it for the relative cost.
    #[arg(long)]
    pub no_plain: bool,
    /// Root folder of run directories, where a method's frozen runs are read from (UMT's
    /// teachers, seed 0: train them first with `balmix run`).
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
}

/// `balmix table`.
#[derive(Debug, Args)]
pub struct TableArgs {
    /// Table file (recipes/tables/*.toml).
    pub table: PathBuf,
    /// Runs in parallel, at least 1 (each single-threaded; results do not depend on it).
    #[arg(long, short, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Root folder of run directories; the report goes to OUT/<table name>/.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Download cache folder (default: $BALMIX_CACHE, else ~/.cache/balmix).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Where the runs execute: `local` (this machine, --jobs at a time) or `slurm` (one job
    /// array, a task per cell × seed that is not complete; --out must be on a filesystem
    /// every node sees).
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    pub executor: Executor,
    /// Slurm partition (sbatch --partition).
    #[arg(long, value_name = "P", help_heading = "Slurm")]
    pub partition: Option<String>,
    /// Time limit of each task (sbatch --time, e.g. 2:00:00).
    #[arg(long, value_name = "T", help_heading = "Slurm")]
    pub time: Option<String>,
    /// CPUs per task (each run is single-threaded).
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Slurm")]
    pub cpus_per_task: usize,
    /// GPUs per task (for recipes with train.device = "cuda").
    #[arg(long, value_name = "N", help_heading = "Slurm")]
    pub gpus_per_task: Option<usize>,
    /// At most K tasks of the array at once (--array=…%K).
    #[arg(long, value_name = "K", help_heading = "Slurm")]
    pub array_limit: Option<usize>,
    /// A further sbatch argument, verbatim (repeat for several), e.g. --sbatch-arg=--qos=low.
    #[arg(
        long,
        value_name = "ARG",
        allow_hyphen_values = true,
        help_heading = "Slurm"
    )]
    pub sbatch_arg: Vec<String>,
    /// Submit, print the job id and return; write the report later with --collect.
    #[arg(long, help_heading = "Slurm", conflicts_with = "collect")]
    pub detach: bool,
    /// Write the report from the runs on disk (after a --detach submission), training nothing.
    #[arg(long, help_heading = "Slurm")]
    pub collect: bool,
    /// Internal: run one task of a submitted array (the job script passes the submission folder).
    #[arg(long, value_name = "DIR", hide = true)]
    pub slurm_task: Option<PathBuf>,
}

/// Where `balmix table` runs its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Executor {
    /// This machine.
    Local,
    /// A Slurm job array.
    Slurm,
}

/// `balmix plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A run directory (with metrics.csv): its curves. A folder of runs, such as a multi-seed
    /// recipe's OUT/<name> (every folder below it with a metrics.csv is one run, e.g.
    /// seed-<n>/ or fold-<i>/seed-<n>/): the curves' mean per epoch with a ±1 std band. A
    /// table's run folder, table file or report.json: the table's chart (report.svg) and each
    /// cell's mean ± std curves in the cell's folder.
    pub target: PathBuf,
    /// Root folder of run directories (to find a table's report).
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
}

/// `balmix data …`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// List the manifests, whether their files are cached, and their size.
    List(CacheArgs),
    /// Download, verify (sha256) and cache a dataset's files.
    Fetch {
        /// Manifest name (see `balmix data list`).
        #[arg(required_unless_present = "all")]
        name: Option<String>,
        /// Every manifest with downloadable files.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Check every cached (or local) file of a dataset against its manifest, without fetching.
    Verify {
        /// Manifest name.
        name: String,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Counts per class and split, and modality shapes (fetches on first use).
    Info {
        /// Manifest name.
        name: String,
        /// Split: test fraction, validation fraction and seed of a stratified split.
        #[arg(long, default_value_t = 0.2)]
        test: f64,
        /// Validation fraction.
        #[arg(long, default_value_t = 0.1)]
        val: f64,
        /// Split seed.
        #[arg(long, default_value_t = 0)]
        split_seed: u64,
        /// Preview this recipe's split instead (its kind — stratified, group, named test
        /// groups, k-fold, fixed — fractions, seed and modalities); every fold of a k-fold
        /// recipe without `dataset.split.fold`.
        #[arg(long, value_name = "RECIPE", conflicts_with_all = ["test", "val", "split_seed"])]
        recipe: Option<PathBuf>,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Write a tiny fake crema-d, kinetics-sounds or ucf-101 in the real layouts (no download)
    ///
    /// With ffmpeg on PATH it writes the layout the dataset is distributed in, for
    /// `balmix data prepare`:
    ///   crema-d          AudioWAV/<clip>.wav (16 kHz mono), VideoFlash/<clip>.flv (30 fps),
    ///                    train.csv, test.csv (`1001_DFA_ANG_XX,ANG`, CRLF)
    ///   kinetics-sounds  train/<id>.mp4, test/<id>.mp4 (29.97 fps, AAC 44.1 kHz stereo track),
    ///                    my_train.txt, my_test.txt (`id,10,label`, label = alphabetical index)
    ///   ucf-101          UCF-101/<Class>/<id>.avi (25 fps), ucfTrainTestlist/classInd.txt,
    ///                    trainlist01.txt, testlist01.txt, and fake optical flow in
    ///                    flow/u/<id>/frame000001.jpg, flow/v/<id>/… (prepare copies flow/;
    ///                    it cannot compute TV-L1 flow itself)
    /// Without ffmpeg, or with --no-video, it writes the prepared layout directly (JPEG frames,
    /// WAV audio, prepared.toml, SHA256SUMS), ready for the readers.
    ///
    /// Audio is a class-dependent tone, frames are coloured stripes whose hue, angle and width
    /// depend on the class. Clips last 2.0–3.4 s (CREMA-D), 2–4 s (Kinetics-Sounds; the real
    /// clips are 10 s) or 6–8 s (UCF-101). Every class is in both lists. FAKE.toml marks the
    /// folder as fake, so that prepare and the loaders take its clip counts instead of the
    /// published ones. Same --seed, same files (videos aside: they depend on the ffmpeg build).
    #[command(verbatim_doc_comment)]
    Fake(FakeArgs),
    /// Turn a downloaded crema-d, kinetics-sounds or ucf-101 into 1-fps JPEG frames and WAVs
    ///
    /// RAW is the dataset as distributed; what to download:
    ///   crema-d          the CREMA-D repository of its authors (CheyneyComputerScience/CREMA-D,
    ///                    media in git-LFS: `git lfs pull`): AudioWAV/<clip>.wav and
    ///                    VideoFlash/<clip>.flv; plus OGM-GE's split lists data/CREMAD/train.csv
    ///                    and test.csv (6,698 / 744 clips; pass their folder with --lists)
    ///   kinetics-sounds  the Kinetics-400 clips of the 31 Kinetics-Sounds classes as
    ///                    <id>.mp4 anywhere below RAW; plus OGM-GE's data/KineticSound/my_train.txt
    ///                    and my_test.txt (14,799 / 2,597 clips)
    ///   ucf-101          UCF-101 (UCF-101/<Class>/<id>.avi) and its ucfTrainTestlist folder
    ///                    (classInd.txt, trainlist01.txt, testlist01.txt: 9,537 / 3,783 clips);
    ///                    optical flow is copied from RAW/flow/u/<id>/frame000001.jpg and
    ///                    RAW/flow/v/<id>/… when present (compute TV-L1 flow with another tool)
    /// DIR receives the prepared layout:
    ///   crema-d          AudioWAV/<clip>.wav (copied), Image-01-FPS/<clip>/00000.jpg, 00030.jpg, …
    ///   kinetics-sounds  audio/<id>.wav (16 kHz, 16-bit, channels kept), frames/<id>/frame_00001.jpg, …
    ///   ucf-101          ucf101-frames-1fps/video-set/<id>/frame_00001.jpg, …, u/<id>/, v/<id>/
    /// plus copies of the lists, prepared.toml and SHA256SUMS (`sha256sum -c SHA256SUMS`).
    ///
    /// Frames follow OGM-GE's video_preprocessing.py: the first frame of every second at the
    /// container's frame rate truncated to an integer, JPEG quality 95. The lists must be the
    /// published ones (clip counts and checksums are checked) unless RAW holds a fake dataset
    /// (FAKE.toml). Every listed clip must be in RAW: missing ones are listed and nothing is
    /// written. Needs ffmpeg and ffprobe on PATH. Interrupt it any time: a rerun skips finished
    /// clips and redoes unfinished ones.
    #[command(verbatim_doc_comment)]
    Prepare(PrepareArgs),
    /// Loader throughput of a prepared media dataset: training-view clips per second through
    /// the streaming loader (every modality, the manifest's default reader settings, batches
    /// of --batch with the next one prefetched), one line per epoch after a warm-up epoch.
    /// Worker threads: BALMIX_LOADER_WORKERS (default: every core). scripts/loader-bench.sh
    /// runs it alternately with the reference PyTorch DataLoader.
    BenchLoader {
        /// Manifest name (a media dataset: crema-d, kinetics-sounds, ucf-101).
        name: String,
        /// Timed epochs (after one warm-up epoch).
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        /// Clips per batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// The resampler of the log-STFT front-end (`[dataset.media] resample`):
        /// resampy_kaiser_best (default, bit-identical to resampy 0.2), resampy_0_3_kaiser_best
        /// or soxr_hq (the resampler librosa ≥ 0.10 uses by default).
        #[arg(long)]
        resample: Option<balmix::media::resample::Resampler>,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// The paper's media datasets, as named on the command line.
fn av_dataset() -> impl clap::builder::TypedValueParser<Value = balmix::media::layout::AvDataset> {
    use balmix::media::layout::AvDataset;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(AvDataset::ALL.map(AvDataset::name))
        .map(|s| AvDataset::parse(&s).expect("one of the possible values"))
}

/// `balmix data fake`.
#[derive(Debug, Args)]
pub struct FakeArgs {
    /// The dataset to imitate.
    #[arg(value_parser = av_dataset())]
    pub dataset: balmix::media::layout::AvDataset,
    /// Folder to write (must be empty or new).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Clips, train and test together (default: crema-d 24, kinetics-sounds 15, ucf-101 12;
    /// at least two per class).
    #[arg(long, value_name = "N")]
    pub clips: Option<usize>,
    /// Seed of the ids, durations, tones and frames.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Write the prepared layout even when ffmpeg is available.
    #[arg(long)]
    pub no_video: bool,
}

/// `balmix data prepare`.
#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// The dataset.
    #[arg(value_parser = av_dataset())]
    pub dataset: balmix::media::layout::AvDataset,
    /// The dataset as downloaded.
    #[arg(long, value_name = "RAW")]
    pub from: PathBuf,
    /// Folder to write the prepared dataset into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Folder of the split lists (default: RAW; for ucf-101 also RAW/ucfTrainTestlist).
    #[arg(long, value_name = "DIR")]
    pub lists: Option<PathBuf>,
    /// Clips prepared at once (default: the available cores).
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

/// Where the download cache is.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Download cache folder (default: $BALMIX_CACHE, else ~/.cache/balmix).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Where to look for manifests: DIR and every folder above it (NAME.manifest.toml or
    /// data-manifests/NAME.toml), then the built-in ones. Default: the working directory.
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
}

/// A recipe and its overrides.
#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// Recipe file (.toml, .yaml or .yml).
    pub recipe: PathBuf,
    /// Override a key: --set mixup.alpha=0.2 (value parsed as TOML, else a string). Repeatable.
    /// Changing a kind (e.g. --set optim.kind=adam) drops the other kind's keys set by the
    /// files (e.g. optim.momentum).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Remove a key set by the recipe files or environment, so its default applies:
    /// --unset optim.schedule. Repeatable; --set still applies.
    #[arg(long = "unset", value_name = "KEY")]
    pub unsets: Vec<String>,
}

/// `balmix run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The recipe.
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Root folder of run directories.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Delete existing runs of this recipe's seeds and train again.
    #[arg(long)]
    pub force: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// CPU threads for the kernels (same as --set train.threads=N; results do not change).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Device, `cpu` or `cuda` (same as --set train.device=...; cuda needs a CUDA build).
    #[arg(long, value_parser = ["cpu", "cuda"])]
    pub device: Option<String>,
    /// Write every step's mix plan (pairs, λ per modality, label λ, contributions) to this CSV.
    /// With several seeds, `.seed-<n>` is added before the extension (and `.fold-<i>` for each
    /// fold of a k-fold recipe).
    #[arg(long, value_name = "FILE.csv")]
    pub trace_mixup: Option<PathBuf>,
    /// Download cache folder (default: $BALMIX_CACHE, else ~/.cache/balmix).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}
