//! Batch normalisation over the channels of CHW images (PyTorch's `BatchNorm2d`: eps 1e-5,
//! momentum 0.1, affine), optionally followed by a ReLU in the same op.
//!
//! Training mode normalises with the batch's statistics — mean and biased variance per channel
//! over every image and position, accumulated in f64 in two passes — and records the running
//! updates (mean, unbiased variance) in the store's queue, applied after the step. Evaluation
//! mode normalises with the running statistics. The affine map is applied as PyTorch's CPU
//! kernel does, y = x·α + β' with α = γ/√(σ² + ε) and β' = β − μ·α.
//!
//! Two paths with the same result (tested against each other): on devices with host memory a
//! host op with its own backward; on any device, dfdx ops.

use super::super::backend::Backend;
use super::super::params::{Group, Matrix, ParamId, ParamStore, RunningUpdate, ValueKind, Vector};
use super::mode::Mode;
use dfdx::prelude::*;
use rayon::prelude::*;

/// PyTorch's default ε.
pub const EPS: f64 = 1e-5;
/// PyTorch's default momentum of the running statistics.
pub const MOMENTUM: f32 = 0.1;

/// A batch norm layer: γ, β and the two running buffers.
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    /// γ, initialised to 1.
    pub weight: ParamId,
    /// β, initialised to 0.
    pub bias: ParamId,
    /// Running mean (buffer), initialised to 0.
    pub running_mean: ParamId,
    /// Running variance (buffer), initialised to 1.
    pub running_var: ParamId,
    channels: usize,
    positions: usize,
    relu: bool,
}

impl BatchNorm2d {
    /// A batch norm of `channels` channels over `positions` positions each, followed by a ReLU
    /// when `relu`. Parameters named as PyTorch names them (`{name}.weight`, `.bias`,
    /// `.running_mean`, `.running_var`).
    pub fn new<D: Backend>(
        store: &mut ParamStore<D>,
        name: &str,
        channels: usize,
        positions: usize,
        relu: bool,
        group: Group,
    ) -> BatchNorm2d {
        let mut add = |field: &str, value: f32, kind: ValueKind| {
            store.add_values(
                format!("{name}.{field}"),
                (channels, None),
                vec![value; channels],
                group,
                kind,
            )
        };
        BatchNorm2d {
            weight: add("weight", 1.0, ValueKind::Trainable),
            bias: add("bias", 0.0, ValueKind::Trainable),
            running_mean: add("running_mean", 0.0, ValueKind::Buffer),
            running_var: add("running_var", 1.0, ValueKind::Buffer),
            channels,
            positions,
            relu,
        }
    }

