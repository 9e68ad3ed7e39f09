"""The uci-mfeat fac+mor concat run of recipes/uci-mfeat/concat.toml as an equivalent PyTorch
script, timed end to end including data loading: standardise with training statistics,
stratified 70/10/20 split, MLP encoders d→128→64 (ReLU after each layer), concat, linear head,
SGD (lr 0.01, momentum 0.9, weight decay 1e-4), batch 64, 100 epochs, evaluation of val and
test after every epoch.

usage: python uci_run.py CACHE_DIR [--threads 1]   (CACHE_DIR: balmix's cache after
`balmix data fetch uci-mfeat`; members are read by sha256 as balmix stores them)
"""
import argparse
import os
import time

t0 = time.perf_counter()
p = argparse.ArgumentParser()
p.add_argument("cache")
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()
os.environ["OMP_NUM_THREADS"] = str(args.threads)
import numpy as np
import torch

torch.set_num_threads(args.threads)
FAC = "fc9f88143a423f7cf9df6ce9a2afcdde23c1d4e3202e436e17447c09945da1ca"
MOR = "44c5c8cc7a06b3540947729c55f95dabd8bfc4eb422ccfecad625e769c2a99e8"
load = lambda sha: np.loadtxt(os.path.join(args.cache, "members", sha), delimiter=",", skiprows=1, dtype=np.float32)
fac, mor = load(FAC), load(MOR)
y = fac[:, -1].astype(np.int64)
xs = [fac[:, :-1], mor[:, :-1]]
rng = np.random.default_rng(0)
train, val, test = [], [], []
for c in range(10):
    idx = rng.permutation(np.flatnonzero(y == c))
    test += list(idx[:40]); val += list(idx[40:60]); train += list(idx[60:])
train, val, test = map(np.array, (train, val, test))
for i, x in enumerate(xs):
    mu, sd = x[train].mean(0), x[train].std(0)
    sd[sd < 1e-6] = 1
    xs[i] = torch.from_numpy((x - mu) / sd)
Y = torch.from_numpy(y)
torch.manual_seed(0)
mlp = lambda d: torch.nn.Sequential(torch.nn.Linear(d, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64), torch.nn.ReLU())
encs = [mlp(x.shape[1]) for x in xs]
head = torch.nn.Linear(128, 10)
params = [q for m in encs + [head] for q in m.parameters()]
opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)


def forward(idx):
    return head(torch.cat([e(x[idx]) for e, x in zip(encs, xs)], 1))


for epoch in range(100):
    order = torch.from_numpy(rng.permutation(train))
    for s in range(0, len(order), 64):
        idx = order[s:s + 64]
        loss = torch.nn.functional.cross_entropy(forward(idx), Y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc_val = (forward(torch.from_numpy(val)).argmax(1) == Y[val]).float().mean().item()
        acc = (forward(torch.from_numpy(test)).argmax(1) == Y[test]).float().mean().item()
print(f"pytorch uci-mfeat fac+mor concat: test accuracy {acc:.4f}, {time.perf_counter() - t0:.2f} s end to end")
