#!/usr/bin/env bash
# Pack what a GPU machine without a Rust toolchain needs to run the CUDA build: the stripped
# binary (from scripts/build-cuda.sh) and the two include folders dfdx baked into it for the
# kernels it compiles with NVRTC at run time (the CUDA toolkit's include/ and dfdx's build
# OUT_DIR with its .cuh files), with their original absolute paths in paths.txt, and the
# av-digits files packed (the GPU machine has no network).
# Result: gpu-bundle/ (git-ignored; about 30 MB), used by scripts/gpu-check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
P=${BALMIX_CUDA_PREFIX:-/tmp/balmix-cuda13}
BIN=target/cuda/release/balmix
[ -x "$BIN" ] || { echo "build first: scripts/build-cuda.sh" >&2; exit 1; }
OUTDIR=""
for d in target/cuda/release/build/dfdx-*/out; do
  if ls "$d"/*.cuh >/dev/null 2>&1; then OUTDIR=$(cd "$d" && pwd); fi
done
[ -n "$OUTDIR" ] || { echo "dfdx's build OUT_DIR with .cuh files not found" >&2; exit 1; }
rm -rf gpu-bundle
mkdir -p gpu-bundle/cuda-include gpu-bundle/dfdx-out
cp "$BIN" gpu-bundle/balmix
strip gpu-bundle/balmix
cp -a "$P/cuda/include/." gpu-bundle/cuda-include/
cp "$OUTDIR"/*.cuh gpu-bundle/dfdx-out/
printf 'cuda-include %s\ndfdx-out %s\n' "$P/cuda/include" "$OUTDIR" > gpu-bundle/paths.txt
# The av-digits files (the GPU machine cannot download): only the members av-digits reads.
# The CUDA binary cannot start without a driver, so the CPU build fetches and lists them.
CACHE=${BALMIX_CACHE:-$HOME/.cache/balmix}
cargo build --release -q
CPU_BIN=target/release/balmix
"$CPU_BIN" data fetch av-digits --cache-dir "$CACHE" >/dev/null 2>&1 || true
STAGE=$(mktemp -d)
mkdir -p "$STAGE/members"
for h in $("$CPU_BIN" data verify av-digits --cache-dir "$CACHE" 2>&1 | grep -o 'sha256 [0-9a-f]*' | awk '{print $2}'); do
  cp "$CACHE/members/$h" "$STAGE/members/"
done
[ -d "$CACHE/file-hashes" ] && cp -a "$CACHE/file-hashes" "$STAGE/"
tar -czf gpu-bundle/av-digits-cache.tar.gz -C "$STAGE" .
rm -rf "$STAGE"
du -sh gpu-bundle
