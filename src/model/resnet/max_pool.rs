//! Max pooling of CHW images, k × k windows, stride s, padding p (PyTorch's `MaxPool2d`:
//! padding never wins, the first maximum in scan order takes the gradient).
//!
//! Two paths (tested against each other): a host op with its own backward (devices with host
//! memory), and `gather` + `max` over a window axis on any device, where padding taps read an
//! appended −∞ column. On tied maxima dfdx's `max` splits the gradient where the host op gives
//! it to the first; in ResNet-18 the pool follows a ReLU, whose backward zeroes the gradient
//! of the only values that tie in practice (exact zeros), so the two agree there.

use super::super::backend::Backend;
use super::super::params::Matrix;
use super::conv2d::out_size;
use dfdx::prelude::*;
use rayon::prelude::*;

/// A max-pooling layer's geometry.
#[derive(Debug, Clone)]
pub struct MaxPool2d {
    channels: usize,
    k: usize,
    stride: usize,
    pad: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl MaxPool2d {
    /// Pool `channels` maps of `h × w`.
    pub fn new(
        channels: usize,
        (k, stride, pad): (usize, usize, usize),
        (h, w): (usize, usize),
    ) -> Self {
        MaxPool2d {
            channels,
            k,
            stride,
            pad,
            h,
            w,
            oh: out_size(h, k, stride, pad),
            ow: out_size(w, k, stride, pad),
        }
    }

    /// Output `(height, width)`.
    pub fn out_hw(&self) -> (usize, usize) {
        (self.oh, self.ow)
    }

    /// Apply to `(images, channels·h·w)` rows.
    pub fn forward<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        dev: &D,
    ) -> Matrix<D, T> {
        if D::HOST_INPUT_LAYER {
            self.forward_host(x, dev)
        } else {
            self.forward_gather(x, dev)
        }
    }

    /// The input rows (or columns) of output row (column) `o`'s window, padding left out.
    fn taps(&self, o: usize, n: usize) -> std::ops::Range<usize> {
        let start = (o * self.stride) as isize - self.pad as isize;
        let end = (start + self.k as isize).min(n as isize);
        start.max(0) as usize..end.max(0) as usize
    }

