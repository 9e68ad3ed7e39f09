#!/usr/bin/env bash
# One short run on a GPU machine (issue 7): what GPU and toolkit are there, the quickstart
# recipe on cuda and on cpu, `balmix bench` on the reference recipe on both, and whether they
# agree (first-epoch training loss within 1e-3 relative, final test accuracy within 1 point).
#
# Needs gpu-bundle/ from scripts/gpu-bundle.sh (run here, on the build machine) next to the
# recipes; outputs go to $OUT (or /tmp/gpu-check). The GPU machine must provide the CUDA 13
# libraries (libcuda from the driver; libcublas, libcublasLt, libnvrtc from a toolkit or from
# PyTorch's nvidia wheels), which this script puts on LD_LIBRARY_PATH.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BALMIX_GPU_BUNDLE:-gpu-bundle}
O=${OUT:-/tmp/gpu-check}
mkdir -p "$O"
[ -f "$B/paths.txt" ] || { echo "no $B/paths.txt: run scripts/gpu-bundle.sh on the build machine" >&2; exit 1; }

# dfdx looks for its NVRTC headers at the absolute paths of the build machine.
while read -r key path; do
  mkdir -p "$path" && cp -a "$B/$key/." "$path/"
done < "$B/paths.txt"

LIBS=$(python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
dirs = []
for sp in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
    for pattern in ("nvidia/cu13/lib", "nvidia/*/lib"):
        dirs += [d for d in glob.glob(os.path.join(sp, pattern)) if os.path.isdir(d)]
print(":".join(dict.fromkeys(dirs)))
PY
)
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && LIBS="$LIBS:$d"; done
export LD_LIBRARY_PATH="${LIBS}:${LD_LIBRARY_PATH:-}"

echo "== nvidia-smi"
nvidia-smi || echo "nvidia-smi failed"
echo "== nvcc --version"
nvcc --version || echo "nvcc is not on PATH"
for lib in libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13; do
  found=$(IFS=:; for d in $LD_LIBRARY_PATH; do [ -e "$d/$lib" ] && echo "$d/$lib" && break; done)
  echo "$lib: ${found:-NOT FOUND}"
done

BIN="$B/balmix"
echo "== quickstart (60 epochs) on cuda and cpu"
for dev in cuda cpu; do
  /usr/bin/time -f "$dev quickstart wall: %e s" "$BIN" run recipes/quickstart.toml --device "$dev" \
    --out "$O/runs-$dev" --force --quiet || echo "$dev quickstart FAILED"
done
echo "== bench (reference model)"
for dev in cuda cpu; do
  "$BIN" bench recipes/bench/reference.toml --device "$dev" --steps 300 --warmup 30 || echo "$dev bench FAILED"
done
echo "== agreement cuda vs cpu"
python3 - "$O" <<'PY'
import csv, sys
o = sys.argv[1]
def rows(dev):
    with open(f"{o}/runs-{dev}/quickstart/seed-0/metrics.csv") as f:
        return list(csv.DictReader(f))
try:
    g, c = rows("cuda"), rows("cpu")
except FileNotFoundError as e:
    sys.exit(f"missing metrics: {e}")
l_g, l_c = float(g[0]["train_loss"]), float(c[0]["train_loss"])
rel = abs(l_g - l_c) / abs(l_c)
a_g, a_c = float(g[-1]["test_accuracy"]), float(c[-1]["test_accuracy"])
print(f"first-epoch train loss: cuda {l_g:.6f} cpu {l_c:.6f} relative difference {rel:.2e} -> {'PASS' if rel <= 1e-3 else 'FAIL'} (<= 1e-3)")
print(f"final test accuracy: cuda {a_g:.4f} cpu {a_c:.4f} difference {abs(a_g - a_c) * 100:.2f} points -> {'PASS' if abs(a_g - a_c) <= 0.01 else 'FAIL'} (<= 1 point)")
PY
