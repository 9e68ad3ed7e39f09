//! ResNet-18 against torchvision. The reference values come from
//! tools/resnet-reference/make_reference.py (torch 2.8.0, torchvision 0.23.0; its README lists
//! every tensor): a torchvision ResNet-18 trunk (with a base width) + a linear head, one
//! training-mode forward and backward of the mean cross-entropy, the running statistics after
//! it, and an evaluation-mode forward with them. balmix loads the same weights by name and must
//! reproduce logits (1e-4 of the largest logit), loss, every parameter's gradient (1e-3 of the
//! gradient's largest entry), the running statistics and the evaluation logits.
//!
//! Cases: `audio-w8` (1 channel, width 8, 3 × 40 × 37, odd sizes), `visual-w8-t2` (3 channels,
//! width 8, two frames per sample, so batch norm pools over batch × frames), and `full-w64`
//! (torchvision's own resnet18 at width 64; its 11 M weights come from a closed formula both
//! sides compute, and its gradients are compared by norm and by a sample of entries).

use balmix::model::layers::Linear;
use balmix::model::params::{Group, Matrix, ParamStore, ParamTensor};
use balmix::model::resnet::{Mode, ResNet18};
use balmix::rng::{stream, Stream};
use dfdx::prelude::*;
use std::collections::BTreeMap;

/// Tensors of a reference file as f64 values, and its metadata.
struct Reference {
    tensors: BTreeMap<String, Vec<f64>>,
    meta: BTreeMap<String, String>,
}

impl Reference {
    fn load(case: &str) -> Reference {
        let path = crate::common::root().join(format!("tests/reference/resnet/{case}.safetensors"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = metadata
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let d = view.data();
            let values: Vec<f64> = match view.dtype() {
                safetensors::Dtype::F32 => d
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                safetensors::Dtype::F64 => d
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
                safetensors::Dtype::I64 => d
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            tensors.insert(name, values);
        }
        Reference { tensors, meta }
    }

    fn get(&self, name: &str) -> &[f64] {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("reference has no `{name}`"))
    }

    fn usize(&self, key: &str) -> usize {
        self.meta[key].parse().unwrap()
    }
}

/// A ResNet-18 + head built to a reference file's shape.
struct Net {
    store: ParamStore<Cpu>,
    resnet: ResNet18,
    head: Linear,
}

impl Net {
    fn new(r: &Reference) -> Net {
        let mut store = ParamStore::new(Cpu::default());
        let mut rng = stream(0, Stream::Init, 0);
        let c = r.usize("in_channels");
        let resnet = ResNet18::new(
            &mut store,
            "encoder",
            c,
            (r.usize("height"), r.usize("width_px")),
            r.usize("frames"),
            r.usize("width"),
            Group::Encoder(0),
            &mut rng,
        );
        let (w, b) = store.add_linear(
            "head",
            resnet.out,
            r.usize("classes"),
            Group::Fusion,
            &mut rng,
        );
        let head = Linear {
            weight: w,
            bias: b,
            inp: resnet.out,
            out: r.usize("classes"),
        };
        Net {
            store,
            resnet,
            head,
        }
    }

    /// Mean cross-entropy of the training-mode forward, its logits, and the gradients by name.
    fn train_step(&self, r: &Reference) -> (f64, Vec<f64>, BTreeMap<String, Vec<f64>>) {
        let dev = self.store.dev.clone();
        let input: Vec<f32> = r.get("input").iter().map(|&v| v as f32).collect();
        let labels: Vec<usize> = r.get("labels").iter().map(|&v| v as usize).collect();
        let (b, classes) = (labels.len(), r.usize("classes"));
        let x: Matrix<Cpu> = dev.tensor_from_vec(input.clone(), (b, input.len() / b));
        let feats = self
            .resnet
            .forward(x.leaky_traced(), &self.store, Mode::Train);
        let logits = self.head.forward(feats, &self.store);
        let logit_values: Vec<f64> = logits.as_vec().iter().map(|&v| v as f64).collect();
        let mut onehot = vec![0f32; b * classes];
        for (i, &y) in labels.iter().enumerate() {
            onehot[i * classes + y] = 1.0;
        }
        let target: Matrix<Cpu> = dev.tensor_from_vec(onehot, (b, classes));
        let loss = cross_entropy_with_logits_loss(logits, target);
        let loss_value = loss.as_vec()[0] as f64;
        let mut grads = loss.backward();
        let mut by_name = BTreeMap::new();
        for p in self.store.trainable() {
            let g = match &p.tensor {
                ParamTensor::Matrix(t) => grads.get_or_alloc_mut(t).unwrap().to_vec(),
                ParamTensor::Vector(t) => grads.get_or_alloc_mut(t).unwrap().to_vec(),
            };
            by_name.insert(p.name.clone(), g.iter().map(|&v| v as f64).collect());
        }
        (loss_value, logit_values, by_name)
    }

