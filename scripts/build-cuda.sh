#!/usr/bin/env bash
# Build balmix with CUDA (`--features cuda`) without a local CUDA installation: assembles the
# CUDA 13.0 toolkit parts from their pip wheels (nvcc, runtime headers with cuda.h, NVRTC,
# cuBLAS, crt, cccl, nvvm), links against a stub libcuda (the GPU driver supplies the real one at
# run time), and answers dfdx's build script's `nvidia-smi` query with a stand-in that prints
# the compute capability. Users with a CUDA toolkit and a GPU can run
# `cargo build --release --features cuda` instead.
#
# usage: scripts/build-cuda.sh [cargo build arguments]   (default: --release --features cuda)
# env:   BALMIX_CUDA_PREFIX  where the toolkit is assembled (default /tmp/balmix-cuda13). dfdx
#                            bakes this include path into the binary for kernels it compiles at
#                            run time (NVRTC), so the same path must exist on the GPU machine:
#                            scripts/gpu-check.sh recreates it from files shipped with the binary.
#        CUDA_COMPUTE_CAP    compute capability to compile for (default 90: H100/H200).
set -euo pipefail
cd "$(dirname "$0")/.."
P=${BALMIX_CUDA_PREFIX:-/tmp/balmix-cuda13}
CAP=${CUDA_COMPUTE_CAP:-90}
[ $# -gt 0 ] || set -- --release --features cuda
mkdir -p "$P/wheels" "$P/fakebin"
if [ ! -x "$P/cuda/bin/nvcc" ]; then
  echo "assembling the CUDA 13.0 toolkit from pip wheels in $P" >&2
  python3 -m pip download -q -d "$P/wheels" --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 \
    'nvidia-cuda-nvcc==13.0.*' 'nvidia-cuda-runtime==13.0.*' 'nvidia-cuda-nvrtc==13.0.*' 'nvidia-cublas==13.0.*' \
    'nvidia-cuda-crt==13.0.*' 'nvidia-cuda-cccl==13.0.*' 'nvidia-nvvm==13.0.*'
  rm -rf "$P/unz" "$P/cuda"
  mkdir -p "$P/unz" "$P/cuda"
  for w in "$P"/wheels/*.whl; do
    n=$(basename "$w" | cut -d- -f1)
    mkdir -p "$P/unz/$n"
    python3 -m zipfile -e "$w" "$P/unz/$n"
  done
  for d in "$P"/unz/*/nvidia/cu13; do cp -a "$d/." "$P/cuda/"; done
  rm -rf "$P/cuda/.metadata"
  chmod +x "$P"/cuda/bin/* "$P"/cuda/nvvm/bin/* 2>/dev/null || true
  (cd "$P/cuda/lib" && for l in cublas cublasLt nvrtc cudart; do ln -sf "lib$l.so.13" "lib$l.so"; done)
fi
# Link-time stand-in for the driver library: one empty function per driver symbol cudarc
# declares. It must exist before cudarc's build script first runs.
if [ ! -e "$P/cuda/lib64/stubs/libcuda.so" ]; then
  mkdir -p "$P/cuda/lib64/stubs"
  cargo fetch -q
  sys=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.9.*/src/driver/sys.rs | head -1)
  grep -oE "pub fn cu[A-Za-z0-9_]+" "$sys" | awk '{print $3}' | sort -u | awk '{print "void " $1 "(void) {}"}' > "$P/libcuda_stub.c"
  gcc -shared -fPIC -o "$P/cuda/lib64/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 "$P/libcuda_stub.c"
  cargo clean -q -p cudarc 2>/dev/null || true
fi
printf '#!/bin/sh\necho compute_cap\necho %s.%s\n' "${CAP%?}" "${CAP: -1}" > "$P/fakebin/nvidia-smi"
chmod +x "$P/fakebin/nvidia-smi"
PATH="$P/fakebin:$P/cuda/bin:$PATH" CUDA_ROOT="$P/cuda" CUDA_COMPUTE_CAP="$CAP" \
  cargo build --target-dir target/cuda "$@"
echo "built: target/cuda/release/balmix (CUDA toolkit in $P)" >&2
