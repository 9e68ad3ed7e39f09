"""Reference outputs and gradients of a ResNet-18 encoder with a linear head, computed by PyTorch
with torchvision's own building blocks, for the Rust tests of balmix's ResNet-18.

The trunk is torchvision's ResNet-18 without its average pool and fc: stem conv 7x7 / stride 2 /
pad 3 (no bias) with C_in input channels, BatchNorm2d (eps 1e-5, momentum 0.1), ReLU, max pool
3x3 / stride 2 / pad 1, then four stages of two torchvision.models.resnet.BasicBlock with planes
w, 2w, 4w, 8w; the first block of stages 2-4 has stride 2 and downsample = Sequential(conv1x1
stride 2, BatchNorm2d). w = 64 is torchvision.models.resnet18 itself (conv1 replaced by a C_in
input conv, fc removed); narrower w reuse torchvision's ResNet._make_layer with the stem width w.

Encoder forward, x of shape (B, T*C_in, H, W) with the T frames stacked frame-major on the
channels: x.view(B*T, C_in, H, W) (BatchNorm pools over all B*T frames) -> trunk ->
(B*T, 8w, h, w') -> view (B, T, 8w, h, w') -> mean over dims (1, 3, 4) -> features (B, 8w).
Head: nn.Linear(8w, classes). Loss: F.cross_entropy(logits, labels), the mean over the batch.

Per case: torch.manual_seed(seed); trunk (torchvision's init: Kaiming normal fan_out/relu for
convs, BatchNorm weight 1 and bias 0); head (torch's default Linear init, same generator); input
x = torch.randn(B, T*C_in, H, W); labels = torch.randint(classes, (B,)). Then one training
forward + backward, the running statistics it leaves, an eval forward with those statistics, and
the training forward + backward again on a float64 copy of the initial model and input.
The case full-w64 instead sets every parameter from a closed formula (see the README), and saves
gradient norms and samples rather than whole gradients.

Writes tests/reference/resnet/<case>.safetensors; the tensor names are listed in
tools/resnet-reference/README.md.

Run from the repository root:  /tmp/torchref/bin/python tools/resnet-reference/make_reference.py
"""
import copy
import json
import math
import pathlib
import platform
import struct
import sys

import numpy as np
import safetensors
import safetensors.torch
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, ResNet, conv1x1  # noqa: F401  (conv1x1: via _make_layer)

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "resnet"
LAYERS = [2, 2, 2, 2]

CASES = [
    dict(case="audio-w8", in_channels=1, width=8, frames=1, batch=3, height=40, width_px=37,
         classes=4, seed=0, formula=False),
    dict(case="visual-w8-t2", in_channels=3, width=8, frames=2, batch=2, height=33, width_px=32,
         classes=4, seed=1, formula=False),
    dict(case="full-w64", in_channels=1, width=64, frames=1, batch=2, height=64, width_px=48,
         classes=6, seed=2, formula=True),
]


