//! The content of a fake clip: class-dependent tones and coloured, striped frames (hue and
//! stripe angle and width by class, a per-clip phase, pitch and brightness), so that both
//! modalities carry the label. Pure functions of the clip's [`Look`] and the time index.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f64::consts::TAU;

/// The per-clip draws that make two clips of a class differ.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    /// Class position and class count of the fake dataset.
    pub class: usize,
    classes: usize,
    phase: f64,
    speed: f64,
    brightness: f64,
    pitch: f64,
    noise: u64,
}

impl Look {
    /// Draw a clip's look for class `class` of `classes`.
    pub fn draw(rng: &mut ChaCha8Rng, class: usize, classes: usize) -> Look {
        Look {
            class,
            classes,
            phase: rng.gen_range(0.0..TAU),
            speed: rng.gen_range(0.05..0.25),
            brightness: rng.gen_range(0.8..1.0),
            pitch: rng.gen_range(0.97..1.03),
            noise: rng.gen(),
        }
    }

    fn class_fraction(&self) -> f64 {
        self.class as f64 / self.classes as f64
    }
}

/// A uniform value in [-1, 1) from a hash of (seed, a, b) (splitmix64), so any pixel of any
/// frame can be computed alone.
fn jitter(seed: u64, a: u64, b: u64) -> f64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// HSV (all in [0, 1]) to RGB in [0, 1].
fn hsv(h: f64, s: f64, v: f64) -> [f64; 3] {
    let f = |n: f64| {
        let k = (n + h * 6.0) % 6.0;
        v - v * s * k.min(4.0 - k).clamp(0.0, 1.0)
    };
    [f(5.0), f(3.0), f(1.0)]
}

/// Frame `t` (RGB, `width × height × 3`): the class's hue, stripes at the class's angle and
/// width drifting with time, light noise.
pub fn frame(look: &Look, t: usize, width: usize, height: usize) -> Vec<u8> {
    let c = look.class_fraction();
    let base = hsv(c, 0.75, 0.9 * look.brightness);
    let angle = c * std::f64::consts::PI;
    let (dx, dy) = (angle.cos(), angle.sin());
    let period = 6.0 + 10.0 * c;
    let shift = look.phase + look.speed * t as f64 * TAU;
    let mut out = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let s = (TAU * (x as f64 * dx + y as f64 * dy) / period + shift).sin();
            let n = jitter(look.noise, t as u64, (y * width + x) as u64);
            for b in base {
                let v = b * (0.6 + 0.4 * s) * 255.0 + 6.0 * n;
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

/// Flow frame `t` (grey, `width × height`), the u (horizontal) or v component: a wave around
/// 128 whose wavelength depends on the class.
pub fn flow(look: &Look, t: usize, width: usize, height: usize, v: bool) -> Vec<u8> {
    let period = 8.0 + 12.0 * look.class_fraction();
    let shift = look.phase + look.speed * t as f64 * TAU;
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let along = if v { y } else { x } as f64;
            let w = (TAU * along / period + shift).sin();
            out.push((128.0 + 60.0 * w).round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

/// `samples` frames of a tone at `rate` Hz with `channels` channels (interleaved 16-bit):
/// a class-dependent fundamental with two harmonics, amplitude-modulated at a class-dependent
/// rate, with light noise; further channels are quieter copies with their own noise.
pub fn tone(look: &Look, samples: usize, rate: u32, channels: u16) -> Vec<i16> {
    let c = look.class_fraction();
    let f0 = 200.0 * 2f64.powf(2.5 * c) * look.pitch;
    let am = 1.5 + 4.0 * c;
    let mut out = Vec::with_capacity(samples * channels as usize);
    for i in 0..samples {
        let t = i as f64 / rate as f64;
        let carrier = (TAU * f0 * t + look.phase).sin()
            + 0.5 * (TAU * 2.0 * f0 * t).sin()
            + 0.25 * (TAU * 3.0 * f0 * t).sin();
        let envelope = 0.6 + 0.4 * (TAU * am * t).sin();
        let signal = 0.18 * carrier * envelope;
        for ch in 0..channels {
            let gain = if ch == 0 { 1.0 } else { 0.8 };
            let noise = 0.01 * jitter(look.noise, ch as u64, i as u64);
            let v = (gain * signal + noise) * 32767.0;
            out.push(v.round().clamp(-32768.0, 32767.0) as i16);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Two classes differ in colour and pitch; the same look gives the same pixels.
    #[test]
    fn classes_differ_and_looks_are_reproducible() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = Look::draw(&mut rng, 0, 6);
        let b = Look { class: 3, ..a };
        let mean = |f: &[u8], ch: usize| {
            f.chunks(3).map(|p| p[ch] as f64).sum::<f64>() / (f.len() / 3) as f64
        };
        let (fa, fb) = (frame(&a, 0, 16, 12), frame(&b, 0, 16, 12));
        assert_eq!(fa, frame(&a, 0, 16, 12));
        assert!((mean(&fa, 0) - mean(&fb, 0)).abs() > 20.0);
        let zero_crossings = |s: &[i16]| s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        let (ta, tb) = (tone(&a, 16000, 16000, 1), tone(&b, 16000, 16000, 1));
        assert!(zero_crossings(&tb) > zero_crossings(&ta) + 100);
        assert_eq!(tone(&a, 10, 16000, 2).len(), 20);
        assert!(flow(&a, 2, 9, 5, true).len() == 45);
    }
}
