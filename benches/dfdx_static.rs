//! The speed reference step written with dfdx's own compile-time-width `nn` modules and
//! optimiser — the number balmix's runtime-width layers are compared with.
//! `cargo bench --bench dfdx_static -- --steps 500 --threads 1`

use dfdx::optim::{Adam, AdamConfig, Optimizer};
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution};
use std::time::Instant;

const B: usize = 64;
const D: usize = 512;
const H: usize = 256;
const K: usize = 6;

type Encoder = (Linear<D, H>, ReLU, Linear<H, H>, ReLU);
type Arch = (
    Encoder,
    Encoder,
    Linear<{ 2 * H }, K>,
    Linear<H, K>,
    Linear<H, K>,
);
type Model = <Arch as BuildOnDevice<Cpu, f32>>::Built;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let steps = arg("--steps", 500);
    let warmup = arg("--warmup", 50);
    let threads = arg("--threads", 1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| run(steps, warmup, threads));
}

struct State {
    dev: Cpu,
    model: Model,
    grads: Option<Gradients<f32, Cpu>>,
    opt: Adam<Model, f32, Cpu>,
    rng: rand_chacha::ChaCha8Rng,
    xa: Vec<f32>,
    xb: Vec<f32>,
    onehot: Vec<f32>,
    offset: usize,
}

const N: usize = 2048;

impl State {
    fn step(&mut self) {
        // Host-side input mixup, as balmix does it.
        let idx: Vec<usize> = (0..B).map(|i| (self.offset + i) % N).collect();
        self.offset += B;
        let mut perm: Vec<usize> = (0..B).collect();
        for i in (1..B).rev() {
            perm.swap(i, self.rng.gen_range(0..=i));
        }
        let beta = Beta::new(0.4f32, 0.4).unwrap();
        let lam: Vec<f32> = (0..B).map(|_| beta.sample(&mut self.rng)).collect();
        let mix = |x: &[f32], w: usize| -> Vec<f32> {
            let mut out = Vec::with_capacity(B * w);
            for i in 0..B {
                let (a, b) = (
                    &x[idx[i] * w..(idx[i] + 1) * w],
                    &x[idx[perm[i]] * w..(idx[perm[i]] + 1) * w],
                );
                out.extend(a.iter().zip(b).map(|(p, q)| p + (1.0 - lam[i]) * (q - p)));
            }
            out
        };
        let ta: Tensor<Rank2<B, D>, f32, Cpu> = self.dev.tensor(mix(&self.xa, D));
        let tb: Tensor<Rank2<B, D>, f32, Cpu> = self.dev.tensor(mix(&self.xb, D));
        let target: Tensor<Rank2<B, K>, f32, Cpu> = self.dev.tensor(mix(&self.onehot, K));
        let grads = self.grads.take().expect("gradients");
        let za = self.model.0.forward_mut(ta.traced(grads));
        let zb = self
            .model
            .1
            .forward_mut(tb.retaped::<OwnedTape<f32, Cpu>>());
        // Unimodal heads on detached features (new tensors, fresh tapes).
        let da = za.retaped::<NoneTape>() * 1.0;
        let db = zb.retaped::<NoneTape>() * 1.0;
        let (za, zb) = (
            za.realize::<(Const<B>, usize)>(),
            zb.realize::<(Const<B>, usize)>(),
        );
        let h = (za, zb)
            .concat_along(Axis::<1>)
            .realize::<Rank2<B, { 2 * H }>>();
        let loss = cross_entropy_with_logits_loss(self.model.2.forward_mut(h), target.clone())
            + cross_entropy_with_logits_loss(
                self.model
                    .3
                    .forward_mut(da.retaped::<OwnedTape<f32, Cpu>>()),
                target.clone(),
            )
            + cross_entropy_with_logits_loss(
                self.model
                    .4
                    .forward_mut(db.retaped::<OwnedTape<f32, Cpu>>()),
                target,
            );
        let mut grads = loss.backward();
        self.opt.update(&mut self.model, &grads).unwrap();
        self.model.zero_grads(&mut grads);
        self.grads = Some(grads);
    }
}

fn run(steps: usize, warmup: usize, threads: usize) {
    let dev: Cpu = Default::default();
    let model = dev.build_module::<Arch, f32>();
    let grads = model.alloc_grads();
    let opt = Adam::new(
        &model,
        AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let xa: Vec<f32> = (0..N * D).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let xb: Vec<f32> = (0..N * D).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut onehot = vec![0f32; N * K];
    for i in 0..N {
        onehot[i * K + rng.gen_range(0..K)] = 1.0;
    }
    let mut state = State {
        dev,
        model,
        grads: Some(grads),
        opt,
        rng,
        xa,
        xb,
        onehot,
        offset: 0,
    };
    for _ in 0..warmup {
        state.step();
    }
    let per = (steps / 5).max(1);
    let mut windows = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..per {
            state.step();
        }
        windows.push(per as f64 / t.elapsed().as_secs_f64());
    }
    let mut sorted = windows.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let shown: Vec<String> = windows.iter().map(|w| format!("{w:.1}")).collect();
    println!(
        "dfdx-static threads {threads} windows {} median {:.1} steps/s",
        shown.join(","),
        sorted[2]
    );
}
