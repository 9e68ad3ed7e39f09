//! ResNet-18 as torchvision builds it (`torchvision.models.resnet18` without its `fc`), with a
//! base width: a 7×7/2 stem convolution, batch norm, ReLU, 3×3/2 max pooling, four stages of
//! two BasicBlocks (1, 2, 4 and 8 × width channels; stages 2–4 start with stride 2 and a 1×1/2
//! convolution + batch norm shortcut), then global average pooling. A sample of `frames`
//! frames (stacked on channels) runs as `frames` images through the 2-D net — batch norm
//! statistics pool over batch × frames, as the reference code does — and its feature is the
//! mean over frames and positions of the last map (`av-datasets.md` §5.1–5.2).
//!
//! Parameter names are torchvision's under the encoder's prefix
//! (`encoder.audio.layer2.0.downsample.1.running_var`), so weights exported from torchvision
//! load by name. Convolution weights are stored `(c_out, c_in·k·k)`.

pub mod batch_norm;
pub mod conv2d;
pub mod max_pool;
pub mod mode;

pub use mode::Mode;

use super::backend::Backend;
use super::exchange::StageShape;
use super::params::{Group, Matrix, ParamStore};
use batch_norm::BatchNorm2d;
use conv2d::Conv2d;
use dfdx::prelude::*;
use max_pool::MaxPool2d;
use rand::Rng;

/// Two 3×3 convolutions with batch norms and a residual connection.
#[derive(Debug, Clone)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl BasicBlock {
    #[allow(clippy::too_many_arguments)]
    fn new<D: Backend>(
        store: &mut ParamStore<D>,
        name: &str,
        (c_in, c_out): (usize, usize),
        stride: usize,
        (h, w): (usize, usize),
        group: Group,
        rng: &mut impl Rng,
    ) -> BasicBlock {
        let conv1 = Conv2d::new(
            store,
            &format!("{name}.conv1"),
            (c_in, c_out),
            (3, stride, 1),
            (h, w),
            true,
            group,
            rng,
        );
        let (oh, ow) = conv1.out_hw();
        let bn1 = BatchNorm2d::new(store, &format!("{name}.bn1"), c_out, oh * ow, true, group);
        let conv2 = Conv2d::new(
            store,
            &format!("{name}.conv2"),
            (c_out, c_out),
            (3, 1, 1),
            (oh, ow),
            true,
            group,
            rng,
        );
        let bn2 = BatchNorm2d::new(store, &format!("{name}.bn2"), c_out, oh * ow, false, group);
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let conv = Conv2d::new(
                store,
                &format!("{name}.downsample.0"),
                (c_in, c_out),
                (1, stride, 0),
                (h, w),
                true,
                group,
                rng,
            );
            let bn = BatchNorm2d::new(
                store,
                &format!("{name}.downsample.1"),
                c_out,
                oh * ow,
                false,
                group,
            );
            (conv, bn)
        });
        BasicBlock {
            conv1,
            bn1,
            conv2,
            bn2,
            downsample,
        }
    }

    fn out_hw(&self) -> (usize, usize) {
        self.conv2.out_hw()
    }

    fn forward<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
        mode: Mode,
    ) -> Matrix<D, T> {
        let (x, tape) = x.split_tape();
        let h = self.conv1.forward(x.clone().put_tape(tape), store);
        let h = self.bn1.forward(h, store, mode);
        let h = self.conv2.forward(h, store);
        let h = self.bn2.forward(h, store, mode);
        let shortcut = match &self.downsample {
            Some((conv, bn)) => bn.forward(conv.forward(x.retaped::<T>(), store), store, mode),
            None => x.retaped::<T>(),
        };
        (h + shortcut).relu()
    }

    fn convs(&self) -> impl Iterator<Item = &Conv2d> {
        [&self.conv1, &self.conv2]
            .into_iter()
            .chain(self.downsample.as_ref().map(|(c, _)| c))
    }
}

/// Stages of a ResNet-18 for cross-modal blocks: the stem with layer1, then layer2–layer4.
pub const STAGES: usize = 4;

/// A ResNet-18 encoder.
#[derive(Debug, Clone)]
pub struct ResNet18 {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    pool: MaxPool2d,
    blocks: Vec<BasicBlock>,
    frames: usize,
    in_width: usize,
    /// Channels of the last map (8 × width): the feature width.
    pub out: usize,
    positions: usize,
}

impl ResNet18 {
    /// Build under `prefix` for frames of `in_channels × h × w` (`frames` of them per sample),
    /// base width `width`; convolutions drawn from `rng` in torchvision's module order.
    #[allow(clippy::too_many_arguments)]
    pub fn new<D: Backend>(
        store: &mut ParamStore<D>,
        prefix: &str,
        in_channels: usize,
        (h, w): (usize, usize),
        frames: usize,
        width: usize,
        group: Group,
        rng: &mut impl Rng,
    ) -> ResNet18 {
        // The stem needs no gradient for its input: the data.
        let conv1 = Conv2d::new(
            store,
            &format!("{prefix}.conv1"),
            (in_channels, width),
            (7, 2, 3),
            (h, w),
            false,
            group,
            rng,
        );
        let (sh, sw) = conv1.out_hw();
        let bn1 = BatchNorm2d::new(store, &format!("{prefix}.bn1"), width, sh * sw, true, group);
        let pool = MaxPool2d::new(width, (3, 2, 1), (sh, sw));
        let mut hw = pool.out_hw();
        let mut c_in = width;
        let mut blocks = Vec::new();
        for (stage, mult) in [1, 2, 4, 8].into_iter().enumerate() {
            let c_out = width * mult;
            for i in 0..2 {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let block = BasicBlock::new(
                    store,
                    &format!("{prefix}.layer{}.{i}", stage + 1),
                    (c_in, c_out),
                    stride,
                    hw,
                    group,
                    rng,
                );
                hw = block.out_hw();
                c_in = c_out;
                blocks.push(block);
            }
        }
        ResNet18 {
            conv1,
            bn1,
            pool,
            blocks,
            frames,
            in_width: in_channels * h * w,
            out: c_in,
            positions: hw.0 * hw.1,
        }
    }

