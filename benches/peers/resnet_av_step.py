"""One training step of recipes/bench/resnet-av.toml in PyTorch (eager, CPU), timed like
`balmix bench`: warm-up steps, then --windows windows of --steps / --windows steps each, the
median window reported.

The step matches balmix's: two torchvision ResNet-18 trunks of base width 64 (stem 7x7/2 conv
without bias, batch norm, ReLU, 3x3/2 max pooling, four stages of two BasicBlocks; no fc) with
global average pooling to 512 — audio with a 1-channel stem on 1x257x188, visual on one
3x224x224 frame; concat fusion [audio; visual] -> Linear(1024, 6); cross-entropy; SGD lr 1e-3,
momentum 0.9, weight decay 1e-4 (on every parameter); batch 8. Inputs and labels are Gaussian /
uniform, drawn once; every timed step is model.train(), zero_grad, forward, backward, step, in
PyTorch's default NCHW layout.

usage: python benches/peers/resnet_av_step.py [--threads 1] [--batch 8] [--steps 50] [--warmup 5]
                                              [--windows 5]

Prints `name value` lines in `balmix bench`'s layout (steps/s, samples/s, peak memory), so
scripts/resnet-bench.sh reads both with the same patterns.
"""

import argparse
import math
import os
import resource
import time

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--threads", type=int, default=1, help="intra- and inter-op threads")
p.add_argument("--batch", type=int, default=8)
p.add_argument("--steps", type=int, default=50, help="timed steps, split into --windows windows")
p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
p.add_argument("--windows", type=int, default=5)
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()
if args.threads < 1 or args.batch < 1 or args.steps < 1 or args.windows < 1 or args.warmup < 0:
    p.error("--threads, --batch, --steps and --windows must be at least 1, --warmup at least 0")

# Thread limits before torch starts its pools.
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["MKL_NUM_THREADS"] = str(args.threads)

import torch  # noqa: E402
import torchvision  # noqa: E402

torch.set_num_threads(args.threads)
torch.set_num_interop_threads(args.threads)

AUDIO, VISUAL, CLASSES = (1, 257, 188), (3, 224, 224), 6


def trunk(in_channels):
    """torchvision's ResNet-18 up to and including global average pooling: 512 features."""
    net = torchvision.models.resnet18(weights=None)
    if in_channels != 3:
        net.conv1 = torch.nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = torch.nn.Identity()
    return net


class ResnetAv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.audio = trunk(AUDIO[0])
        self.visual = trunk(VISUAL[0])
        self.head = torch.nn.Linear(2 * 512, CLASSES)

    def forward(self, audio, visual):
        return self.head(torch.cat([self.audio(audio), self.visual(visual)], dim=1))


torch.manual_seed(args.seed)
model = ResnetAv()
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
audio = torch.randn(args.batch, *AUDIO)
visual = torch.randn(args.batch, *VISUAL)
labels = torch.randint(0, CLASSES, (args.batch,))


def step():
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(audio, visual), labels)
    loss.backward()
    opt.step()
    return loss


def significant(v):
    """Three significant digits, as balmix bench prints speeds: 32586, 509, 2.41, 0.301."""
    digits = max(2 - math.floor(math.log10(v)), 0) if v > 0 and math.isfinite(v) else 1
    return f"{v:.{digits}f}"


loss = None
for _ in range(args.warmup):
    loss = step()
per = max(args.steps // args.windows, 1)
windows = []
for _ in range(args.windows):
    start = time.perf_counter()
    for _ in range(per):
        loss = step()
    windows.append(per / (time.perf_counter() - start))
steps_per_s = sorted(windows)[len(windows) // 2]  # balmix bench's median (the upper one when even)
final_loss = float(loss.detach())
if not math.isfinite(final_loss):
    raise SystemExit(f"the loss is not finite: {final_loss}")
# Linux reports ru_maxrss in KiB: the same figure as balmix's VmHWM.
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

print(f"framework         pytorch {torch.__version__} eager, torchvision {torchvision.__version__}")
print(f"threads           {torch.get_num_threads()} (interop {torch.get_num_interop_threads()})")
print(f"batch             {args.batch}")
print(f"steps/s           {significant(steps_per_s)} (median of {args.windows} windows: "
      f"{', '.join(significant(w) for w in windows)})")
print(f"samples/s         {significant(steps_per_s * args.batch)}")
print(f"loss              {final_loss:.4f} (last step)")
print(f"peak memory       {peak_mib:.1f} MiB")
