"""The speed reference training step (recipes/bench/reference.toml) in PyTorch (eager) or JAX
(jit), timed like `balmix bench`: warm-up steps, then 5 windows, median steps/s.

The step matches balmix's: two 512-wide inputs, encoders Linear 512→256, ReLU, Linear 256→256,
ReLU; concat; head Linear 512→6; two unimodal heads 256→6 on *detached* features; per-sample
input mixup (λ ~ Beta(0.4, 0.4)) of inputs and labels; soft-label cross-entropy on all three;
Adam (lr 1e-3); batch 64.

usage: python reference_step.py torch|jax [--steps 500] [--warmup 50] [--threads 1]
"""
import argparse
import os
import statistics
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("framework", choices=["torch", "jax"])
p.add_argument("--steps", type=int, default=500)
p.add_argument("--warmup", type=int, default=50)
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()

# Thread limits must be set before the frameworks start.
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["MKL_NUM_THREADS"] = str(args.threads)
os.environ["XLA_FLAGS"] = (
    f"--xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'} "
    f"intra_op_parallelism_threads={args.threads}"
)

import numpy as np

B, D, H, K = 64, 512, 256, 6
rng = np.random.default_rng(0)
N = 2048
XA = rng.standard_normal((N, D)).astype(np.float32)
XB = rng.standard_normal((N, D)).astype(np.float32)
Y = rng.integers(0, K, N)


def batches():
    i = 0
    while True:
        idx = np.arange(i, i + B) % N
        i += B
        perm = rng.permutation(B)
        lam = rng.beta(0.4, 0.4, B).astype(np.float32)
        yield XA[idx], XB[idx], np.eye(K, dtype=np.float32)[Y[idx]], perm, lam


def time_steps(step):
    it = batches()
    for _ in range(args.warmup):
        step(*next(it))
    per = max(args.steps // 5, 1)
    windows = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(per):
            step(*next(it))
        windows.append(per / (time.perf_counter() - t))
    return windows


if args.framework == "torch":
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lin = torch.nn.Linear
    enc = lambda: torch.nn.Sequential(lin(D, H), torch.nn.ReLU(), lin(H, H), torch.nn.ReLU())
    ea, eb, head, pa, pb = enc(), enc(), lin(2 * H, K), lin(H, K), lin(H, K)
    params = [p for m in (ea, eb, head, pa, pb) for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)

    def ce(logits, target):
        return -(torch.log_softmax(logits, 1) * target).sum(1).mean()

    def step(xa, xb, y, perm, lam):
        xa, xb, y = torch.from_numpy(xa), torch.from_numpy(xb), torch.from_numpy(y)
        perm, lam = torch.from_numpy(perm), torch.from_numpy(lam)[:, None]
        xa = xa + (1 - lam) * (xa[perm] - xa)
        xb = xb + (1 - lam) * (xb[perm] - xb)
        y = y + (1 - lam) * (y[perm] - y)
        za, zb = ea(xa), eb(xb)
        loss = ce(head(torch.cat([za, zb], 1)), y) + ce(pa(za.detach()), y) + ce(pb(zb.detach()), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    windows = time_steps(step)
    version = torch.__version__
else:
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)

    def init_linear(key, i, o):
        k1, k2 = jax.random.split(key)
        bound = 1 / np.sqrt(i)
        return (jax.random.uniform(k1, (i, o), minval=-bound, maxval=bound), jax.random.uniform(k2, (o,), minval=-bound, maxval=bound))

    keys = jax.random.split(key, 8)
    params = {
        "ea": [init_linear(keys[0], D, H), init_linear(keys[1], H, H)],
        "eb": [init_linear(keys[2], D, H), init_linear(keys[3], H, H)],
        "head": init_linear(keys[4], 2 * H, K),
        "pa": init_linear(keys[5], H, K),
        "pb": init_linear(keys[6], H, K),
    }

    def enc(layers, x):
        for w, b in layers:
            x = jax.nn.relu(x @ w + b)
        return x

    def ce(logits, target):
        return -(jax.nn.log_softmax(logits, 1) * target).sum(1).mean()

    def loss_fn(p, xa, xb, y):
        za, zb = enc(p["ea"], xa), enc(p["eb"], xb)
        h = jnp.concatenate([za, zb], 1)
        w, b = p["head"]
        sa, sb = jax.lax.stop_gradient(za), jax.lax.stop_gradient(zb)
        return ce(h @ w + b, y) + ce(sa @ p["pa"][0] + p["pa"][1], y) + ce(sb @ p["pb"][0] + p["pb"][1], y)

    def adam_init(p):
        z = jax.tree_util.tree_map(jnp.zeros_like, p)
        return (z, z, 0)

    @jax.jit
    def train_step(p, state, xa, xb, y, perm, lam):
        lam = lam[:, None]
        xa = xa + (1 - lam) * (xa[perm] - xa)
        xb = xb + (1 - lam) * (xb[perm] - xb)
        y = y + (1 - lam) * (y[perm] - y)
        g = jax.grad(loss_fn)(p, xa, xb, y)
        m, v, t = state
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - 1e-3 * (m / (1 - 0.9**t)) / (jnp.sqrt(v / (1 - 0.999**t)) + 1e-8), p, m, v
        )
        return p, (m, v, t)

    state = {"p": params, "s": adam_init(params)}

    def step(xa, xb, y, perm, lam):
        state["p"], state["s"] = train_step(state["p"], state["s"], xa, xb, y, perm, lam)
        jax.block_until_ready(state["p"])

    windows = time_steps(step)
    version = jax.__version__

windows_sorted = sorted(windows)
print(f"{args.framework} {version} threads {args.threads}: {windows_sorted[len(windows_sorted) // 2]:.1f} steps/s "
      f"(windows {', '.join(f'{w:.1f}' for w in windows)})")
