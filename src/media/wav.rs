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
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let open =
        || hound::WavReader::new(std::io::Cursor::new(&bytes[..])).map_err(|e| err(e.to_string()));
    let mut reader = open()?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    if spec.sample_format == hound::SampleFormat::Int && spec.bits_per_sample == 16 {
        let samples = reader.len() as usize;
        let start = reader.into_inner().position() as usize;
        if let Some(data) = pcm16_data(&bytes, start, samples) {
            let scale = 1.0 / 32_768.0f32;
            let interleaved = data
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 * scale)
                .collect();
            return Ok((interleaved, channels, spec.sample_rate));
        }
        reader = open()?;
    }
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

/// The data chunk of a 16-bit PCM file whose header hound has read (`start`: where its reader
/// stopped, the first data byte; `samples`: the count it found), when each sample takes two
/// bytes, to be read at once rather than sample by sample through hound (the same values,
/// i16 / 2¹⁵). The chunk's length is the field just before its first byte. `None` for wider
/// containers and for a chunk that runs past the end of the file: hound reads those (and
/// reports the second as an error).
fn pcm16_data(bytes: &[u8], start: usize, samples: usize) -> Option<&[u8]> {
    let field: [u8; 4] = bytes.get(start.checked_sub(4)?..start)?.try_into().ok()?;
    let len = u32::from_le_bytes(field) as usize;
    if bytes.get(start - 8..start - 4)? != b"data" || len != 2 * samples {
        return None;
    }
    bytes.get(start..start + len)
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

    /// 16-bit data is read at once (`pcm16_data`); a data chunk cut short by the end of the
    /// file still fails, as hound's sample-by-sample read does, and every 16-bit value maps to
    /// what hound's path gives (v / 2¹⁵).
    #[test]
    fn sixteen_bit_data_read_at_once_matches_hound_and_a_truncated_chunk_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("all16.wav");
        let values: Vec<i32> = (-32768..32768).step_by(7).collect();
        let frames: Vec<Vec<i32>> = values.chunks_exact(2).map(|f| f.to_vec()).collect();
        write(&path, 2, 16, &frames);
        let mut hound_reader = hound::WavReader::open(&path).unwrap();
        let by_hound: Vec<f32> = hound_reader
            .samples::<i32>()
            .map(|s| s.unwrap() as f32 / 32_768.0)
            .collect();
        let kept = read_wav_channels(&path).unwrap();
        let interleaved: Vec<f32> = (0..frames.len())
            .flat_map(|t| [kept.channels[0][t], kept.channels[1][t]])
            .collect();
        assert_eq!(interleaved, by_hound);
        let bytes = std::fs::read(&path).unwrap();
        let cut = tmp.path().join("cut.wav");
        std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
        let e = read_wav(&cut).unwrap_err();
        assert!(e.to_string().contains("cut.wav"), "{e}");
    }
}
