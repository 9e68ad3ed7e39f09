//! The OGM-GE log-magnitude STFT front-end (spec §2.5 A-OGM): the clip tiled three times and cut
//! to a fixed length, clipped to [-1, 1], a centred STFT with a periodic Hann window, then
//! ln(|S| + 1e-7), laid out as librosa returns it: (n_fft/2 + 1) frequency rows × frames.
//!
//! The centre padding is a choice because librosa changed it: zeros from 0.9.0 on
//! (`constant`), the mirrored signal before (`reflect`). The transform runs in f64 (the output
//! is f32); the reference (librosa 0.10.2, float32 input) agrees to the error stated in the
//! parity test.

use realfft::RealFftPlanner;

/// How the signal is padded by n_fft/2 at each end before framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CenterPad {
    /// Zeros (librosa ≥ 0.9).
    Constant,
    /// The signal mirrored without repeating its edge sample (numpy's `reflect`; librosa < 0.9).
    Reflect,
}

/// The front-end's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogStft {
    /// FFT size (and window length).
    pub n_fft: usize,
    /// Hop between frames.
    pub hop: usize,
    /// Samples after tiling and cutting.
    pub length: usize,
    /// How often the clip is repeated before cutting.
    pub tiles: usize,
    /// Centre padding.
    pub pad: CenterPad,
}

impl LogStft {
    /// OGM-GE's CREMA-D front-end: n_fft 512, hop 353, 3 s at 22,050 Hz (66,150 samples) from a
    /// three-fold tile → 257 × 188.
    pub const OGM_GE: LogStft = LogStft {
        n_fft: 512,
        hop: 353,
        length: 66_150,
        tiles: 3,
        pad: CenterPad::Constant,
    };

    /// (frequency bins, frames) of the output.
    pub fn shape(&self) -> (usize, usize) {
        (self.n_fft / 2 + 1, 1 + self.length / self.hop)
    }

    /// The log-magnitude spectrogram of `samples`, row-major (bins × frames). `None` when the
    /// tiled clip is shorter than `length` (the reference code would then break its batch).
    pub fn compute(&self, samples: &[f32]) -> Option<Vec<f32>> {
        let tiled: Vec<f64> = samples
            .iter()
            .cycle()
            .take((samples.len() * self.tiles).min(self.length))
            .map(|&v| (v as f64).clamp(-1.0, 1.0))
            .collect();
        if tiled.len() < self.length {
            return None;
        }
        let half = self.n_fft / 2;
        let padded = pad(&tiled, half, self.pad)?;
        let (bins, frames) = self.shape();
        let window = periodic_hann(self.n_fft);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(self.n_fft);
        let mut input = fft.make_input_vec();
        let mut spectrum = fft.make_output_vec();
        let mut out = vec![0f32; bins * frames];
        for t in 0..frames {
            let start = t * self.hop;
            for (k, x) in input.iter_mut().enumerate() {
                *x = padded[start + k] * window[k];
            }
            fft.process(&mut input, &mut spectrum).ok()?;
            for (f, c) in spectrum.iter().enumerate() {
                out[f * frames + t] = (c.norm() + 1e-7).ln() as f32;
            }
        }
        Some(out)
    }
}

/// w[n] = 0.5 − 0.5·cos(2πn/N), n = 0..N (scipy's `get_window('hann', N, fftbins=True)`).
pub fn periodic_hann(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect()
}

/// `x` padded by `half` at each end. `None` for `reflect` when `x` is too short to mirror.
fn pad(x: &[f64], half: usize, mode: CenterPad) -> Option<Vec<f64>> {
    let n = x.len();
    let mut out = Vec::with_capacity(n + 2 * half);
    match mode {
        CenterPad::Constant => {
            out.extend(std::iter::repeat_n(0.0, half));
            out.extend_from_slice(x);
            out.extend(std::iter::repeat_n(0.0, half));
        }
        CenterPad::Reflect => {
            if n <= half {
                return None;
            }
            out.extend((1..=half).rev().map(|i| x[i]));
            out.extend_from_slice(x);
            out.extend((1..=half).map(|i| x[n - 1 - i]));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ogm_shape_is_257_by_188() {
        assert_eq!(LogStft::OGM_GE.shape(), (257, 188));
    }

    #[test]
    fn reflect_mirrors_without_the_edge_sample() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            pad(&x, 2, CenterPad::Reflect).unwrap(),
            vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0]
        );
        assert_eq!(
            pad(&x, 2, CenterPad::Constant).unwrap(),
            vec![0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0]
        );
    }

    #[test]
    fn a_clip_under_a_third_of_the_length_is_refused() {
        let s = LogStft::OGM_GE;
        assert!(s.compute(&vec![0.1; 22_049]).is_none());
        assert!(s.compute(&vec![0.1; 22_050]).is_some());
    }

    /// A pure tone at an exact bin frequency puts its energy in that bin: |S| = A·N/4 for the
    /// periodic Hann window (its mean is 1/2, and a real cosine splits over ±f).
    #[test]
    fn a_bin_centred_tone_has_magnitude_a_n_over_4() {
        let s = LogStft {
            pad: CenterPad::Constant,
            ..LogStft::OGM_GE
        };
        let bin = 40.0;
        let x: Vec<f32> = (0..66_150)
            .map(|i| (0.5 * (2.0 * std::f64::consts::PI * bin * i as f64 / 512.0).cos()) as f32)
            .collect();
        let out = s.compute(&x).unwrap();
        let (_, frames) = s.shape();
        let mid = 94;
        let got = out[40 * frames + mid].exp() as f64 - 1e-7;
        assert!((got - 0.5 * 512.0 / 4.0).abs() < 1e-3, "{got}");
    }
}
