//! Resampling as `librosa.load(sr=…)` does it (`../shared/specs/av-datasets.md` §2.5 step 1).
//!
//! CREMA-D's 16 kHz clips reach the OGM-GE front-end at 22,050 Hz, and which resampler made them
//! depends on the librosa of the run:
//!
//! * librosa ≤ 0.9 calls resampy's `kaiser_best`, whose filter table changed in resampy 0.3.0:
//!   [`Resampler::ResampyKaiserBest`] is resampy ≤ 0.2.2's (what an install of early 2022,
//!   OGM-GE's time, had), [`Resampler::Resampy03KaiserBest`] the table of resampy ≥ 0.3 (what a
//!   later librosa 0.9 install pulls in, and librosa ≥ 0.10 with `res_type='kaiser_best'`). Both
//!   are resampy's interpolation written out here; on the reference clips their output is
//!   bit-identical to resampy's (`tests/media_resample.rs`).
//! * librosa ≥ 0.10 calls libsoxr at its `HQ` setting. There is no pure-Rust libsoxr, and its
//!   multi-stage design is not reproduced: [`Resampler::SoxrHq`] is a stand-in, a windowed sinc
//!   with soxr HQ's nominal band (pass to 91.4 % of Nyquist, stop from Nyquist, ≈ 126 dB), run by
//!   the same interpolation. It differs from soxr by the measured amounts in the test and in
//!   `tools/av-reference/README.md`.
//!
//! The output has ⌈L·to/from⌉ samples, as librosa's `fix=True` leaves it: resampy's own output
//! has ⌊L·to/from⌋ samples and soxr's L·to/from rounded, and librosa pads them with zeros.

mod phased;

use phased::Phased;
use std::borrow::Cow;
use std::sync::OnceLock;

/// Which library's resampling to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Resampler {
    /// resampy ≤ 0.2.2's `kaiser_best` (librosa ≤ 0.9's default then): 64 zero crossings,
    /// 2⁹ table samples per crossing, roll-off 0.9475937167399596, Kaiser β 14.769656459379492.
    #[serde(rename = "resampy_kaiser_best")]
    ResampyKaiserBest,
    /// resampy ≥ 0.3's `kaiser_best`: 50 zero crossings, 2¹³ per crossing, roll-off
    /// 0.9173473712608761, Kaiser β 12.984585247037941 (fitted to the shipped table, which it
    /// reproduces to 2e-15; resampy documents 12.9846).
    #[serde(rename = "resampy_0_3_kaiser_best")]
    Resampy03KaiserBest,
    /// A stand-in for libsoxr `HQ` (librosa ≥ 0.10's default), not soxr itself: on the reference
    /// clips within 1.6e-5 of soxr on band-limited audio away from the clip start, 1.5e-4 to
    /// 7.8e-3 at worst (clicks, full-scale square waves, the first samples).
    #[serde(rename = "soxr_hq")]
    SoxrHq,
}

/// Why a clip could not be resampled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    /// A rate of 0 Hz.
    #[error("sample rates must be > 0 Hz (got {from} Hz → {to} Hz)")]
    ZeroRate {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
    },
    /// resampy refuses an output shorter than one sample.
    #[error(
        "{resampler} needs ⌊len·to/from⌋ ≥ 1: {len} samples are too few for {from} Hz → {to} Hz"
    )]
    TooShort {
        /// The resampler.
        resampler: Resampler,
        /// Input samples.
        len: usize,
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
    },
    /// A name that is not a resampler.
    #[error("unknown resampler {name:?} (expected one of resampy_kaiser_best, resampy_0_3_kaiser_best, soxr_hq)")]
    Unknown {
        /// The name given.
        name: String,
    },
}

impl Resampler {
    /// Every resampler, in the order of the names in error messages.
    pub const ALL: [Resampler; 3] = [
        Resampler::ResampyKaiserBest,
        Resampler::Resampy03KaiserBest,
        Resampler::SoxrHq,
    ];

    /// The name used in recipes.
    pub fn name(self) -> &'static str {
        match self {
            Resampler::ResampyKaiserBest => "resampy_kaiser_best",
            Resampler::Resampy03KaiserBest => "resampy_0_3_kaiser_best",
            Resampler::SoxrHq => "soxr_hq",
        }
    }

    fn design(self) -> &'static Design {
        match self {
            Resampler::ResampyKaiserBest => &RESAMPY_0_2,
            Resampler::Resampy03KaiserBest => &RESAMPY_0_3,
            Resampler::SoxrHq => &SOXR_HQ_LIKE,
        }
    }

    fn table(self) -> &'static Table {
        static TABLES: [OnceLock<Table>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        TABLES[self as usize].get_or_init(|| Table::new(self.design()))
    }
}

