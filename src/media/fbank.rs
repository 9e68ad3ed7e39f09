//! The Kaldi filter-bank front-end (torchaudio `compliance.kaldi.fbank` as OGM-GE's
//! Kinetics-Sounds `process_audio.py` calls it; `../shared/specs/av-datasets.md` §3.4).
//!
//! From a decoded clip (all its channels, as `torchaudio.load` returns them) to a
//! `target_length × mel_bins` image, time as the height:
//!
//! 1. the mean of the whole clip, over all channels, is subtracted (§3.4 step 2); only channel 0
//!    is analysed (`fbank`'s `channel` option, §3.3);
//! 2. frames of 25 ms every 10 ms, none past the end (`snip_edges`): M = 1 + ⌊(N − 400)/160⌋ at
//!    16 kHz;
//! 3. per frame: its mean removed, pre-emphasis y[j] = x[j] − 0.97·x[j−1] (x[−1] := x[0]), the
//!    symmetric Hann window 0.5 − 0.5·cos(2πj/(L−1)), zero-padded to the next power of two, a
//!    real FFT and the power |X[k]|²;
//! 4. 128 triangular mel filters, mel(f) = 1127·ln(1 + f/700) from 20 Hz to Nyquist, and
//!    ln(max(energy, f32::EPSILON));
//! 5. zero rows appended up to `target_length` (1,024), or the first 1,024 rows kept (step 4);
//! 6. the OGM-GE normalisation (x + 4.503877)/10.282552 (step 5), or none (MLA, §2.5 A-MLA).
//!
//! The signal path runs in f64 (torchaudio's in float32 is the less exact of the two: its own
//! float32 and float64 runs differ by up to ~6e-3 in the log of energies near the floor, see
//! `tests/media_fbank.rs`). The filter bank is formed in f32 in torchaudio's order of operations,
//! since its weights are what both sides multiply by (at mel ≈ 2,800 one f32 step is 2.4e-4 mel,
//! which moves a weight by up to 1.4e-5 from its f64 value). Only ln(1 + f/700) of each FFT bin
//! is rounded correctly from f64, where torch's vectorised float32 log is one step off on 21 of
//! the 256 bins: the weights stay within 1.1e-5 of torchaudio's, and the log-mel values within
//! 1.04e-4 on the reference clips (a pure tone on a bin of small weight; usually under 6e-5).

use realfft::RealFftPlanner;

/// What follows the padding or cutting (spec §3.4 step 5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FbankNorm {
    /// The raw log-mel values; padding rows stay 0 (MLA's `extract_fbank.py`, §2.5 A-MLA).
    None,
    /// (x − mean)/(2·std), in f32 as process_audio.py computes it on its float32 tensor.
    MeanStd {
        /// Subtracted first (−4.503877 for OGM-GE).
        mean: f32,
        /// Half the divisor (5.141276 for OGM-GE).
        std: f32,
    },
}

impl FbankNorm {
    /// process_audio.py's `norm_mean` −4.503877 and `norm_std` 5.141276.
    pub const OGM_GE: FbankNorm = FbankNorm::MeanStd {
        mean: -4.503877,
        std: 5.141276,
    };

    /// The normalised value of one log-mel entry.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            FbankNorm::None => x,
            FbankNorm::MeanStd { mean, std } => (x - mean) / (std * 2.0),
        }
    }
}

/// The front-end's settings. The rest of torchaudio's options are fixed at what
/// process_audio.py uses: Hann ("hanning") window, no dither, `snip_edges`, rounding to a power
/// of two, per-frame DC removal, power spectrum, log, no energy column, channel 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KaldiFbank {
    /// Frame length in ms (`frame_length`, 25).
    pub frame_length_ms: f64,
    /// Frame shift in ms (`frame_shift`, 10).
    pub frame_shift_ms: f64,
    /// Pre-emphasis coefficient in [0, 1] (`preemphasis_coefficient`, 0.97).
    pub preemphasis: f64,
    /// Mel filters, more than 3 (`num_mel_bins`, 128).
    pub mel_bins: usize,
    /// Lower edge of the mel range in Hz (`low_freq`, 20).
    pub low_freq: f64,
    /// Upper edge in Hz; ≤ 0 counts down from Nyquist (`high_freq`, 0: Nyquist).
    pub high_freq: f64,
    /// Rows after padding or cutting (`target_length`, 1,024).
    pub target_length: usize,
    /// Normalisation after padding (process_audio.py's).
    pub norm: FbankNorm,
}

