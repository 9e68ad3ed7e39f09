//! A 2-D convolution without bias, any kernel, stride and zero padding (PyTorch's `Conv2d(...,
//! bias=False)`), on rows of CHW images. Output size per side: ⌊(n + 2p − k)/s⌋ + 1.
//!
//! Two paths with the same result (tested against each other): on devices with host memory,
//! im2col and one matrix product per wave of [`WAVE`] images on the host (gemm 0.19, AVX-512 where available) with its own backward
//! op (the weight gradient as one product per wave, the input gradient by col2im, none at all
//! for a stem whose input needs none); on any device, im2col by `gather` and dfdx's `matmul`.
//! The wave size is fixed, never the thread count, so results do not depend on threads, and
//! the scratch memory is bounded by one wave's columns whatever the batch.

use super::super::backend::Backend;
use super::super::host;
use super::super::params::{Group, Matrix, ParamId, ParamStore, ValueKind};
use dfdx::prelude::*;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

/// Images per matrix product: the largest column buffer of a 224×224 ResNet-18 is then under
/// 30 MB (layer 1: 576 × 4 × 3136 values), below the allocator's 32 MiB reuse limit.
pub const WAVE: usize = 4;

/// A convolution layer's geometry and weight `(c_out, c_in·k·k)`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// The filter bank, PyTorch's `(c_out, c_in, k, k)` flattened to `(c_out, c_in·k·k)`.
    pub weight: ParamId,
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    pad: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    /// Whether the input needs a gradient (false for a stem on the data).
    input_grad: bool,
}

/// Output size of one side.
pub fn out_size(n: usize, k: usize, stride: usize, pad: usize) -> usize {
    (n + 2 * pad - k) / stride + 1
}

impl Conv2d {
    /// A `k × k` convolution from `c_in` to `c_out` channels on `h × w` inputs, its weight
    /// drawn as torchvision initialises ResNet convolutions: Kaiming normal, fan-out, ReLU
    /// gain, N(0, 2/(k²·c_out)).
    #[allow(clippy::too_many_arguments)]
    pub fn new<D: Backend>(
        store: &mut ParamStore<D>,
        name: &str,
        (c_in, c_out): (usize, usize),
        (k, stride, pad): (usize, usize, usize),
        (h, w): (usize, usize),
        input_grad: bool,
        group: Group,
        rng: &mut impl Rng,
    ) -> Conv2d {
        let std = (2.0 / (k * k * c_out) as f64).sqrt();
        let normal = Normal::new(0.0, std).expect("finite standard deviation");
        let values: Vec<f32> = (0..c_out * c_in * k * k)
            .map(|_| normal.sample(rng) as f32)
            .collect();
        let weight = store.add_values(
            format!("{name}.weight"),
            (c_out, Some(c_in * k * k)),
            values,
            group,
            ValueKind::ConvWeight,
        );
        Conv2d {
            weight,
            c_in,
            c_out,
            k,
            stride,
            pad,
            h,
            w,
            oh: out_size(h, k, stride, pad),
            ow: out_size(w, k, stride, pad),
            input_grad,
        }
    }

    /// Output `(height, width)`.
    pub fn out_hw(&self) -> (usize, usize) {
        (self.oh, self.ow)
    }

    /// The matrix product per image: (positions, patch, filters).
    pub fn matmul_shape(&self) -> (usize, usize, usize) {
        (self.oh * self.ow, self.c_in * self.k * self.k, self.c_out)
    }

    fn in_width(&self) -> usize {
        self.c_in * self.h * self.w
    }

    fn patch(&self) -> usize {
        self.c_in * self.k * self.k
    }

    fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Apply to `(images, c_in·h·w)` rows (CHW); returns `(images, c_out·oh·ow)` (CHW).
    pub fn forward<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        if D::HOST_INPUT_LAYER {
            self.forward_host(x, store)
        } else {
            self.forward_gather(x, store)
        }
    }

    /// The input columns `[first, last)` of output row `oy` that tap `(ky, kx)` reads, with the
    /// first input column: outputs outside the range read padding.
    fn span(&self, oy: usize, ky: usize, kx: usize) -> Option<(usize, usize, usize, usize)> {
        let (s, p) = (self.stride, self.pad);
        let iy = (oy * s + ky).checked_sub(p).filter(|&iy| iy < self.h)?;
        // Output columns ox with 0 ≤ ox·s + kx − p < w.
        let first = (p.saturating_sub(kx)).div_ceil(s);
        let last = ((self.w + p).saturating_sub(kx)).div_ceil(s).min(self.ow);
        (first < last).then(|| (iy, first, last, first * s + kx - p))
    }

    /// The columns of a wave of images, patch-major: row `(c·k + ky)·k + kx` holds, for every
    /// image of the wave in turn, the input under that tap at every output position (zero
    /// outside the image). Rows are filled in parallel; stride-1 rows are line copies.
    fn wave_cols(&self, xs: &[f32]) -> Vec<f32> {
        let (inw, n, k, s) = (self.in_width(), self.positions(), self.k, self.stride);
        let (h, w, ow) = (self.h, self.w, self.ow);
        let m = xs.len() / inw;
        let mut cols = vec![0f32; self.patch() * m * n];
        cols.par_chunks_mut(m * n).enumerate().for_each(|(r, row)| {
            let (c, ky, kx) = (r / (k * k), r / k % k, r % k);
            for (i, x) in xs.chunks(inw).enumerate() {
                let plane = &x[c * h * w..(c + 1) * h * w];
                for oy in 0..self.oh {
                    let Some((iy, first, last, ix0)) = self.span(oy, ky, kx) else {
                        continue;
                    };
                    let out = &mut row[i * n + oy * ow..][first..last];
                    let line = &plane[iy * w..(iy + 1) * w];
                    if s == 1 {
                        out.copy_from_slice(&line[ix0..ix0 + out.len()]);
                    } else {
                        for (o, v) in out.iter_mut().zip(line[ix0..].iter().step_by(s)) {
                            *o = *v;
                        }
                    }
                }
            }
        });
        cols
    }

    /// Add one image's column gradients (its `n` columns of every row of a wave's patch-major
    /// gradient, `stride` apart) back onto its input gradient: the adjoint of the columns.
    fn col2im(&self, dcols: &[f32], stride: usize, offset: usize, dx: &mut [f32]) {
        let (n, k, s) = (self.positions(), self.k, self.stride);
        let (h, w, ow) = (self.h, self.w, self.ow);
        for r in 0..self.patch() {
            let (c, ky, kx) = (r / (k * k), r / k % k, r % k);
            let row = &dcols[r * stride + offset..][..n];
            let plane = &mut dx[c * h * w..(c + 1) * h * w];
            for oy in 0..self.oh {
                let Some((iy, first, last, ix0)) = self.span(oy, ky, kx) else {
                    continue;
                };
                let g = &row[oy * ow..][first..last];
                let line = &mut plane[iy * w..(iy + 1) * w];
                if s == 1 {
                    for (d, v) in line[ix0..ix0 + g.len()].iter_mut().zip(g) {
                        *d += v;
                    }
                } else {
                    for (d, v) in line[ix0..].iter_mut().step_by(s).zip(g) {
                        *d += v;
                    }
                }
            }
        }
    }

    /// The host path (devices with host memory). Per wave of m images, with COLS the
    /// patch-major columns (patch × m·n): Y (c_out × m·n) = W · COLS, scattered into each
    /// image's CHW block. Backward per wave: dW += GY · COLSᵀ (the columns recomputed), and
    /// when the input needs a gradient dCOLS = Wᵀ · GY, added back by col2im.
    pub fn forward_host<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        let dev = store.dev.clone();
        let images = x.shape().0;
        let (x, mut tape) = x.split_tape();
        let xs = x.as_vec();
        let w = store.matrix(self.weight).clone();
        let wv = w.as_vec();
        let (inw, n, c_out, patch) = (self.in_width(), self.positions(), self.c_out, self.patch());
        let mut y = vec![0f32; images * c_out * n];
        let mut yw = Vec::new();
        for (wave, out) in xs.chunks(WAVE * inw).zip(y.chunks_mut(WAVE * c_out * n)) {
            let cols = self.wave_cols(wave);
            let m = wave.len() / inw;
            yw.resize(c_out * m * n, 0.0);
            host::matmul_v4(
                (c_out, m * n, patch),
                &mut yw,
                false,
                &wv,
                false,
                &cols,
                false,
            );
            scatter_channels(&yw, out, c_out, n);
        }
        let y: Matrix<D> = dev.tensor_from_vec(y, (images, c_out * n));
        if T::OWNS_TAPE {
            let (y_ghost, w_ghost, x_ghost) = (y.ghost(), w.ghost(), x.ghost());
            let conv = self.clone();
            tape.add_backward_op(move |grads| {
                let gy = dev.read(grads.get_or_alloc_mut(&y_ghost)?);
                let mut dw = vec![0f32; c_out * patch];
                let mut dx = if conv.input_grad {
                    vec![0f32; images * inw]
                } else {
                    Vec::new()
                };
                let mut gyw = Vec::new();
                let mut dcols = Vec::new();
                for (i, (wave, gwave)) in xs
                    .chunks(WAVE * inw)
                    .zip(gy.chunks(WAVE * c_out * n))
                    .enumerate()
                {
                    let m = wave.len() / inw;
                    gyw.resize(c_out * m * n, 0.0);
                    gather_channels(gwave, &mut gyw, c_out, n);
                    let cols = conv.wave_cols(wave);
                    // dW (c_out × patch) += GY (c_out × m·n) · COLSᵀ
                    host::matmul_v4(
                        (c_out, patch, m * n),
                        &mut dw,
                        true,
                        &gyw,
                        false,
                        &cols,
                        true,
                    );
                    drop(cols);
                    if conv.input_grad {
                        // dCOLS (patch × m·n) = Wᵀ · GY
                        dcols.resize(patch * m * n, 0.0);
                        host::matmul_v4(
                            (patch, m * n, c_out),
                            &mut dcols,
                            false,
                            &wv,
                            true,
                            &gyw,
                            false,
                        );
                        dx[i * WAVE * inw..][..m * inw]
                            .par_chunks_mut(inw)
                            .enumerate()
                            .for_each(|(j, g)| conv.col2im(&dcols, m * n, j * n, g));
                    }
                }
                dev.edit(grads.get_or_alloc_mut(&w_ghost)?, &mut |g| {
                    host::add_into(g, &dw)
                });
                if conv.input_grad {
                    dev.edit(grads.get_or_alloc_mut(&x_ghost)?, &mut |g| {
                        host::add_into(g, &dx)
                    });
                }
                Ok(())
            });
        }
        y.put_tape(tape)
    }

    /// The device-generic path: the columns by `gather` from the rows with a zero column
    /// appended (taps outside the image read it), one `matmul`, then HWC → CHW.
    pub fn forward_gather<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
    ) -> Matrix<D, T> {
        let dev = store.dev.clone();
        let images = x.shape().0;
        let (n, c_out, patch) = (self.positions(), self.c_out, self.patch());
        let zeros: Matrix<D> = dev.zeros_like(&(images, 1));
        let padded = (x, zeros).concat_along(Axis::<1>);
        let pattern = self.gather_pattern();
        let mut idx = Vec::with_capacity(images * pattern.len());
        for _ in 0..images {
            idx.extend_from_slice(&pattern);
        }
        let idx = dev.tensor_from_vec(idx, (images, n * patch));
        let cols = padded.gather::<(usize, usize), (usize, usize)>(idx);
        let cols = cols.reshape_like(&(images * n, patch));
        let w = store.matrix(self.weight).clone();
        let y = cols.matmul(w.permute::<(usize, usize), Axes2<1, 0>>());
        y.reshape_like(&(images, n, c_out))
            .permute::<(usize, usize, usize), Axes3<0, 2, 1>>()
            .reshape_like(&(images, c_out * n))
    }

    /// Row indices of [`Conv2d::im2col`]'s columns (the zero column `in_width` for taps outside).
    fn gather_pattern(&self) -> Vec<usize> {
        let (k, s, p, h, w) = (self.k, self.stride, self.pad as isize, self.h, self.w);
        let zero = self.in_width();
        let mut v = Vec::with_capacity(self.positions() * self.patch());
        for oy in 0..self.oh {
            for ox in 0..self.ow {
                let (y0, x0) = ((oy * s) as isize - p, (ox * s) as isize - p);
                for c in 0..self.c_in {
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) = (y0 + ky as isize, x0 + kx as isize);
                            let inside = iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize;
                            v.push(if inside {
                                c * h * w + iy as usize * w + ix as usize
                            } else {
                                zero
                            });
                        }
                    }
                }
            }
        }
        v
    }
}