    /// Input index of each window's taps, per output, `None` for padding.
    fn window(&self, oy: usize, ox: usize) -> impl Iterator<Item = Option<usize>> + '_ {
        let (y0, x0) = (
            (oy * self.stride) as isize - self.pad as isize,
            (ox * self.stride) as isize - self.pad as isize,
        );
        (0..self.k).flat_map(move |ky| {
            (0..self.k).map(move |kx| {
                let (iy, ix) = (y0 + ky as isize, x0 + kx as isize);
                (iy >= 0 && ix >= 0 && iy < self.h as isize && ix < self.w as isize)
                    .then(|| iy as usize * self.w + ix as usize)
            })
        })
    }

    /// The host path with its own backward op (the gradient to each window's first maximum).
    pub fn forward_host<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        dev: &D,
    ) -> Matrix<D, T> {
        let images = x.shape().0;
        let (x, mut tape) = x.split_tape();
        let xs = x.as_vec();
        let (inw, plane_in, plane_out) = (
            self.channels * self.h * self.w,
            self.h * self.w,
            self.oh * self.ow,
        );
        let outw = self.channels * plane_out;
        let mut out = vec![0f32; images * outw];
        // Index of the winning input within its image.
        let mut arg = vec![0u32; images * outw];
        out.par_chunks_mut(outw)
            .zip(arg.par_chunks_mut(outw))
            .zip(xs.par_chunks(inw))
            .for_each(|((o, a), xi)| {
                for ch in 0..self.channels {
                    let plane = &xi[ch * plane_in..(ch + 1) * plane_in];
                    for oy in 0..self.oh {
                        for ox in 0..self.ow {
                            let (mut best, mut at) = (f32::NEG_INFINITY, usize::MAX);
                            let (ys, xs) = (self.taps(oy, self.h), self.taps(ox, self.w));
                            'window: for iy in ys {
                                let line = &plane[iy * self.w..(iy + 1) * self.w];
                                for ix in xs.clone() {
                                    let v = line[ix];
                                    if v > best || v.is_nan() || at == usize::MAX {
                                        best = v;
                                        at = iy * self.w + ix;
                                        if v.is_nan() {
                                            break 'window;
                                        }
                                    }
                                }
                            }
                            let j = ch * plane_out + oy * self.ow + ox;
                            o[j] = best;
                            a[j] = (ch * plane_in + at) as u32;
                        }
                    }
                }
            });
        let z: Matrix<D> = dev.tensor_from_vec(out, (images, outw));
        if T::OWNS_TAPE {
            let (z_ghost, x_ghost, back) = (z.ghost(), x.ghost(), dev.clone());
            tape.add_backward_op(move |grads| {
                let gz = back.read(grads.get_or_alloc_mut(&z_ghost)?);
                back.edit(grads.get_or_alloc_mut(&x_ghost)?, &mut |gx| {
                    for (i, (g, a)) in gz.chunks(outw).zip(arg.chunks(outw)).enumerate() {
                        let gxi = &mut gx[i * inw..(i + 1) * inw];
                        for (&g, &a) in g.iter().zip(a) {
                            gxi[a as usize] += g;
                        }
                    }
                });
                Ok(())
            });
        }
        z.put_tape(tape)
    }

    /// The device-generic path: `gather` every window's taps (padding reads an appended −∞
    /// column), then `max` over the window axis.
    pub fn forward_gather<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        dev: &D,
    ) -> Matrix<D, T> {
        let images = x.shape().0;
        let (inw, plane_in, plane_out) = (
            self.channels * self.h * self.w,
            self.h * self.w,
            self.oh * self.ow,
        );
        let pad: Matrix<D> = dev.tensor_from_vec(vec![f32::NEG_INFINITY; images], (images, 1));
        let padded = (x, pad).concat_along(Axis::<1>);
        let taps = self.k * self.k;
        let mut pattern = Vec::with_capacity(self.channels * plane_out * taps);
        for ch in 0..self.channels {
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    pattern.extend(
                        self.window(oy, ox)
                            .map(|t| t.map_or(inw, |ix| ch * plane_in + ix)),
                    );
                }
            }
        }
        let mut idx = Vec::with_capacity(images * pattern.len());
        for _ in 0..images {
            idx.extend_from_slice(&pattern);
        }
        let idx = dev.tensor_from_vec(idx, (images, pattern.len()));
        padded
            .gather::<(usize, usize), (usize, usize)>(idx)
            .reshape_like(&(images, self.channels * plane_out, taps))
            .max::<(usize, usize), Axis<2>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3×3/2 with padding 1 on odd and even sizes: host and gather paths agree on values and
    /// gradients (distinct inputs, so no ties), and a hand-checked corner: the top-left output
    /// of a 3×3/2/1 pool is the maximum of the 2×2 top-left input block.
    #[test]
    fn host_and_gather_paths_agree() {
        let dev: Cpu = Default::default();
        for (h, w) in [(7, 6), (5, 5), (2, 3)] {
            let (c, images) = (2, 3);
            let pool = MaxPool2d::new(c, (3, 2, 1), (h, w));
            let x: Vec<f32> = (0..images * c * h * w)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 9.0)
                .collect();
            let run = |host: bool| {
                let x_id: Matrix<Cpu> = dev.tensor_from_vec(x.clone(), (images, c * h * w));
                let xt = x_id.clone().leaky_traced();
                let z = if host {
                    pool.forward_host(xt, &dev)
                } else {
                    pool.forward_gather(xt, &dev)
                };
                let values = z.retaped::<NoneTape>().as_vec();
                let mut g = (z * 1.5).square().sum().backward();
                (values, g.get_or_alloc_mut(&x_id).unwrap().to_vec())
            };
            let (hv, hg) = run(true);
            assert_eq!((hv.clone(), hg), run(false), "{h}×{w}");
            let corner = [x[0], x[1], x[w], x[w + 1]]
                .into_iter()
                .fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(hv[0], corner);
        }
    }
}