/// Why the fbank cannot be computed; each names the rule broken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FbankError {
    /// No channel at all.
    #[error("fbank needs at least one audio channel (got 0)")]
    NoChannels,
    /// Channels of different lengths.
    #[error("fbank channels must have equal lengths: channel {channel} has {got} samples, channel 0 has {expected}")]
    RaggedChannels {
        /// The offending channel.
        channel: usize,
        /// Its length.
        got: usize,
        /// Channel 0's length.
        expected: usize,
    },
    /// Fewer samples than one frame.
    #[error("a clip of {samples} samples is shorter than one fbank frame ({window} samples = {ms} ms at {rate} Hz)")]
    TooShort {
        /// The clip's samples per channel.
        samples: usize,
        /// Samples per frame.
        window: usize,
        /// The frame length in ms.
        ms: f64,
        /// The sample rate.
        rate: u32,
    },
    /// A frame of under 2 samples.
    #[error(
        "fbank frame length must give at least 2 samples: {ms} ms at {rate} Hz gives {window}"
    )]
    WindowTooSmall {
        /// The frame length in ms.
        ms: f64,
        /// The sample rate.
        rate: u32,
        /// Samples per frame.
        window: usize,
    },
    /// A shift of 0 samples.
    #[error("fbank frame shift must give at least 1 sample: {ms} ms at {rate} Hz gives 0")]
    ShiftTooSmall {
        /// The frame shift in ms.
        ms: f64,
        /// The sample rate.
        rate: u32,
    },
    /// Pre-emphasis outside [0, 1].
    #[error("fbank pre-emphasis must be in [0, 1] (got {0})")]
    Preemphasis(f64),
    /// Too few mel filters.
    #[error("fbank needs more than 3 mel bins (got {0})")]
    MelBins(usize),
    /// A mel range outside (0, Nyquist] or upside down.
    #[error("fbank mel range must satisfy 0 ≤ low < high ≤ Nyquist: low {low} Hz, high {high} Hz, Nyquist {nyquist} Hz")]
    MelRange {
        /// Lower edge (Hz).
        low: f64,
        /// Upper edge after resolving ≤ 0 (Hz).
        high: f64,
        /// Half the sample rate (Hz).
        nyquist: f64,
    },
    /// A target length of 0.
    #[error("fbank target length must be at least 1 (got 0)")]
    TargetLength,
}

/// Frame geometry in samples at one sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// Samples per frame (400 at 16 kHz).
    pub window: usize,
    /// Samples between frame starts (160).
    pub shift: usize,
    /// FFT size: `window` rounded up to a power of two (512).
    pub fft: usize,
}

impl KaldiFbank {
    /// OGM-GE's Kinetics-Sounds `process_audio.py` (spec §3.4), also the `.pt` files of
    /// MMPareto, D&R and BalanceBenchmark (§2.5 A-FBANK): 1,024 × 128, normalised.
    pub const OGM_GE: KaldiFbank = KaldiFbank {
        frame_length_ms: 25.0,
        frame_shift_ms: 10.0,
        preemphasis: 0.97,
        mel_bins: 128,
        low_freq: 20.0,
        high_freq: 0.0,
        target_length: 1024,
        norm: FbankNorm::OGM_GE,
    };

    /// MLA's `data/extract_fbank.py` (§2.5 A-MLA): the same without the normalisation.
    pub const MLA: KaldiFbank = KaldiFbank {
        norm: FbankNorm::None,
        ..KaldiFbank::OGM_GE
    };

    /// (rows, columns) of [`KaldiFbank::compute`]'s output: time × mel.
    pub fn shape(&self) -> (usize, usize) {
        (self.target_length, self.mel_bins)
    }

    /// Samples per frame, shift and FFT size at `rate`, truncated as torchaudio's
    /// `int(rate · ms · 0.001)`.
    pub fn framing(&self, rate: u32) -> Result<Framing, FbankError> {
        let samples = |ms: f64| (rate as f64 * ms * 0.001) as usize;
        let (window, shift) = (samples(self.frame_length_ms), samples(self.frame_shift_ms));
        if window < 2 {
            return Err(FbankError::WindowTooSmall {
                ms: self.frame_length_ms,
                rate,
                window,
            });
        }
        if shift == 0 {
            return Err(FbankError::ShiftTooSmall {
                ms: self.frame_shift_ms,
                rate,
            });
        }
        Ok(Framing {
            window,
            shift,
            fft: window.next_power_of_two(),
        })
    }

