//! WAV decoding as `librosa.load(path, sr=None, mono=True)` gives it: float samples in [-1, 1)
//! (integer PCM divided by 2^(bits−1), as libsndfile does), channels averaged to mono; or, as
//! `torchaudio.load` gives it, with the channels kept apart.

use std::path::Path;

/// A decoded clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub rate: u32,
}

/// Why a WAV file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct WavError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// A decoded clip with its channels kept apart, as `torchaudio.load(path)` returns it: (C, N)
/// float samples, integer PCM divided by 2^(bits−1) (the Kaldi fbank, spec §3.4, reads channel 0
/// after removing the mean of all of them).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelAudio {
    /// One vector of samples in [-1, 1] per channel, all of the same length.
    pub channels: Vec<Vec<f32>>,
    /// Sample rate in Hz.
    pub rate: u32,
}

/// Decode the WAV file at `path` (integer PCM of 8–32 bits or 32-bit float, any channel count).
pub fn read_wav(path: &Path) -> Result<Audio, WavError> {
    let (interleaved, channels, rate) = decode(path)?;
    let samples = if channels == 1 {
        interleaved
    } else {
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32)
            .collect()
    };
    Ok(Audio { samples, rate })
}

/// Decode the WAV file at `path` keeping each channel (same formats as [`read_wav`]).
pub fn read_wav_channels(path: &Path) -> Result<ChannelAudio, WavError> {
    let (interleaved, channels, rate) = decode(path)?;
    let frames = interleaved.len() / channels;
    let channels = (0..channels)
        .map(|c| (0..frames).map(|t| interleaved[t * channels + c]).collect())
        .collect();
    Ok(ChannelAudio { channels, rate })
}

/// The interleaved float samples, the channel count and the rate.
fn decode(path: &Path) -> Result<(Vec<f32>, usize, u32), WavError> {
    let err = |reason: String| WavError {
        path: path.display().to_string(),
        reason,
    };
    let mut reader = hound::WavReader::open(path).map_err(|e| err(e.to_string()))?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?
        }
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?,
    };
    Ok((interleaved, channels, spec.sample_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, channels: u16, bits: u16, frames: &[Vec<i32>]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 16_000,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for frame in frames {
            for &s in frame {
                w.write_sample(s).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    /// Integer PCM is divided by 2^(bits−1) (−32768 → −1, 16384 → 0.5; 24-bit likewise) and
    /// stereo frames are averaged, as `librosa.load(sr=None, mono=True)` returns them; or kept
    /// apart, as `torchaudio.load` returns them.
    #[test]
    fn pcm_is_scaled_by_two_to_the_bits_minus_one_and_channels_are_averaged() {
        let tmp = tempfile::tempdir().unwrap();
        let mono = tmp.path().join("mono16.wav");
        write(
            &mono,
            1,
            16,
            &[vec![-32768], vec![16384], vec![0], vec![32767]],
        );
        let a = read_wav(&mono).unwrap();
        assert_eq!(a.rate, 16_000);
        assert_eq!(a.samples, vec![-1.0, 0.5, 0.0, 32767.0 / 32768.0]);
        let stereo = tmp.path().join("stereo24.wav");
        write(
            &stereo,
            2,
            24,
            &[vec![1 << 22, 0], vec![-(1 << 23), 1 << 22]],
        );
        let b = read_wav(&stereo).unwrap();
        assert_eq!(b.samples, vec![0.25, (-1.0 + 0.5) / 2.0]);
        let kept = read_wav_channels(&stereo).unwrap();
        assert_eq!(kept.channels, vec![vec![0.5, -1.0], vec![0.0, 0.5]]);
        assert_eq!(read_wav_channels(&mono).unwrap().channels, vec![a.samples]);
        let missing = read_wav(&tmp.path().join("nope.wav")).unwrap_err();
        assert!(missing.to_string().contains("nope.wav"), "{missing}");
    }
}
