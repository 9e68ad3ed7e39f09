//! Convolution without dfdx's `nightly` conv: im2col by `gather` + `matmul`, max-pooling by
//! `gather` + `max` over a window axis (DESIGN §3). Works on rows of flattened images.
//!
//! Layouts: the input of the first layer is CHW (as manifests store images); every layer's
//! output is HWC, the layout the next layer's indices are built for. Convolutions are
//! k × k, stride 1, zero padding k/2 ("same"), followed by ReLU and 2 × 2 max-pooling.

use super::backend::Backend;
use super::params::{Group, Matrix, ParamId, ParamStore};
use dfdx::prelude::*;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Index tensors `(batch, n)` cached per batch size.
type IndexCache<D> = Arc<Mutex<BTreeMap<usize, Tensor<(usize, usize), usize, D>>>>;

/// One conv + ReLU + max-pool block.
#[derive(Debug, Clone)]
pub struct ConvBlock<D: Backend> {
    weight: ParamId,
    bias: ParamId,
    c_out: usize,
    patch: usize,
    positions: usize,
    in_width: usize,
    im2col: Vec<usize>,
    pool: Vec<usize>,
    im2col_cache: IndexCache<D>,
    pool_cache: IndexCache<D>,
    /// Output `(height, width, channels)` after pooling.
    pub out_shape: (usize, usize, usize),
}

impl<D: Backend> ConvBlock<D> {
    /// A block reading `(c, h, w)` (CHW when `chw`, else HWC) with `c_out` filters of size
    /// `k`; weights initialised like PyTorch's `Conv2d` (U(±1/√(c·k·k))).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &mut ParamStore<D>,
        name: &str,
        (c, h, w): (usize, usize, usize),
        chw: bool,
        c_out: usize,
        k: usize,
        group: Group,
        rng: &mut impl Rng,
    ) -> ConvBlock<D> {
        let (weight, bias) = store.add_linear(name, c * k * k, c_out, group, rng);
        let pad = k / 2;
        let in_width = c * h * w;
        let at = |y: usize, x: usize, ch: usize| {
            if chw {
                ch * h * w + y * w + x
            } else {
                (y * w + x) * c + ch
            }
        };
        let mut im2col = Vec::with_capacity(h * w * k * k * c);
        for oy in 0..h {
            for ox in 0..w {
                for ky in 0..k {
                    for kx in 0..k {
                        for ch in 0..c {
                            let (iy, ix) = (
                                (oy + ky) as isize - pad as isize,
                                (ox + kx) as isize - pad as isize,
                            );
                            let inside =
                                iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w;
                            // Out-of-image taps read the zero column appended at `in_width`.
                            im2col.push(if inside {
                                at(iy as usize, ix as usize, ch)
                            } else {
                                in_width
                            });
                        }
                    }
                }
            }
        }
        let (ph, pw) = (h / 2, w / 2);
        let mut pool = Vec::with_capacity(ph * pw * c_out * 4);
        for py in 0..ph {
            for px in 0..pw {
                for ch in 0..c_out {
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        pool.push(((2 * py + dy) * w + 2 * px + dx) * c_out + ch);
                    }
                }
            }
        }
        ConvBlock {
            weight,
            bias,
            c_out,
            patch: c * k * k,
            positions: h * w,
            in_width,
            im2col,
            pool,
            im2col_cache: Default::default(),
            pool_cache: Default::default(),
            out_shape: (ph, pw, c_out),
        }
    }

    fn indices(
        cache: &IndexCache<D>,
        pattern: &[usize],
        batch: usize,
        dev: &D,
    ) -> Tensor<(usize, usize), usize, D> {
        let mut map = cache.lock().expect("index cache lock");
        map.entry(batch)
            .or_insert_with(|| {
                let mut v = Vec::with_capacity(batch * pattern.len());
                for _ in 0..batch {
                    v.extend_from_slice(pattern);
                }
                dev.tensor_from_vec(v, (batch, pattern.len()))
            })
            .clone()
    }

    /// The block's matrix product per sample: (positions, patch, filters).
    pub fn matmul_shape(&self) -> (usize, usize, usize) {
        (self.positions, self.patch, self.c_out)
    }

    /// Apply to `(batch, c·h·w)` rows.
    pub fn forward<T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        let dev = store.dev.clone();
        let b = x.shape().0;
        let zeros: Matrix<D> = dev.zeros_like(&(b, 1));
        let padded = (x, zeros).concat_along(Axis::<1>);
        debug_assert_eq!(padded.shape().1, self.in_width + 1);
        let cols = padded.gather::<(usize, usize), (usize, usize)>(Self::indices(
            &self.im2col_cache,
            &self.im2col,
            b,
            &dev,
        ));
        let cols = cols.reshape_like(&(b * self.positions, self.patch));
        let w = store.matrix(self.weight).clone();
        let bias = store.vector(self.bias).clone();
        let y = cols.matmul(w.permute::<(usize, usize), Axes2<1, 0>>());
        let shape = *y.shape();
        let y = (y + bias.broadcast_like::<(usize, usize), Axis<0>>(&shape)).relu();
        let y = y.reshape_like(&(b, self.positions * self.c_out));
        let windows = y.gather::<(usize, usize), (usize, usize)>(Self::indices(
            &self.pool_cache,
            &self.pool,
            b,
            &dev,
        ));
        let (ph, pw, c) = self.out_shape;
        windows
            .reshape_like(&(b, ph * pw * c, 4))
            .max::<(usize, usize), Axis<2>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};

    /// Direct convolution + ReLU + 2×2 max-pool on the host, the reference for im2col.
    #[test]
    fn im2col_conv_matches_direct_convolution() {
        let dev: Cpu = Default::default();
        let mut store = ParamStore::new(dev.clone());
        let (c, h, w, co, k) = (2, 5, 4, 3, 3);
        let block: ConvBlock<Cpu> = ConvBlock::new(
            &mut store,
            "conv",
            (c, h, w),
            true,
            co,
            k,
            Group::Fusion,
            &mut stream(1, Stream::Init, 0),
        );
        let x: Vec<f32> = (0..2 * c * h * w)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let got = block
            .forward(dev.tensor_from_vec(x.clone(), (2, c * h * w)), &store)
            .as_vec();
        let wt = store.matrix(block.weight).as_vec();
        let bs = store.vector(block.bias).as_vec();
        let mut expected = Vec::new();
        for n in 0..2 {
            let conv = |oy: usize, ox: usize, o: usize| -> f32 {
                let mut s = bs[o];
                for ky in 0..k {
                    for kx in 0..k {
                        for ch in 0..c {
                            let (iy, ix) =
                                (oy as isize + ky as isize - 1, ox as isize + kx as isize - 1);
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                let v =
                                    x[n * c * h * w + ch * h * w + iy as usize * w + ix as usize];
                                s += v * wt[o * c * k * k + (ky * k + kx) * c + ch];
                            }
                        }
                    }
                }
                s.max(0.0)
            };
            for py in 0..h / 2 {
                for px in 0..w / 2 {
                    for o in 0..co {
                        let m = [(0, 0), (0, 1), (1, 0), (1, 1)]
                            .iter()
                            .map(|(dy, dx)| conv(2 * py + dy, 2 * px + dx, o))
                            .fold(f32::NEG_INFINITY, f32::max);
                        expected.push(m);
                    }
                }
            }
        }
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-5, "{g} vs {e}");
        }
    }
}