impl std::fmt::Display for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Resampler {
    type Err = ResampleError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Resampler::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| ResampleError::Unknown {
                name: name.to_string(),
            })
    }
}

/// `samples` at `from` Hz resampled to `to` Hz by `resampler`; equal rates return the samples.
pub fn resample(
    samples: &[f32],
    from: u32,
    to: u32,
    resampler: Resampler,
) -> Result<Vec<f32>, ResampleError> {
    if from == 0 || to == 0 {
        return Err(ResampleError::ZeroRate { from, to });
    }
    if from == to {
        return Ok(samples.to_vec());
    }
    let ratio = to as f64 / from as f64;
    let len = output_len(samples.len(), from, to);
    let design = resampler.design();
    let computed = match design.edge {
        // resampy 0.4's int(L·to/from); 0.2's int(L·(to/from)) gives the same for every L up to
        // 2·10⁶ at 16/22.05/44.1/48 kHz.
        Edge::ResampyThenZeros => {
            let n = (samples.len() as f64 * to as f64 / from as f64) as usize;
            if n < 1 {
                return Err(ResampleError::TooShort {
                    resampler,
                    len: samples.len(),
                    from,
                    to,
                });
            }
            n.min(len)
        }
        // python-soxr returns round(L·to/from) samples.
        Edge::SoxrThenZeros => (samples.len() as f64 * ratio).round() as usize,
    };
    let table = resampler.table();
    let mut out = interpolate(samples, ratio, table, design, computed, Kernel::Fastest);
    out.resize(len, 0.0);
    Ok(out)
}

/// ⌈L·to/from⌉, computed as librosa does (`ceil(L * (to / from))` in floating point).
pub fn output_len(len: usize, from: u32, to: u32) -> usize {
    (len as f64 * (to as f64 / from as f64)).ceil() as usize
}

/// A Kaiser-windowed sinc filter (its right half), and how the interpolation runs with it.
struct Design {
    /// Zero crossings of the unit-rate sinc the table spans (its length in input samples).
    zeros: usize,
    /// log₂ of the table samples per zero crossing.
    bits: u32,
    /// Cut-off as a fraction of the lower Nyquist frequency.
    rolloff: f64,
    /// Kaiser window β.
    beta: f64,
    clock: Clock,
    edge: Edge,
    /// Walk the table in exact steps of ratio·2^bits when downsampling, not resampy's truncated
    /// ones.
    exact_step: bool,
}

/// How output times are formed.
#[derive(Clone, Copy)]
enum Clock {
    /// A register incremented by from/to after each sample (resampy ≤ 0.2.2).
    Accumulated,
    /// t·(from/to) (resampy ≥ 0.3).
    Indexed,
}

/// How many samples the library computes before librosa's fix_length pads them with zeros to
/// ⌈L·to/from⌉.
#[derive(Clone, Copy)]
enum Edge {
    /// ⌊L·to/from⌋ (resampy).
    ResampyThenZeros,
    /// L·to/from rounded to nearest (python-soxr).
    SoxrThenZeros,
}

const RESAMPY_0_2: Design = Design {
    zeros: 64,
    bits: 9,
    rolloff: 0.947_593_716_739_959_6,
    beta: 14.769_656_459_379_492,
    clock: Clock::Accumulated,
    edge: Edge::ResampyThenZeros,
    exact_step: false,
};

const RESAMPY_0_3: Design = Design {
    zeros: 50,
    bits: 13,
    rolloff: 0.917_347_371_260_876_1,
    beta: 12.984_585_247_037_941,
    clock: Clock::Indexed,
    edge: Edge::ResampyThenZeros,
    exact_step: false,
};

/// soxr HQ's nominal band: pass to Fp = 1 − 0.05/(0.646 − 7.5e-4·a + 1.6e-6·a²) = 0.9136 with
/// a = 20 bits · 6.02 dB, stop from 1; the sinc cut-off sits mid-band, (Fp + 1)/2. β and the
/// length were picked on a coarse grid (β 11–14, 70–115 crossings) around the Kaiser values for
/// ≈ 126 dB over that transition band, against soxr 1.1.0 on the reference clips.
const SOXR_HQ_LIKE: Design = Design {
    zeros: 100,
    bits: 11,
    rolloff: 0.956_813_9,
    beta: 13.0,
    clock: Clock::Indexed,
    edge: Edge::SoxrThenZeros,
    exact_step: true,
};