/// `(c × m·n)` channel-major product of a wave → `m` CHW images of `c × n`.
fn scatter_channels(yw: &[f32], out: &mut [f32], c: usize, n: usize) {
    let m = out.len() / (c * n);
    for (i, img) in out.chunks_mut(c * n).enumerate() {
        for ch in 0..c {
            img[ch * n..(ch + 1) * n].copy_from_slice(&yw[ch * m * n + i * n..][..n]);
        }
    }
}

/// The inverse of [`scatter_channels`]: `m` CHW images → `(c × m·n)`.
fn gather_channels(images: &[f32], yw: &mut [f32], c: usize, n: usize) {
    let m = images.len() / (c * n);
    for (i, img) in images.chunks(c * n).enumerate() {
        for ch in 0..c {
            yw[ch * m * n + i * n..][..n].copy_from_slice(&img[ch * n..(ch + 1) * n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};

    /// A direct convolution, by the definition, for reference.
    fn direct(conv: &Conv2d, x: &[f32], wv: &[f32]) -> Vec<f32> {
        let (k, s, p) = (conv.k, conv.stride, conv.pad as isize);
        let mut y = vec![0f32; conv.c_out * conv.oh * conv.ow];
        for o in 0..conv.c_out {
            for oy in 0..conv.oh {
                for ox in 0..conv.ow {
                    let mut acc = 0f64;
                    for c in 0..conv.c_in {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * s) as isize - p + ky as isize;
                                let ix = (ox * s) as isize - p + kx as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= conv.h as isize
                                    || ix >= conv.w as isize
                                {
                                    continue;
                                }
                                let xv =
                                    x[c * conv.h * conv.w + iy as usize * conv.w + ix as usize];
                                acc += (xv * wv[o * conv.patch() + (c * k + ky) * k + kx]) as f64;
                            }
                        }
                    }
                    y[o * conv.oh * conv.ow + oy * conv.ow + ox] = acc as f32;
                }
            }
        }
        y
    }

    /// Stride 2 with padding (the stem's 7×7/2 shape scaled down), stride 1 3×3, and the 1×1/2
    /// shortcut, on odd sizes and more images than a wave: the host path, the gather path and
    /// the direct definition agree on outputs; host and gather agree on the weight and input
    /// gradients.
    #[test]
    fn host_and_gather_paths_match_the_definition_and_each_other() {
        let dev: Cpu = Default::default();
        for (c_in, c_out, k, s, p, h, w) in [
            (2, 3, 7, 2, 3, 11, 9),
            (3, 4, 3, 1, 1, 5, 6),
            (4, 5, 1, 2, 0, 7, 5),
        ] {
            let mut store = ParamStore::new(dev.clone());
            let conv = Conv2d::new(
                &mut store,
                "c",
                (c_in, c_out),
                (k, s, p),
                (h, w),
                true,
                Group::Fusion,
                &mut stream(5, Stream::Init, 0),
            );
            let images = WAVE + 3;
            let x: Vec<f32> = (0..images * c_in * h * w)
                .map(|i| ((i * 31 % 23) as f32 - 11.0) / 7.0)
                .collect();
            let wv = store.matrix(conv.weight).as_vec();
            let run = |host: bool| {
                let x_id: Matrix<Cpu> = dev.tensor_from_vec(x.clone(), (images, c_in * h * w));
                let xt = x_id.clone().leaky_traced();
                let y = if host {
                    conv.forward_host(xt, &store)
                } else {
                    conv.forward_gather(xt, &store)
                };
                let values = y.retaped::<NoneTape>().as_vec();
                let mut g = (y * 0.5).square().sum().backward();
                let gw = g
                    .get_or_alloc_mut(store.matrix(conv.weight))
                    .unwrap()
                    .to_vec();
                let gx = g.get_or_alloc_mut(&x_id).unwrap().to_vec();
                (values, gw, gx)
            };
            let (hy, hw, hx) = run(true);
            let (gy, gw, gx) = run(false);
            let per = c_in * h * w;
            let want: Vec<f32> = x
                .chunks(per)
                .flat_map(|img| direct(&conv, img, &wv))
                .collect();
            let close = |a: &[f32], b: &[f32], what: &str| {
                assert_eq!(a.len(), b.len(), "{what}");
                for (i, (u, v)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (u - v).abs() <= 1e-4 * (1.0 + v.abs()),
                        "{what}[{i}]: {u} vs {v} (k {k} s {s})"
                    );
                }
            };
            close(&hy, &want, "host output");
            close(&gy, &want, "gather output");
            close(&hw, &gw, "weight gradient");
            close(&hx, &gx, "input gradient");
        }
    }
}