    /// Apply to `(images, channels·positions)` rows (CHW).
    pub fn forward<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
        mode: Mode,
    ) -> Matrix<D, T> {
        if D::HOST_INPUT_LAYER {
            self.forward_host(x, store, mode)
        } else {
            self.forward_ops(x, store, mode)
        }
    }

    /// Per-channel mean and biased variance over images × positions (f64, two passes).
    fn batch_stats(&self, xs: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (c, n) = (self.channels, self.positions);
        let images = xs.len() / (c * n);
        let count = (images * n) as f64;
        (0..c)
            .into_par_iter()
            .map(|ch| {
                let plane = |i: usize| &xs[(i * c + ch) * n..][..n];
                let sum: f64 = (0..images).map(|i| lane_fold(plane(i), f64::from)).sum();
                let mean = sum / count;
                let sq: f64 = (0..images)
                    .map(|i| lane_fold(plane(i), |v| (v as f64 - mean) * (v as f64 - mean)))
                    .sum();
                (mean, sq / count)
            })
            .unzip()
    }

    /// Record this batch's running updates (PyTorch's: the unbiased variance).
    fn record_running<D: Backend>(
        &self,
        store: &ParamStore<D>,
        mean: &[f64],
        var: &[f64],
        count: usize,
    ) {
        let unbias = if count > 1 {
            count as f64 / (count - 1) as f64
        } else {
            1.0
        };
        store.running.push(RunningUpdate {
            id: self.running_mean,
            momentum: MOMENTUM,
            value: mean.iter().map(|&m| m as f32).collect(),
        });
        store.running.push(RunningUpdate {
            id: self.running_var,
            momentum: MOMENTUM,
            value: var.iter().map(|&v| (v * unbias) as f32).collect(),
        });
    }

    /// The statistics a forward normalises with: (μ, 1/√(σ² + ε)) per channel.
    fn normalisation<D: Backend>(
        &self,
        xs: &[f32],
        store: &ParamStore<D>,
        mode: Mode,
    ) -> (Vec<f64>, Vec<f64>) {
        match mode {
            Mode::Train | Mode::TrainUnrecorded => {
                let (mean, var) = self.batch_stats(xs);
                if mode.records() {
                    let count = xs.len() / self.channels;
                    self.record_running(store, &mean, &var, count);
                }
                (mean, var.iter().map(|v| 1.0 / (v + EPS).sqrt()).collect())
            }
            Mode::Eval => {
                let rm = store.vector(self.running_mean).as_vec();
                let rv = store.vector(self.running_var).as_vec();
                (
                    rm.iter().map(|&m| m as f64).collect(),
                    rv.iter().map(|&v| 1.0 / (v as f64 + EPS).sqrt()).collect(),
                )
            }
        }
    }

    /// The host path (devices with host memory), with its own backward op.
    pub fn forward_host<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
        mode: Mode,
    ) -> Matrix<D, T> {
        let dev = store.dev.clone();
        let (images, width) = *x.shape();
        let (c, n) = (self.channels, self.positions);
        assert_eq!(width, c * n, "batch norm input width");
        let (x, mut tape) = x.split_tape();
        let xs = x.as_vec();
        let (mean, invstd) = self.normalisation(&xs, store, mode);
        let gamma = store.vector(self.weight).clone();
        let beta = store.vector(self.bias).clone();
        let (gv, bv) = (gamma.as_vec(), beta.as_vec());
        // PyTorch's CPU form: y = x·α + β', α = γ·invstd, β' = β − μ·α.
        let alpha: Vec<f32> = (0..c)
            .map(|ch| (gv[ch] as f64 * invstd[ch]) as f32)
            .collect();
        let shift: Vec<f32> = (0..c)
            .map(|ch| (bv[ch] as f64 - mean[ch] * alpha[ch] as f64) as f32)
            .collect();
        let relu = self.relu;
        let mut y = vec![0f32; xs.len()];
        y.par_chunks_mut(c * n)
            .zip(xs.par_chunks(c * n))
            .for_each(|(yi, xi)| {
                for ch in 0..c {
                    let (a, s) = (alpha[ch], shift[ch]);
                    for (o, &v) in yi[ch * n..(ch + 1) * n]
                        .iter_mut()
                        .zip(&xi[ch * n..(ch + 1) * n])
                    {
                        let t = v * a + s;
                        *o = if relu { t.max(0.0) } else { t };
                    }
                }
            });
        let out: Matrix<D> = dev.tensor_from_vec(y, (images, width));
        if T::OWNS_TAPE {
            let ghosts = (out.ghost(), x.ghost(), gamma.ghost(), beta.ghost());
            // The ReLU's mask is read from the output in backward.
            let kept = relu.then(|| out.clone());
            tape.add_backward_op(move |grads| {
                let (out_g, x_g, gamma_g, beta_g) = &ghosts;
                let mut gy = dev.read(grads.get_or_alloc_mut(out_g)?);
                if let Some(out) = &kept {
                    // Branch-free mask: the gradient passes where the output is positive.
                    for (g, &o) in gy.iter_mut().zip(&out.as_vec()) {
                        *g *= (o > 0.0) as u8 as f32;
                    }
                }
                // Per channel: Σ dy, and Σ dy·x̂ = (Σ dy·x − μ·Σ dy)·invstd.
                let sums: Vec<(f64, f64)> = (0..c)
                    .into_par_iter()
                    .map(|ch| {
                        let (mut s, mut sgx) = (0f64, 0f64);
                        for i in 0..images {
                            let at = (i * c + ch) * n;
                            let (a, b) = lane_sums(&gy[at..at + n], &xs[at..at + n]);
                            s += a;
                            sgx += b;
                        }
                        (s, (sgx - mean[ch] * s) * invstd[ch])
                    })
                    .collect();
                let count = (images * n) as f64;
                // dx = k1·dy + k2·x + k3 per channel (training: through the batch statistics;
                // evaluation: the fixed affine map).
                let coeff: Vec<[f32; 3]> = (0..c)
                    .map(|ch| {
                        let (s, sx) = sums[ch];
                        let (m, inv, g) = (mean[ch], invstd[ch], gv[ch] as f64);
                        match mode {
                            Mode::Train | Mode::TrainUnrecorded => {
                                let k2 = -g * inv * inv * sx / count;
                                [
                                    (g * inv) as f32,
                                    k2 as f32,
                                    (-g * inv * s / count - k2 * m) as f32,
                                ]
                            }
                            Mode::Eval => [(g * inv) as f32, 0.0, 0.0],
                        }
                    })
                    .collect();
                let mut dx = vec![0f32; xs.len()];
                dx.par_chunks_mut(c * n)
                    .zip(gy.par_chunks(c * n).zip(xs.par_chunks(c * n)))
                    .for_each(|(d, (g, xi))| {
                        for (ch, [k1, k2, k3]) in coeff.iter().enumerate() {
                            let range = ch * n..(ch + 1) * n;
                            for ((d, &g), &v) in d[range.clone()]
                                .iter_mut()
                                .zip(&g[range.clone()])
                                .zip(&xi[range])
                            {
                                *d = k1 * g + k2 * v + k3;
                            }
                        }
                    });
                dev.edit(grads.get_or_alloc_mut(gamma_g)?, &mut |d| {
                    for (d, (_, sx)) in d.iter_mut().zip(&sums) {
                        *d += *sx as f32;
                    }
                });
                dev.edit(grads.get_or_alloc_mut(beta_g)?, &mut |d| {
                    for (d, (s, _)) in d.iter_mut().zip(&sums) {
                        *d += *s as f32;
                    }
                });
                dev.edit(grads.get_or_alloc_mut(x_g)?, &mut |d| {
                    super::super::host::add_into(d, &dx)
                });
                Ok(())
            });
        }
        out.put_tape(tape)
    }

    /// The device-generic path: dfdx ops on `(images, channels, positions)`.
    pub fn forward_ops<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
        mode: Mode,
    ) -> Matrix<D, T> {
        let dev = store.dev.clone();
        let (images, width) = *x.shape();
        let (c, n) = (self.channels, self.positions);
        let shape = (images, c, n);
        let x3 = x.reshape_like(&shape);
        let xhat = match mode {
            Mode::Train | Mode::TrainUnrecorded => {
                let (x3, tape) = x3.split_tape();
                let mean = x3.clone().put_tape(tape).mean::<(usize,), Axes2<0, 2>>();
                let mean_host = if mode.records() {
                    mean.as_vec()
                } else {
                    Vec::new()
                };
                let centred = x3.retaped::<T>() - mean.broadcast_like::<_, Axes2<0, 2>>(&shape);
                let (centred, tape) = centred.split_tape();
                let var = centred
                    .clone()
                    .put_tape(tape)
                    .square()
                    .mean::<(usize,), Axes2<0, 2>>();
                if mode.records() {
                    let var_host = var.as_vec();
                    self.record_running(
                        store,
                        &mean_host.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                        &var_host.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                        images * n,
                    );
                }
                let inv = (var + EPS as f32).sqrt().recip();
                centred.retaped::<T>() * inv.broadcast_like::<_, Axes2<0, 2>>(&shape)
            }
            Mode::Eval => {
                let rm: Vector<D> = store.vector(self.running_mean).clone();
                let inv: Vec<f32> = store
                    .vector(self.running_var)
                    .as_vec()
                    .iter()
                    .map(|&v| (1.0 / (v as f64 + EPS).sqrt()) as f32)
                    .collect();
                let inv: Vector<D> = dev.tensor_from_vec(inv, (c,));
                (x3 - rm.broadcast_like::<_, Axes2<0, 2>>(&shape))
                    * inv.broadcast_like::<_, Axes2<0, 2>>(&shape)
            }
        };
        let gamma = store.vector(self.weight).clone();
        let beta = store.vector(self.bias).clone();
        let y = (xhat * gamma.broadcast_like::<_, Axes2<0, 2>>(&shape)
            + beta.broadcast_like::<_, Axes2<0, 2>>(&shape))
        .reshape_like(&(images, width));
        if self.relu {
            y.relu()
        } else {
            y
        }
    }
}

