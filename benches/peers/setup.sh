#!/usr/bin/env bash
# Install the peer frameworks (PyTorch with torchvision, JAX) into benches/peers/.venv, on demand
# only — never in CI: PyTorch with its CUDA dependencies is several GB. torch and torchvision are
# pinned (torchvision 0.23.0 requires torch 2.8.0 exactly): resnet_av_step.py's ResNet-18 is
# torchvision's.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check numpy torch==2.8.0 torchvision==0.23.0 "jax[cpu]"
.venv/bin/python - <<'PY'
import torch, torchvision, jax
print("torch", torch.__version__, "torchvision", torchvision.__version__, "jax", jax.__version__)
PY