class NarrowResNet18(ResNet):
    """torchvision's ResNet-18 trunk with stem width w instead of 64 (no avgpool, no fc).

    Only the attributes that torchvision's ResNet._make_layer reads are set, and the stages are
    made by that inherited method, so blocks, downsample and names are exactly torchvision's.
    base_width stays 64: for BasicBlock it is the (fixed) bottleneck width, not the stem width.
    """

    def __init__(self, in_channels, width):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, width, LAYERS[0])
        self.layer2 = self._make_layer(BasicBlock, 2 * width, LAYERS[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, LAYERS[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, LAYERS[3], stride=2)
        torchvision_init(self)


def torchvision_init(module):
    """torchvision's ResNet initialisation (zero_init_residual=False)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def build_trunk(in_channels, width, classes):
    if width == 64:
        trunk = torchvision.models.resnet18(num_classes=classes)
        # Replacing an existing submodule keeps its place in the module order (state_dict order).
        trunk.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(trunk.conv1.weight, mode="fan_out", nonlinearity="relu")
        del trunk.fc
        del trunk.avgpool
    else:
        trunk = NarrowResNet18(in_channels, width)
    return trunk


def trunk_forward(t, x):
    x = t.maxpool(t.relu(t.bn1(t.conv1(x))))
    return t.layer4(t.layer3(t.layer2(t.layer1(x))))


class Model(nn.Module):
    def __init__(self, in_channels, width, frames, classes):
        super().__init__()
        self.in_channels, self.frames = in_channels, frames
        self.encoder = build_trunk(in_channels, width, classes)
        self.head = nn.Linear(8 * width, classes)

    def features(self, x):
        b, tc, h, w = x.shape
        assert tc == self.frames * self.in_channels
        y = trunk_forward(self.encoder, x.view(b * self.frames, self.in_channels, h, w))
        y = y.view(b, self.frames, *y.shape[1:])
        return y.mean(dim=(1, 3, 4))

    def forward(self, x):
        return self.head(self.features(x))


def formula_values(kind, shape, j, fan_in=None):
    """The closed-form initial value of parameter number j (float64 -> float32), see README."""
    n = math.prod(shape)
    sin, cos = math.sin, math.cos
    if kind == "conv":
        c_out, _, k, _ = shape
        c = math.sqrt(2 / (k * k * c_out)) * math.sqrt(2)
        gen = (c * sin(0.37 * i + 1.1 * j + 0.013 * i * i) for i in range(n))
    elif kind == "bn.weight":
        gen = (1 + 0.1 * sin(0.37 * i + 1.1 * j + 0.013 * i * i) for i in range(n))
    elif kind == "bn.bias":
        gen = (0.1 * cos(0.37 * i + 1.1 * j + 0.013 * i * i) for i in range(n))
    elif kind == "head.weight":
        c = math.sqrt(1 / fan_in)
        gen = (c * sin(0.37 * i + 1.1 * j + 0.013 * i * i) for i in range(n))
    elif kind == "head.bias":
        gen = (0.01 * cos(0.37 * i + 1.1 * j + 0.013 * i * i) for i in range(n))
    else:
        raise ValueError(kind)
    arr = np.fromiter(gen, dtype=np.float64, count=n).astype(np.float32).reshape(shape)
    return torch.from_numpy(arr)


def set_formula(model):
    modules = dict(model.named_modules())
    names = [n for n, _ in model.named_parameters()]
    state_params = [n for n in model.state_dict() if n in set(names)]
    assert names == state_params, "parameter order differs from state_dict order"
    assert names[-2:] == ["head.weight", "head.bias"]
    with torch.no_grad():
        for j, (name, p) in enumerate(model.named_parameters()):
            mod_name, leaf = name.rsplit(".", 1)
            mod = modules[mod_name]
            if name == "head.weight":
                v = formula_values("head.weight", p.shape, j, fan_in=p.shape[1])
            elif name == "head.bias":
                v = formula_values("head.bias", p.shape, j)
            elif isinstance(mod, nn.Conv2d):
                assert p.dim() == 4 and p.shape[2] == p.shape[3]
                v = formula_values("conv", p.shape, j)
            elif isinstance(mod, nn.BatchNorm2d):
                v = formula_values("bn." + leaf, p.shape, j)
            else:
                raise ValueError(name)
            p.copy_(v)


SAFETENSORS_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(tensors, path, metadata):
    """Write a safetensors file byte for byte reproducibly.

    safetensors.torch.save_file writes the metadata map in a random order (a hash map on the Rust
    side), so two runs differ in their header bytes. This writer uses the same layout as the
    library (8-byte little-endian header length, JSON header padded with spaces to a multiple of
    8, tensors ordered by decreasing element size and then by name, so every tensor is aligned to
    its element size) with the metadata and tensors in sorted order. The file is read back with
    the safetensors library in verify().
    """
    assert sys.byteorder == "little"
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in order:
        t = tensors[name].detach().cpu().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("ascii")
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for data in blobs:
            f.write(data)


def bn_names(model):
    return [n for n, m in model.encoder.named_modules() if isinstance(m, nn.BatchNorm2d)]


def train_step(model, x, labels):
    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return logits.detach(), loss.detach()


def make_case(cfg):
    torch.manual_seed(cfg["seed"])
    model = Model(cfg["in_channels"], cfg["width"], cfg["frames"], cfg["classes"])
    x = torch.randn(cfg["batch"], cfg["frames"] * cfg["in_channels"], cfg["height"], cfg["width_px"])
    labels = torch.randint(cfg["classes"], (cfg["batch"],))
    if cfg["formula"]:
        set_formula(model)
    model64 = copy.deepcopy(model).double()
    bns = bn_names(model)

    t = {"input": x.clone(), "labels": labels.clone()}
    if not cfg["formula"]:
        for name, v in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            t["init." + name] = v.detach().clone()

    logits, loss = train_step(model, x, labels)
    t["train.logits"] = logits
    t["train.loss"] = loss.reshape(1)
    for name, p in model.named_parameters():
        g = p.grad.detach()
        if cfg["formula"]:
            t["gradnorm." + name] = g.double().norm().reshape(1)
            step = max(1, g.numel() // 64)
            t["gradsample." + name] = g.flatten()[::step].clone()
        else:
            t["grad." + name] = g.clone()
    for bn in bns:
        m = model.encoder.get_submodule(bn)
        t[f"after.encoder.{bn}.running_mean"] = m.running_mean.detach().clone()
        t[f"after.encoder.{bn}.running_var"] = m.running_var.detach().clone()

    model.eval()
    with torch.no_grad():
        t["eval.logits"] = model(x)

    logits64, loss64 = train_step(model64, x.double(), labels)
    t["f64.train.logits"] = logits64
    t["f64.train.loss"] = loss64.reshape(1)
    for name, p in model64.named_parameters():
        t["f64.gradnorm." + name] = p.grad.detach().norm().reshape(1)

    t = {k: v.contiguous() for k, v in t.items()}
    meta = {k: str(cfg[k]) for k in ("case", "in_channels", "width", "frames", "batch", "height",
                                     "width_px", "classes", "seed")}
    meta.update(
        init="formula" if cfg["formula"] else "torchvision",
        torch=torch.__version__,
        torchvision=torchvision.__version__,
        numpy=np.__version__,
        safetensors=safetensors.__version__,
        python=platform.python_version(),
    )
    path = OUT / f"{cfg['case']}.safetensors"
    save_safetensors(t, path, meta)
    return path, model


def expected_shapes(cfg, model):
    """Every name the README promises for this case, with its shape and dtype."""
    b, classes = cfg["batch"], cfg["classes"]
    f32, f64 = torch.float32, torch.float64
    e = {
        "input": ((b, cfg["frames"] * cfg["in_channels"], cfg["height"], cfg["width_px"]), f32),
        "labels": ((b,), torch.int64),
        "train.logits": ((b, classes), f32),
        "train.loss": ((1,), f32),
        "eval.logits": ((b, classes), f32),
        "f64.train.logits": ((b, classes), f64),
        "f64.train.loss": ((1,), f64),
    }
    for name, p in model.named_parameters():
        shape = tuple(p.shape)
        if cfg["formula"]:
            step = max(1, p.numel() // 64)
            e["gradnorm." + name] = ((1,), f64)
            e["gradsample." + name] = ((len(range(0, p.numel(), step)),), f32)
        else:
            e["init." + name] = (shape, f32)
            e["grad." + name] = (shape, f32)
        e["f64.gradnorm." + name] = ((1,), f64)
    for bn in bn_names(model):
        c = model.encoder.get_submodule(bn).num_features
        for s in ("running_mean", "running_var"):
            e[f"after.encoder.{bn}.{s}"] = ((c,), f32)
            if not cfg["formula"]:
                e[f"init.encoder.{bn}.{s}"] = ((c,), f32)
    return e


def verify(cfg, path, model):
    loaded = safetensors.torch.load_file(str(path))
    expected = expected_shapes(cfg, model)
    assert set(loaded) == set(expected), (set(loaded) ^ set(expected))
    for name, (shape, dtype) in expected.items():
        v = loaded[name]
        assert tuple(v.shape) == shape and v.dtype == dtype, (name, v.shape, v.dtype, shape, dtype)
        if v.is_floating_point():
            assert torch.isfinite(v).all(), name
    with safetensors.safe_open(str(path), "pt") as f:
        meta = f.metadata()
    for k in ("case", "in_channels", "width", "frames", "batch", "height", "width_px", "classes",
              "seed", "torch", "torchvision"):
        assert k in meta, k
    return loaded


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    # torchvision's resnet18 and the narrow copy at w = 64 have the same names and shapes.
    a = NarrowResNet18(1, 64).state_dict()
    b = build_trunk(1, 64, 10).state_dict()
    assert [(k, v.shape) for k, v in a.items()] == [(k, v.shape) for k, v in b.items()]
    for cfg in CASES:
        path, model = make_case(cfg)
        t = verify(cfg, path, model)
        l32, l64 = t["train.logits"].double(), t["f64.train.logits"]
        rel = ((l32 - l64).abs().max() / l64.abs().max()).item()
        print(f"{cfg['case']:>13}: {path.relative_to(ROOT)}  {path.stat().st_size:,} bytes, "
              f"{len(t)} tensors; loss f32 {t['train.loss'].item():.7f} f64 "
              f"{t['f64.train.loss'].item():.7f}; max|logits f32 - f64| / max|logit| {rel:.2e}")


if __name__ == "__main__":
    main()