    fn eval_logits(&self, r: &Reference) -> Vec<f64> {
        let input: Vec<f32> = r.get("input").iter().map(|&v| v as f32).collect();
        let b = r.get("labels").len();
        let x: Matrix<Cpu> = self
            .store
            .dev
            .tensor_from_vec(input.clone(), (b, input.len() / b));
        let feats = self.resnet.forward(x, &self.store, Mode::Eval);
        self.head
            .forward(feats, &self.store)
            .as_vec()
            .iter()
            .map(|&v| v as f64)
            .collect()
    }
}

/// Largest |a − b| over the largest |b|.
fn relative(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

/// Check the training-mode forward, its gradients (`full`: by name; else by norm and sample),
/// the running statistics after it and the evaluation-mode forward. Returns the worst relative
/// errors (logits, gradients, statistics, eval logits) for the report.
fn check(case: &str, net: &mut Net, r: &Reference, full_grads: bool) -> [f64; 4] {
    let (loss, logits, grads) = net.train_step(r);
    let e_logits = relative(&logits, r.get("train.logits"));
    assert!(
        e_logits <= 1e-4,
        "{case}: logits off by {e_logits:e} of the largest"
    );
    let ref_loss = r.get("train.loss")[0];
    assert!(
        (loss - ref_loss).abs() <= 1e-4 * ref_loss.abs(),
        "{case}: loss {loss} vs {ref_loss}"
    );
    let mut e_grad = 0f64;
    for (name, g) in &grads {
        let e = if full_grads {
            relative(g, r.get(&format!("grad.{name}")))
        } else {
            let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            let want = r.get(&format!("gradnorm.{name}"))[0];
            let sample = r.get(&format!("gradsample.{name}"));
            let step = (g.len() / 64).max(1);
            let ours: Vec<f64> = g.iter().step_by(step).copied().collect();
            ((norm - want).abs() / want.abs().max(1e-30)).max(relative(&ours, sample))
        };
        assert!(e <= 1e-3, "{case}: gradient of {name} off by {e:e}");
        e_grad = e_grad.max(e);
    }
    assert_eq!(
        net.store.apply_running_updates(),
        2 * 20,
        "{case}: 20 batch norms"
    );
    let mut e_stats = 0f64;
    for p in net.store.params.iter().filter(|p| p.buffer) {
        let e = relative(
            &p.tensor
                .to_host()
                .iter()
                .map(|&v| v as f64)
                .collect::<Vec<_>>(),
            r.get(&format!("after.{}", p.name)),
        );
        assert!(e <= 1e-4, "{case}: {} off by {e:e}", p.name);
        e_stats = e_stats.max(e);
    }
    let e_eval = relative(&net.eval_logits(r), r.get("eval.logits"));
    assert!(
        e_eval <= 1e-4,
        "{case}: evaluation logits off by {e_eval:e}"
    );
    eprintln!(
        "{case}: max relative error: logits {e_logits:.1e}, gradients {e_grad:.1e}, running statistics {e_stats:.1e}, evaluation logits {e_eval:.1e}"
    );
    [e_logits, e_grad, e_stats, e_eval]
}

/// Load `init.<name>` into every parameter and buffer.
fn load_init(net: &mut Net, r: &Reference) {
    for id in 0..net.store.params.len() {
        let name = net.store.params[id].name.clone();
        let want = net.store.params[id].tensor.to_host().len();
        let v: Vec<f32> = r
            .get(&format!("init.{name}"))
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_eq!(v.len(), want, "{name}");
        net.store.set_values(id, v);
    }
}

#[test]
fn narrow_resnet18_matches_torchvision_in_training_and_evaluation() {
    for case in ["audio-w8", "visual-w8-t2"] {
        let r = Reference::load(case);
        let mut net = Net::new(&r);
        // Every reference parameter and buffer has a balmix counterpart of the same name.
        let ours: Vec<String> = net
            .store
            .params
            .iter()
            .map(|p| format!("init.{}", p.name))
            .collect();
        let theirs: Vec<&String> = r
            .tensors
            .keys()
            .filter(|k| k.starts_with("init."))
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{case}");
        load_init(&mut net, &r);
        check(case, &mut net, &r, true);
    }
}

/// Parameter j's value at flat index i, as the reference program's formula gives it (its README).
fn formula(name: &str, dims: &[usize], j: usize, i: usize) -> f32 {
    let (i, jf) = (i as f64, j as f64);
    let a = 0.37 * i + 1.1 * jf + 0.013 * i * i;
    let v = if name.starts_with("head.") {
        if name.ends_with("weight") {
            (1.0 / dims[1] as f64).sqrt() * a.sin()
        } else {
            0.01 * a.cos()
        }
    } else if dims.len() == 2 {
        let k = if name.ends_with("conv1.weight") && !name.contains("layer") {
            7
        } else if name.contains("downsample.0") {
            1
        } else {
            3
        };
        (2.0 / (k * k * dims[0]) as f64).sqrt() * 2f64.sqrt() * a.sin()
    } else if name.ends_with("weight") {
        1.0 + 0.1 * a.sin()
    } else {
        0.1 * a.cos()
    };
    v as f32
}

#[test]
fn full_width_resnet18_matches_torchvision() {
    let r = Reference::load("full-w64");
    let mut net = Net::new(&r);
    let mut j = 0;
    for id in 0..net.store.params.len() {
        let p = &net.store.params[id];
        if p.buffer {
            let init = if p.name.ends_with("running_var") {
                1.0
            } else {
                0.0
            };
            let n = p.tensor.to_host().len();
            net.store.set_values(id, vec![init; n]);
            continue;
        }
        let (name, dims) = (p.name.clone(), p.tensor.dims());
        let n: usize = dims.iter().product();
        let v = (0..n).map(|i| formula(&name, &dims, j, i)).collect();
        net.store.set_values(id, v);
        j += 1;
    }
    assert_eq!(j, 62, "60 trunk parameters and the head's two");
    check("full-w64", &mut net, &r, false);
}