    /// Frames of a clip of `samples` samples (before padding or cutting):
    /// 1 + ⌊(samples − window)/shift⌋ (§3.4 step 3, `snip_edges`).
    pub fn frames(&self, samples: usize, rate: u32) -> Result<usize, FbankError> {
        let f = self.framing(rate)?;
        if samples < f.window {
            return Err(FbankError::TooShort {
                samples,
                window: f.window,
                ms: self.frame_length_ms,
                rate,
            });
        }
        Ok(1 + (samples - f.window) / f.shift)
    }

    /// The triangular mel filters at `rate`: `mel_bins` rows of `fft/2 + 1` weights (the last,
    /// Nyquist, always 0). Filter b rises from lo + b·Δ to lo + (b+1)·Δ and falls to
    /// lo + (b+2)·Δ in mel, Δ = (mel(high) − mel(low))/(mel_bins + 1); no area normalisation.
    /// Computed in f32 with torchaudio's order of operations (see the module docs).
    pub fn mel_bank(&self, rate: u32) -> Result<Vec<Vec<f32>>, FbankError> {
        if self.mel_bins <= 3 {
            return Err(FbankError::MelBins(self.mel_bins));
        }
        let fft = self.framing(rate)?.fft;
        let nyquist = 0.5 * rate as f64;
        let high = if self.high_freq <= 0.0 {
            self.high_freq + nyquist
        } else {
            self.high_freq
        };
        let low = self.low_freq;
        if !((0.0..nyquist).contains(&low) && high > 0.0 && high <= nyquist && low < high) {
            return Err(FbankError::MelRange { low, high, nyquist });
        }
        let mel = |f: f64| 1127.0 * (1.0 + f / 700.0).ln();
        let (lo, delta) = (
            mel(low),
            (mel(high) - mel(low)) / (self.mel_bins + 1) as f64,
        );
        let (lo, delta) = (lo as f32, delta as f32);
        let width = (rate as f64 / fft as f64) as f32;
        // mel of each FFT bin's frequency; the f32 log rounded once from f64.
        let bin_mel: Vec<f32> = (0..fft / 2)
            .map(|k| 1127.0 * ((1.0 + width * k as f32 / 700.0) as f64).ln() as f32)
            .collect();
        Ok((0..self.mel_bins)
            .map(|b| {
                let left = lo + b as f32 * delta;
                let center = lo + (b as f32 + 1.0) * delta;
                let right = lo + (b as f32 + 2.0) * delta;
                let mut row: Vec<f32> = bin_mel
                    .iter()
                    .map(|&m| {
                        let up = (m - left) / (center - left);
                        let down = (right - m) / (right - center);
                        up.min(down).max(0.0)
                    })
                    .collect();
                row.push(0.0);
                row
            })
            .collect())
    }

    /// The log-mel energies of every frame (steps 1–4, before padding or cutting), row-major
    /// frames × `mel_bins`. `channels` are the clip's channels, of equal lengths.
    pub fn log_mel(
        &self,
        channels: &[impl AsRef<[f32]>],
        rate: u32,
    ) -> Result<Vec<f32>, FbankError> {
        self.log_mel_rows(channels, rate, usize::MAX)
    }

    /// The front-end's output (steps 1–6), row-major `target_length × mel_bins`.
    pub fn compute(
        &self,
        channels: &[impl AsRef<[f32]>],
        rate: u32,
    ) -> Result<Vec<f32>, FbankError> {
        if self.target_length == 0 {
            return Err(FbankError::TargetLength);
        }
        let mut out = self.log_mel_rows(channels, rate, self.target_length)?;
        out.resize(self.target_length * self.mel_bins, 0.0);
        for v in &mut out {
            *v = self.norm.apply(*v);
        }
        Ok(out)
    }