/// The tabulated right half of the filter and its forward differences (0 after the last).
struct Table {
    win: Vec<f64>,
    delta: Vec<f64>,
    per_crossing: usize,
    /// The same by phase of one crossing (the step of every upsampling), made at first use.
    by_crossing: OnceLock<Phased>,
}

impl Table {
    /// `rolloff·sinc(rolloff·x)` times the right half of a Kaiser window, at x = i/2^bits for
    /// i = 0..=zeros·2^bits (resampy's `sinc_window`; numpy's sinc, scipy's Kaiser).
    fn new(d: &Design) -> Table {
        let per_crossing = 1usize << d.bits;
        let n = d.zeros * per_crossing;
        let i0_beta = bessel_i0(d.beta);
        let win: Vec<f64> = (0..=n)
            .map(|i| {
                let a = d.rolloff * (i as f64 / per_crossing as f64);
                let sinc = if a == 0.0 {
                    1.0
                } else {
                    let y = std::f64::consts::PI * a;
                    y.sin() / y
                };
                let r = i as f64 / n as f64;
                let taper = bessel_i0(d.beta * (1.0 - r * r).sqrt()) / i0_beta;
                taper * (d.rolloff * sinc)
            })
            .collect();
        Table {
            delta: differences(&win),
            win,
            per_crossing,
            by_crossing: OnceLock::new(),
        }
    }
}

/// `w[i+1] − w[i]`, and 0 for the last entry.
fn differences(w: &[f64]) -> Vec<f64> {
    let mut d: Vec<f64> = w.windows(2).map(|p| p[1] - p[0]).collect();
    d.push(0.0);
    d
}

/// The modified Bessel function I₀ by its power series Σ ((x/2)^k / k!)², which converges for
/// every x; the terms fall below 1e-17 of the sum after about 40 terms at x ≤ 15.
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut term, mut sum, mut k) = (1.0f64, 1.0f64, 1.0f64);
    while term > sum * 1e-17 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

/// resampy's bandlimited interpolation: each output sample is the sum over the input samples
/// left and right of its time of a table weight, linearly interpolated between table entries.
/// When downsampling the filter is stretched (the table is walked in steps of ratio·2^bits) and
/// its gain scaled by the ratio, so its cut-off follows the lower Nyquist frequency. The sum is
/// kept in f32 and rounded after every tap, as resampy's numba loop does when writing into the
/// float32 output librosa gives it.
fn interpolate(
    x: &[f32],
    ratio: f64,
    table: &Table,
    design: &Design,
    n_out: usize,
    kernel: Kernel,
) -> Vec<f32> {
    let scale = ratio.min(1.0);
    let (win, delta): (Cow<[f64]>, Cow<[f64]>) = if ratio < 1.0 {
        let w: Vec<f64> = table.win.iter().map(|&v| ratio * v).collect();
        let d = differences(&w);
        (Cow::Owned(w), Cow::Owned(d))
    } else {
        (Cow::Borrowed(&table.win), Cow::Borrowed(&table.delta))
    };
    let num_table = table.per_crossing as f64;
    // resampy truncates the step to whole table entries, which detunes its filter slightly
    // when downsampling (a DC gain of 1.0027 at 48 → 16 kHz with the 2⁹ table).
    let step = if design.exact_step {
        scale * num_table
    } else {
        (scale * num_table).trunc()
    };
    let dt = 1.0 / ratio;
    let mut register = 0.0f64;
    let times: Vec<f64> = (0..n_out)
        .map(|t| match design.clock {
            Clock::Accumulated => {
                let now = register;
                register += dt;
                now
            }
            Clock::Indexed => t as f64 * dt,
        })
        .collect();
    // Σ over taps i of weight(start + i·step)·sample(i), for as many taps as the samples and
    // resampy's count ⌊(table length − offset)/step⌋ reach (which leaves out the table's last
    // entry when the division is not exact). Each output's sum keeps resampy's order and its
    // rounding to f32 after every tap. With a whole-entry step (resampy's) the taps of an
    // output are evenly spaced table entries, which `phased` exploits; an exact step
    // interpolates LANES outputs side by side, tap by tap.
    let filter = Filter {
        win: &win,
        delta: &delta,
        step,
        exact_step: design.exact_step,
    };
    if design.exact_step || step < 1.0 || kernel == Kernel::TapByTap {
        return interpolate_lanes(x, &times, scale, num_table, &filter);
    }
    let whole = step as usize;
    if ratio >= 1.0 {
        let by_crossing = table
            .by_crossing
            .get_or_init(|| Phased::new(&table.win, &table.delta, whole));
        phased::interpolate(x, &times, scale, num_table, by_crossing)
    } else {
        let stretched = Phased::new(&win, &delta, whole);
        phased::interpolate(x, &times, scale, num_table, &stretched)
    }
}

