#!/usr/bin/env bash
# One short run on a GPU machine (issues 7 and 14): what GPU and toolkit are there; six recipes
# on cuda and on cpu (quickstart MM, synthetic B-MM and OGM-GE, av-digits conv encoders, a fake
# CREMA-D through the media readers and narrow ResNet-18s, ResNet-18s with batch norm on
# Gaussian data); whether they agree (first-epoch training loss within 1e-3
# relative, final test accuracy within 1 point); a second cuda run for identical model bytes;
# `balmix bench` on the reference recipe and on the paper's two ResNet-18s, on both.
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
# The av-digits files travel packed with the bundle (the GPU machine cannot download them).
if [ -f "$B/av-digits-cache.tar.gz" ]; then
  mkdir -p /tmp/balmix-cache && tar -xzf "$B/av-digits-cache.tar.gz" -C /tmp/balmix-cache
  export BALMIX_CACHE=/tmp/balmix-cache
fi
# Each case: a name, a recipe, extra arguments. Every case runs on cuda and on cpu.
CASES=(
  "quickstart|recipes/quickstart.toml|"
  "synthetic-bmm|recipes/synthetic/bmm.toml|"
  "synthetic-ogm-ge|recipes/synthetic/ogm-ge.toml|"
  "av-digits-conv|recipes/av-digits/conv.toml|--set train.epochs=5"
  "crema-d-fake|recipes/paper/crema-d/concat.toml|--set train.epochs=2 --set train.batch_size=8 --set model.encoders.audio.width=8 --set model.encoders.visual.width=8"
  "resnet-tiny|tests/fixtures/recipes/tiny-resnet.toml|"
)
echo "== fake CREMA-D in the prepared layout (balmix data fake --no-video)"
rm -rf "$O/crema-d-fake"
"$BIN" data fake crema-d --out "$O/crema-d-fake" --clips 48 --no-video || echo "fake crema-d FAILED"
export BALMIX_CREMA_D="$O/crema-d-fake"
for c in "${CASES[@]}"; do
  IFS='|' read -r name recipe extra <<<"$c"
  echo "== $name: $recipe $extra on cuda and cpu"
  for dev in cuda cpu; do
    # shellcheck disable=SC2086
    /usr/bin/time -f "$name $dev wall: %e s" "$BIN" run "$recipe" --device "$dev" $extra \
      --out "$O/runs-$dev/$name" --force --quiet || echo "$name $dev FAILED"
  done
done
echo "== determinism on cuda: quickstart a second time, model bytes compared"
"$BIN" run recipes/quickstart.toml --device cuda --out "$O/runs-cuda-again/quickstart" --force --quiet \
  || echo "second cuda quickstart FAILED"
a=$(sha256sum "$O"/runs-cuda/quickstart/*/seed-0/model.safetensors | cut -c1-64)
b=$(sha256sum "$O"/runs-cuda-again/quickstart/*/seed-0/model.safetensors | cut -c1-64)
echo "cuda run 1 model sha256 $a"
echo "cuda run 2 model sha256 $b"
if [ -z "$a" ] || [ -z "$b" ]; then echo "cuda twice: a model file is missing"
elif [ "$a" = "$b" ]; then echo "cuda twice: identical model bytes"
else echo "cuda twice: model bytes DIFFER"; fi
N=$(nproc)
echo "== bench (reference model; cpu at 1 kernel thread and at $N)"
"$BIN" bench recipes/bench/reference.toml --device cuda --steps 300 --warmup 30 --no-plain || echo "cuda bench FAILED"
"$BIN" bench recipes/bench/reference.toml --device cpu --steps 300 --warmup 30 --no-plain || echo "cpu bench FAILED"
"$BIN" bench recipes/bench/reference.toml --device cpu --threads "$N" --steps 300 --warmup 30 --no-plain \
  || echo "cpu $N-thread bench FAILED"
echo "== bench (two ResNet-18s at width 64, batch 8: the paper's model; cpu at $N threads)"
"$BIN" bench recipes/bench/resnet-av.toml --device cuda --steps 50 --warmup 5 --no-plain || echo "cuda resnet bench FAILED"
"$BIN" bench recipes/bench/resnet-av.toml --device cpu --threads "$N" --steps 10 --warmup 2 --no-plain \
  || echo "cpu resnet bench FAILED"
echo "== agreement cuda vs cpu"
python3 - "$O" "${CASES[@]}" <<'PY'
import csv, glob, sys
o, cases = sys.argv[1], [c.split("|")[0] for c in sys.argv[2:]]
def rows(dev, name):
    paths = glob.glob(f"{o}/runs-{dev}/{name}/**/seed-0/metrics.csv", recursive=True)
    if not paths:
        raise FileNotFoundError(f"{o}/runs-{dev}/{name}/**/seed-0/metrics.csv")
    with open(paths[0]) as f:
        return list(csv.DictReader(f))
failed = 0
for name in cases:
    try:
        g, c = rows("cuda", name), rows("cpu", name)
    except FileNotFoundError as e:
        print(f"{name}: missing metrics: {e}")
        failed += 1
        continue
    l_g, l_c = float(g[0]["train_loss"]), float(c[0]["train_loss"])
    rel = abs(l_g - l_c) / abs(l_c)
    a_g, a_c = float(g[-1]["test_accuracy"]), float(c[-1]["test_accuracy"])
    ok_l, ok_a = rel <= 1e-3, abs(a_g - a_c) <= 0.01
    failed += (not ok_l) + (not ok_a)
    print(f"{name}: first-epoch train loss cuda {l_g:.6f} cpu {l_c:.6f} rel diff {rel:.2e} "
          f"{'PASS' if ok_l else 'FAIL'} (<= 1e-3); final test accuracy cuda {a_g:.4f} cpu {a_c:.4f} "
          f"diff {abs(a_g - a_c) * 100:.2f} points {'PASS' if ok_a else 'FAIL'} (<= 1); "
          f"epochs {len(g)}/{len(c)}")
print(f"agreement: {'all PASS' if failed == 0 else f'{failed} check(s) FAILED'}")
PY