    /// The first `max_rows` frames of [`KaldiFbank::log_mel`] (the rest would be cut anyway).
    fn log_mel_rows(
        &self,
        channels: &[impl AsRef<[f32]>],
        rate: u32,
        max_rows: usize,
    ) -> Result<Vec<f32>, FbankError> {
        if !(0.0..=1.0).contains(&self.preemphasis) {
            return Err(FbankError::Preemphasis(self.preemphasis));
        }
        let first = channels.first().ok_or(FbankError::NoChannels)?.as_ref();
        let n = first.len();
        if let Some((channel, c)) = channels
            .iter()
            .enumerate()
            .find(|(_, c)| c.as_ref().len() != n)
        {
            return Err(FbankError::RaggedChannels {
                channel,
                got: c.as_ref().len(),
                expected: n,
            });
        }
        let rows = self.frames(n, rate)?.min(max_rows);
        let bank = self.mel_bank(rate)?;
        let Framing { window, shift, fft } = self.framing(rate)?;
        // Step 1: the clip mean over all channels. (Each frame loses its own mean below, so
        // this changes nothing but rounding; it is kept to follow process_audio.py.)
        let total: f64 = channels
            .iter()
            .flat_map(|c| c.as_ref().iter())
            .map(|&v| v as f64)
            .sum();
        let dc = total / (n * channels.len()) as f64;
        let hann: Vec<f64> = (0..window)
            .map(|j| {
                0.5 - 0.5 * (2.0 * std::f64::consts::PI * j as f64 / (window - 1) as f64).cos()
            })
            .collect();
        let plan = RealFftPlanner::<f64>::new().plan_fft_forward(fft);
        let mut frame = plan.make_input_vec();
        let mut spectrum = plan.make_output_vec();
        let mut power = vec![0f64; spectrum.len()];
        let mut out = Vec::with_capacity(rows * self.mel_bins);
        for t in 0..rows {
            let x = &mut frame[..window];
            for (v, &s) in x.iter_mut().zip(&first[t * shift..t * shift + window]) {
                *v = s as f64 - dc;
            }
            let mean = x.iter().sum::<f64>() / window as f64;
            x.iter_mut().for_each(|v| *v -= mean);
            for j in (1..window).rev() {
                x[j] -= self.preemphasis * x[j - 1];
            }
            x[0] -= self.preemphasis * x[0];
            x.iter_mut().zip(&hann).for_each(|(v, h)| *v *= h);
            frame[window..].fill(0.0);
            plan.process(&mut frame, &mut spectrum)
                .expect("buffers come from the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            out.extend(bank.iter().map(|row| {
                let energy: f64 = row.iter().zip(&power).map(|(&w, p)| w as f64 * p).sum();
                energy.max(f32::EPSILON as f64).ln() as f32
            }));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: u32 = 16_000;

    #[test]
    fn ogm_ge_frames_400_every_160_into_a_512_fft() {
        let f = KaldiFbank::OGM_GE.framing(SR).unwrap();
        assert_eq!(
            f,
            Framing {
                window: 400,
                shift: 160,
                fft: 512
            }
        );
        assert_eq!(KaldiFbank::OGM_GE.shape(), (1024, 128));
    }

    /// M = 1 + ⌊(N − 400)/160⌋: 998 frames for 10 s, 248 for 2.5 s, 1 for one window.
    #[test]
    fn frame_count_follows_the_snip_edges_formula() {
        let s = KaldiFbank::OGM_GE;
        assert_eq!(s.frames(160_000, SR), Ok(998));
        assert_eq!(s.frames(40_000, SR), Ok(248));
        assert_eq!(s.frames(400, SR), Ok(1));
        assert_eq!(s.frames(559, SR), Ok(1));
        assert_eq!(s.frames(560, SR), Ok(2));
        assert_eq!(s.frames(168_000, SR), Ok(1048));
    }

    #[test]
    fn a_clip_shorter_than_one_frame_is_refused() {
        let err = KaldiFbank::OGM_GE
            .compute(&[vec![0.1f32; 399]], SR)
            .unwrap_err();
        assert!(matches!(
            err,
            FbankError::TooShort {
                samples: 399,
                window: 400,
                ..
            }
        ));
        assert!(err.to_string().contains("399 samples"), "{err}");
        assert!(KaldiFbank::OGM_GE.compute(&[vec![0.1f32; 400]], SR).is_ok());
    }