    /// Features `(samples, out)` of `(samples, frames·in_channels·h·w)` rows: every stage,
    /// then the pooling.
    pub fn forward<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
        mode: Mode,
    ) -> Matrix<D, T> {
        let h = (0..STAGES).fold(x, |h, s| self.forward_stage(s, h, store, mode));
        self.pool_features(h)
    }

    /// Stage `s` of [`STAGES`] (cross-modal blocks run between them): 0 is the stem (7×7/2
    /// convolution, batch norm, ReLU, max pooling) and layer1, taking `(samples,
    /// frames·in_channels·h·w)` rows; 1–3 are layer2–layer4. Every stage returns one
    /// `(samples·frames, c·h·w)` row per frame ([`ResNet18::stage_shape`]).
    pub fn forward_stage<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        s: usize,
        x: Matrix<D, T>,
        store: &ParamStore<D>,
        mode: Mode,
    ) -> Matrix<D, T> {
        let h = match s {
            0 => {
                let images = x.shape().0 * self.frames;
                let x = x.reshape_like(&(images, self.in_width));
                let h = self.conv1.forward(x, store);
                let h = self.bn1.forward(h, store, mode);
                self.pool.forward(h, &store.dev)
            }
            _ => x,
        };
        (self.blocks[2 * s..2 * s + 2])
            .iter()
            .fold(h, |h, b| b.forward(h, store, mode))
    }

    /// The feature of each sample from the last stage's maps: the mean over its frames and
    /// positions.
    pub fn pool_features<D: Backend, T: dfdx::tensor::Tape<f32, D>>(
        &self,
        h: Matrix<D, T>,
    ) -> Matrix<D, T> {
        let samples = h.shape().0 / self.frames;
        h.reshape_like(&(samples, self.frames, self.out, self.positions))
            .mean::<(usize, usize), Axes2<1, 3>>()
    }

    /// The layout of stage `s`'s rows: one per frame, each channel's map (c·h·w) together.
    pub fn stage_shape(&self, s: usize) -> StageShape {
        let (h, w) = self.blocks[2 * s + 1].out_hw();
        StageShape {
            frames: self.frames,
            channels: (self.out / 8) << s,
            positions: h * w,
            channels_first: true,
        }
    }

    /// Every convolution's matrix product per frame: (positions, patch, filters).
    pub fn matmul_shapes(&self) -> Vec<(usize, usize, usize)> {
        let frames = self.frames;
        std::iter::once(&self.conv1)
            .chain(self.blocks.iter().flat_map(|b| b.convs()))
            .map(|c| {
                let (n, k, m) = c.matmul_shape();
                (n * frames, k, m)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::ParamStore;
    use crate::rng::{stream, Stream};
    use dfdx::tensor::Cpu;

    /// torchvision's init: every convolution N(0, 2/(k²·c_out)) (Kaiming normal, fan-out, ReLU
    /// gain), batch norm weight 1 and bias 0, running mean 0 and variance 1. Checked on the
    /// sample mean and standard deviation of the stem (64 × 49 values: within 6 %) and of a
    /// 3×3 layer-4 convolution (512 × 4608 values: within 0.5 %).
    #[test]
    fn initialisation_is_torchvisions() {
        let mut store = ParamStore::new(Cpu::default());
        let _ = ResNet18::new(
            &mut store,
            "e",
            1,
            (64, 48),
            1,
            64,
            Group::Encoder(0),
            &mut stream(1, Stream::Init, 0),
        );
        let get = |name: &str| {
            store
                .params
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("{name}"))
                .tensor
                .to_host()
        };
        for (name, k, c_out, tol) in [
            ("e.conv1.weight", 7, 64, 0.06),
            ("e.layer4.1.conv2.weight", 3, 512, 0.005),
        ] {
            let v = get(name);
            let n = v.len() as f64;
            let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
            let std = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
            let want = (2.0 / (k * k * c_out) as f64).sqrt();
            assert!(
                (std / want - 1.0).abs() < tol,
                "{name}: std {std} vs {want}"
            );
            assert!(mean.abs() < 4.0 * want / n.sqrt(), "{name}: mean {mean}");
        }
        assert!(get("e.bn1.weight").iter().all(|&v| v == 1.0));
        assert!(get("e.layer2.0.downsample.1.bias")
            .iter()
            .all(|&v| v == 0.0));
        assert!(get("e.layer3.1.bn2.running_mean").iter().all(|&v| v == 0.0));
        assert!(get("e.layer3.1.bn2.running_var").iter().all(|&v| v == 1.0));
    }
}