/// Which code computes an interpolation (all give the same bits).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// `phased` where the step is whole table entries, else tap by tap.
    Fastest,
    /// Tap by tap (the plain reading of resampy's loop; the reference `phased` is tested on).
    TapByTap,
}

/// The interpolation at input times `times`, LANES outputs at a time, tap by tap.
fn interpolate_lanes(
    x: &[f32],
    times: &[f64],
    scale: f64,
    num_table: f64,
    filter: &Filter,
) -> Vec<f32> {
    let mut out = vec![0f32; times.len()];
    for (block, chunk) in times.chunks(LANES).zip(out.chunks_mut(LANES)) {
        let mut n = [0usize; LANES];
        let mut frac = [0f64; LANES];
        for (l, &time) in block.iter().enumerate() {
            n[l] = time as usize;
            frac[l] = scale * (time - n[l] as f64);
        }
        let used = block.len();
        let mut acc = [0f32; LANES];
        // Left wing x[n], x[n−1], …, x[0] (zero past the end of x); lanes past the block's
        // outputs take no taps.
        let starts: [f64; LANES] = std::array::from_fn(|l| frac[l] * num_table);
        let left: [usize; LANES] = std::array::from_fn(|l| if l < used { n[l] + 1 } else { 0 });
        filter.wing(
            &starts,
            &left,
            |l, i| x.get(n[l] - i).copied().unwrap_or(0.0),
            &mut acc,
        );
        // Right wing x[n+1], x[n+2], … while they exist.
        let starts: [f64; LANES] = std::array::from_fn(|l| (scale - frac[l]) * num_table);
        let right: [usize; LANES] = std::array::from_fn(|l| {
            if l < used {
                x.len().saturating_sub(n[l] + 1)
            } else {
                0
            }
        });
        filter.wing(&starts, &right, |l, i| x[n[l] + 1 + i], &mut acc);
        chunk.copy_from_slice(&acc[..used]);
    }
    out
}

/// Outputs interpolated side by side.
const LANES: usize = 8;

/// The table an interpolation walks, and its step.
struct Filter<'a> {
    win: &'a [f64],
    delta: &'a [f64],
    step: f64,
    exact_step: bool,
}

