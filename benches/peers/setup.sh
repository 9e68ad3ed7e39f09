#!/usr/bin/env bash
# Install the peer frameworks (PyTorch, JAX) into benches/peers/.venv, on demand only — never
# in CI: PyTorch with its CUDA dependencies is several GB.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check numpy torch "jax[cpu]"
.venv/bin/python - <<'PY'
import torch, jax
print("torch", torch.__version__, "jax", jax.__version__)
PY