    /// 128 filters over 257 bins, the Nyquist column empty; filter 0 starts above 20 Hz (bin 0,
    /// 0 Hz, has no weight) and the last reaches the top FFT bin below Nyquist. At 16 kHz the
    /// mel spacing (~22 mel) is finer than the FFT's 31.25 Hz at the bottom, so filter 3 catches
    /// no bin at all and always gives ln(ε) — as torchaudio's does.
    #[test]
    fn mel_bank_is_128_by_257_with_its_edges_in_place() {
        let bank = KaldiFbank::OGM_GE.mel_bank(SR).unwrap();
        assert_eq!(bank.len(), 128);
        assert!(bank.iter().all(|r| r.len() == 257 && r[256] == 0.0));
        assert!(bank.iter().all(|r| r[0] == 0.0));
        let support = |r: &[f32]| -> Vec<usize> { (0..257).filter(|&k| r[k] > 0.0).collect() };
        assert_eq!(support(&bank[0]), vec![1]);
        assert_eq!(support(&bank[3]), Vec::<usize>::new());
        assert_eq!(support(&bank[127]), (246..=255).collect::<Vec<_>>());
        assert!(bank.iter().flatten().all(|&w| (0.0..=1.0).contains(&w)));
    }

    /// Zero rows become (0 + 4.503877)/10.282552 = 0.438012 after the OGM-GE normalisation and
    /// stay 0 without it (spec §3.4 step 5, pitfall 5).
    #[test]
    fn padding_rows_are_0_438012_normalised_and_0_raw() {
        let clip = [vec![0.25f32; 1000]];
        let out = KaldiFbank::OGM_GE.compute(&clip, SR).unwrap();
        assert_eq!(out.len(), 1024 * 128);
        let pad = out[4 * 128];
        assert!((pad - 0.438012).abs() < 1e-6, "{pad}");
        assert!(out[4 * 128..].iter().all(|&v| v == pad));
        let raw = KaldiFbank::MLA.compute(&clip, SR).unwrap();
        assert!(raw[4 * 128..].iter().all(|&v| v == 0.0));
        // A constant clip is silent once each frame loses its mean: every cell at ln(ε).
        let floor = (f32::EPSILON as f64).ln() as f32;
        assert!(raw[..4 * 128].iter().all(|&v| v == floor));
    }

    /// Only channel 0 is analysed; the other channels only enter through the clip mean, which
    /// each frame's own mean removal then cancels.
    #[test]
    fn only_channel_0_is_analysed() {
        let tone: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.3).sin() * 0.5).collect();
        let other: Vec<f32> = (0..2000)
            .map(|i| if i % 7 < 3 { 0.9 } else { -0.4 })
            .collect();
        let mono = KaldiFbank::OGM_GE
            .log_mel(std::slice::from_ref(&tone), SR)
            .unwrap();
        let stereo = KaldiFbank::OGM_GE.log_mel(&[tone, other], SR).unwrap();
        let max = mono
            .iter()
            .zip(&stereo)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-5, "{max}");
    }

    #[test]
    fn each_broken_rule_has_its_error() {
        let s = KaldiFbank::OGM_GE;
        let clip = [vec![0f32; 1000]];
        let none: [Vec<f32>; 0] = [];
        assert_eq!(s.compute(&none, SR), Err(FbankError::NoChannels));
        assert_eq!(
            s.compute(&[vec![0f32; 1000], vec![0f32; 999]], SR),
            Err(FbankError::RaggedChannels {
                channel: 1,
                got: 999,
                expected: 1000
            })
        );
        let err = |k: KaldiFbank| k.compute(&clip, SR).unwrap_err();
        assert!(matches!(
            err(KaldiFbank {
                frame_length_ms: 0.1,
                ..s
            }),
            FbankError::WindowTooSmall { window: 1, .. }
        ));
        assert!(matches!(
            err(KaldiFbank {
                frame_shift_ms: 0.01,
                ..s
            }),
            FbankError::ShiftTooSmall { .. }
        ));
        assert_eq!(
            err(KaldiFbank {
                preemphasis: 1.5,
                ..s
            }),
            FbankError::Preemphasis(1.5)
        );
        assert_eq!(err(KaldiFbank { mel_bins: 3, ..s }), FbankError::MelBins(3));
        let range = err(KaldiFbank {
            low_freq: 9000.0,
            ..s
        });
        assert!(matches!(range, FbankError::MelRange { .. }));
        assert!(range.to_string().contains("Nyquist 8000 Hz"), "{range}");
        assert!(matches!(
            err(KaldiFbank {
                high_freq: 8001.0,
                ..s
            }),
            FbankError::MelRange { .. }
        ));
        assert_eq!(
            err(KaldiFbank {
                target_length: 0,
                ..s
            }),
            FbankError::TargetLength
        );
    }
}