impl Filter<'_> {
    /// One wing for LANES outputs: `acc[l] += Σ_i weight(starts[l] + i·step)·sample(l, i)` over
    /// at most `available[l]` samples, rounded to f32 after every tap.
    fn wing(
        &self,
        starts: &[f64; LANES],
        available: &[usize; LANES],
        sample: impl Fn(usize, usize) -> f32,
        acc: &mut [f32; LANES],
    ) {
        let nwin = self.win.len();
        let mut offset = [0usize; LANES];
        let mut eta = [0f64; LANES];
        let mut taps = [0usize; LANES];
        for l in 0..LANES {
            offset[l] = starts[l] as usize;
            eta[l] = starts[l] - starts[l].trunc();
            taps[l] = (((nwin - offset[l]) as f64 / self.step) as usize).min(available[l]);
        }
        let most = taps.iter().copied().max().unwrap_or(0);
        for i in 0..most {
            for l in 0..LANES {
                if i >= taps[l] {
                    continue;
                }
                let (j, e) = if self.exact_step {
                    let pos = starts[l] + i as f64 * self.step;
                    (pos as usize, pos - pos.trunc())
                } else {
                    (offset[l] + i * self.step as usize, eta[l])
                };
                if j < nwin {
                    let w = self.win[j] + e * self.delta[j];
                    acc[l] = (acc[l] as f64 + w * sample(l, i) as f64) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, len: usize, amp: f64) -> Vec<f64> {
        (0..len)
            .map(|i| amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin())
            .collect()
    }

    /// Entries of resampy's shipped `data/kaiser_best.npz` (`half_window[i]`), printed with numpy:
    /// resampy 0.2.2 at i = 0, 256, 1543, 16384, 32768 and resampy 0.4.3 at 0, 4096, 24583,
    /// 204800, 409600.
    #[test]
    fn tables_reproduce_resampys_shipped_filters() {
        let cases: [(Resampler, &[(usize, f64)]); 2] = [
            (
                Resampler::ResampyKaiserBest,
                &[
                    (0, 0.9475937167399596),
                    (256, 0.6341878970614925),
                    (1543, 0.04552181045860031),
                    (16384, 0.0012568036285549463),
                    (32768, 1.6401183069347287e-08),
                ],
            ),
            (
                Resampler::Resampy03KaiserBest,
                &[
                    (0, 0.9173473712608761),
                    (4096, 0.6308682827433317),
                    (24583, 0.07268330722879696),
                    (204800, 0.0004977063778016244),
                    (409600, -5.2887095330227954e-08),
                ],
            ),
        ];
        for (r, entries) in cases {
            let t = r.table();
            assert_eq!(t.win.len(), entries.last().unwrap().0 + 1, "{r}");
            for &(i, want) in entries {
                assert!(
                    (t.win[i] - want).abs() < 1e-14,
                    "{r}[{i}]: {} vs {want}",
                    t.win[i]
                );
            }
        }
    }

    /// `phased` is resampy's loop reorganised, not an approximation of it: on noise (full scale,
    /// small enough for sums to underflow to ±0 in f32, and with zeros, ∞ and NaN), up and down,
    /// with both resampy tables, it gives the bits of the tap-by-tap loop (any NaN for a NaN).
    #[test]
    fn phased_interpolation_gives_the_bits_of_the_tap_by_tap_loop() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        };
        for len in [1usize, 7, 130, 2_000] {
            for amp in [1.0, 1e-37, 1e-44] {
                let mut x: Vec<f32> = (0..len).map(|_| (amp * uniform()) as f32).collect();
                if len > 100 && amp == 1.0 {
                    x[3] = 0.0;
                    x[len / 2] = f32::INFINITY;
                    x[len / 3] = f32::NAN;
                }
                for r in [Resampler::ResampyKaiserBest, Resampler::Resampy03KaiserBest] {
                    for (from, to) in [(16_000u32, 22_050u32), (22_050, 16_000), (48_000, 16_000)] {
                        let ratio = to as f64 / from as f64;
                        let n_out = ((len as f64 * ratio) as usize).max(1);
                        let run = |k| interpolate(&x, ratio, r.table(), r.design(), n_out, k);
                        let (fast, plain) = (run(Kernel::Fastest), run(Kernel::TapByTap));
                        for (i, (a, b)) in fast.iter().zip(&plain).enumerate() {
                            assert!(
                                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                                "{r} {from}→{to}, {len} samples × {amp:e}, [{i}]: {a:e} vs {b:e}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bessel_i0_matches_known_values() {
        // I₀(0) = 1, I₀(1) = 1.2660658777520082, I₀(10) = 2815.716628466254 (Abramowitz–Stegun).
        assert_eq!(bessel_i0(0.0), 1.0);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_2).abs() < 1e-15);
        assert!((bessel_i0(10.0) / 2_815.716_628_466_254 - 1.0).abs() < 1e-14);
    }

    #[test]
    fn length_is_the_ceiling_of_len_times_to_over_from() {
        for len in (1..200_000usize).step_by(7) {
            let exact = (len * 22_050).div_ceil(16_000);
            assert_eq!(output_len(len, 16_000, 22_050), exact, "{len}");
        }
        let x = vec![0.1f32; 21_917];
        for r in Resampler::ALL {
            let y = resample(&x, 16_000, 22_050, r).unwrap();
            assert_eq!(y.len(), 30_205, "{r}");
            let down = resample(&x, 16_000, 8_000, r).unwrap();
            assert_eq!(down.len(), 10_959, "{r}");
        }
        // resampy computes ⌊21917·441/320⌋ = 30204 samples; librosa pads the last with a zero.
        let y = resample(&x, 16_000, 22_050, Resampler::ResampyKaiserBest).unwrap();
        assert_eq!(y[30_204], 0.0);
        assert!(y[30_203] != 0.0);
    }

    #[test]
    fn equal_rates_are_the_identity() {
        let x = vec![0.25f32, -1.0, 0.5];
        for r in Resampler::ALL {
            assert_eq!(resample(&x, 16_000, 16_000, r).unwrap(), x);
        }
    }

    /// Output samples within the longest filter (100 crossings) of either end.
    fn edge(from: u32, to: u32) -> usize {
        (101.0 * (to as f64 / from as f64).max(1.0)) as usize + 1
    }

    /// Away from the edges (where the filter meets the zeros outside the clip) a 1 kHz sine comes
    /// out as the same sine at the new rate, up and down, within the filters' passband ripple,
    /// table interpolation and (resampy, downsampling) detuning.
    #[test]
    fn a_sine_stays_a_sine_at_the_new_rate() {
        for r in Resampler::ALL {
            for (from, to) in [(16_000u32, 22_050u32), (22_050, 16_000), (16_000, 44_100)] {
                let x: Vec<f32> = sine(1_000.0, from, from as usize, 0.5)
                    .into_iter()
                    .map(|v| v as f32)
                    .collect();
                let y = resample(&x, from, to, r).unwrap();
                let want = sine(1_000.0, to, y.len(), 0.5);
                let e = edge(from, to);
                let max = y[e..y.len() - e]
                    .iter()
                    .zip(&want[e..])
                    .map(|(&g, &w)| (g as f64 - w).abs())
                    .fold(0.0, f64::max);
                // Downsampling, resampy's truncated table step detunes the filter's gain by up
                // to the fraction of a step it drops (1.4e-3 with the 2⁹ table at 22.05 → 16 kHz).
                let s = (to as f64 / from as f64).min(1.0) * r.table().per_crossing as f64;
                let detune = if r.design().exact_step {
                    0.0
                } else {
                    1.0 - s.trunc() / s
                };
                let bound = 2e-5 + 0.5 * detune;
                assert!(max < bound, "{r} {from}→{to}: max |Δ| {max:e} > {bound:e}");
            }
        }
    }

    #[test]
    fn dc_stays_dc() {
        for r in Resampler::ALL {
            for (from, to) in [(16_000u32, 22_050u32), (16_000, 44_100)] {
                let y = resample(&vec![0.5f32; 8_000], from, to, r).unwrap();
                let e = edge(from, to);
                for (i, &v) in y[e..y.len() - e].iter().enumerate() {
                    assert!((v - 0.5).abs() < 1e-5, "{r} {from}→{to} [{}]: {v}", e + i);
                }
            }
        }
        let y = resample(&vec![0.5f32; 8_000], 48_000, 16_000, Resampler::SoxrHq).unwrap();
        let e = edge(48_000, 16_000);
        assert!(y[e..y.len() - e].iter().all(|v| (v - 0.5).abs() < 1e-5));
    }

    /// Downsampling by 3, resampy's truncated table step detunes the filter: 0.5 comes out as
    /// 0.50135845 (resampy 0.2.2) and 0.5000858 (resampy 0.4.3) at output 1000 of 8000 samples at
    /// 48 kHz → 16 kHz (`resampy.resample(np.full(8000, 0.5, np.float32), 48000, 16000)[1000]`).
    #[test]
    fn resampy_downsampling_keeps_its_truncated_table_step() {
        for (r, want) in [
            (Resampler::ResampyKaiserBest, 0.501_358_45),
            (Resampler::Resampy03KaiserBest, 0.500_085_8),
        ] {
            let y = resample(&vec![0.5f32; 8_000], 48_000, 16_000, r).unwrap();
            assert!((y[1000] as f64 - want).abs() < 1e-7, "{r}: {}", y[1000]);
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for r in Resampler::ALL {
            assert_eq!(r.name().parse::<Resampler>().unwrap(), r);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.name()));
            assert_eq!(serde_json::from_str::<Resampler>(&json).unwrap(), r);
        }
        let err = "kaiser_best".parse::<Resampler>().unwrap_err();
        assert!(err.to_string().contains("soxr_hq"), "{err}");
    }

    #[test]
    fn zero_rates_and_too_short_clips_are_refused() {
        assert_eq!(
            resample(&[0.0], 0, 22_050, Resampler::SoxrHq).unwrap_err(),
            ResampleError::ZeroRate {
                from: 0,
                to: 22_050
            }
        );
        let err = resample(&[0.1], 22_050, 16_000, Resampler::ResampyKaiserBest).unwrap_err();
        assert!(
            matches!(err, ResampleError::TooShort { len: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("too few"), "{err}");
    }
}