/// Lanes of f64 accumulators (a fixed order, so results do not depend on anything but the
/// data; wide enough for the compiler to vectorise).
const LANES: usize = 8;

/// Σ f(v) in f64 lanes.
fn lane_fold(v: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for ch in chunks {
        for (a, &x) in acc.iter_mut().zip(ch) {
            *a += f(x);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// (Σ g, Σ g·x) in f64 lanes.
fn lane_sums(g: &[f32], x: &[f32]) -> (f64, f64) {
    let (mut s, mut sx) = ([0f64; LANES], [0f64; LANES]);
    let (gc, xc) = (g.chunks_exact(LANES), x.chunks_exact(LANES));
    let tail: (f64, f64) = gc
        .remainder()
        .iter()
        .zip(xc.remainder())
        .fold((0.0, 0.0), |(a, b), (&g, &x)| {
            (a + g as f64, b + g as f64 * x as f64)
        });
    for (gs, xs) in gc.zip(xc) {
        for l in 0..LANES {
            s[l] += gs[l] as f64;
            sx[l] += gs[l] as f64 * xs[l] as f64;
        }
    }
    (
        s.iter().sum::<f64>() + tail.0,
        sx.iter().sum::<f64>() + tail.1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host and dfdx-op paths agree, in both modes, on outputs, on the gradients of x, γ and β,
    /// and on the running updates they record; with ReLU and without.
    #[test]
    fn host_and_op_paths_agree_in_both_modes() {
        let dev: Cpu = Default::default();
        for relu in [false, true] {
            let mut store = ParamStore::new(dev.clone());
            let (c, n, images) = (3, 5, 4);
            let bn = BatchNorm2d::new(&mut store, "bn", c, n, relu, Group::Fusion);
            store.set_values(bn.weight, vec![0.5, 1.5, -1.0]);
            store.set_values(bn.bias, vec![0.1, -0.2, 0.3]);
            store.set_values(bn.running_mean, vec![0.2, -0.1, 0.05]);
            store.set_values(bn.running_var, vec![1.5, 0.7, 2.0]);
            let x: Vec<f32> = (0..images * c * n)
                .map(|i| ((i * 37 % 29) as f32 - 14.0) / 6.0)
                .collect();
            for mode in [Mode::Train, Mode::Eval] {
                let run = |host: bool| {
                    let x_id: Matrix<Cpu> = dev.tensor_from_vec(x.clone(), (images, c * n));
                    let xt = x_id.clone().leaky_traced();
                    let y = if host {
                        bn.forward_host(xt, &store, mode)
                    } else {
                        bn.forward_ops(xt, &store, mode)
                    };
                    let values = y.retaped::<NoneTape>().as_vec();
                    let weights: Vec<f32> =
                        (0..images * c * n).map(|i| (i % 7) as f32 - 3.0).collect();
                    let w: Matrix<Cpu> = dev.tensor_from_vec(weights, (images, c * n));
                    let mut g = (y * w).sum().backward();
                    let gx = g.get_or_alloc_mut(&x_id).unwrap().to_vec();
                    let gg = g
                        .get_or_alloc_mut(store.vector(bn.weight))
                        .unwrap()
                        .to_vec();
                    let gb = g.get_or_alloc_mut(store.vector(bn.bias)).unwrap().to_vec();
                    let updates: Vec<Vec<f32>> =
                        store.running.take().into_iter().map(|u| u.value).collect();
                    (values, gx, gg, gb, updates)
                };
                let h = run(true);
                let o = run(false);
                let close = |a: &[f32], b: &[f32], what: &str| {
                    for (i, (u, v)) in a.iter().zip(b).enumerate() {
                        assert!(
                            (u - v).abs() <= 1e-5 * (1.0 + v.abs()),
                            "{what}[{i}] {mode:?} relu {relu}: {u} vs {v}"
                        );
                    }
                };
                close(&h.0, &o.0, "output");
                close(&h.1, &o.1, "input gradient");
                close(&h.2, &o.2, "gamma gradient");
                close(&h.3, &o.3, "beta gradient");
                assert_eq!(h.4.len(), if mode == Mode::Train { 2 } else { 0 });
                assert_eq!(h.4.len(), o.4.len());
                for (a, b) in h.4.iter().zip(&o.4) {
                    close(a, b, "running update");
                }
            }
        }
    }

    /// The recorded running variance is the unbiased one and the update is PyTorch's
    /// r ← 0.9·r + 0.1·batch: one channel over 2 images × 2 positions of 1, 2, 3, 4 has mean
    /// 2.5 and unbiased variance 5/3, so from (0, 1) the buffers become (0.25, 0.9 + 1/6).
    #[test]
    fn running_statistics_follow_pytorch() {
        let dev: Cpu = Default::default();
        let mut store = ParamStore::new(dev.clone());
        let bn = BatchNorm2d::new(&mut store, "bn", 1, 2, false, Group::Fusion);
        let x: Matrix<Cpu> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0], (2, 2));
        let _ = bn.forward_host(x, &store, Mode::Train);
        assert_eq!(store.apply_running_updates(), 2);
        let rm = store.vector(bn.running_mean).as_vec()[0];
        let rv = store.vector(bn.running_var).as_vec()[0];
        assert!((rm - 0.25).abs() < 1e-7, "{rm}");
        assert!((rv - (0.9 + 1.0 / 6.0)).abs() < 1e-6, "{rv}");
    }
}
