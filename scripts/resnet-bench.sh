#!/usr/bin/env bash
# The paper's ResNet-18 audio-visual training step (issue 14), balmix next to PyTorch eager on
# the CPU: `balmix bench recipes/bench/resnet-av.toml` and benches/peers/resnet_av_step.py (the
# same model, loss, optimiser and batch), alternating — each round runs both at every thread
# count, the order swapped every round — then per thread count the median samples/s of each,
# the ratio balmix / PyTorch and the peak resident memory of each process.
#
#   scripts/resnet-bench.sh [--rounds 2] [--steps 50] [--warmup 5] [--batch 8] [--threads 1,2]
#
# Defaults: about 10 minutes on 2 cores (at batch 8 a step takes 1-2 s on one core, a little over
# half that on two; the first steps are slower, hence 5 warm-up steps).
# --steps are split into 5 windows (at least one step each) and the median window is reported,
# by both programs. Full outputs are kept in $OUT (default: a new folder under /tmp).
#
# Needs target/release/balmix (cargo build --release --bin balmix) and a Python with torch and
# torchvision: $BALMIX_PEER_PYTHON, else benches/peers/.venv/bin/python (benches/peers/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=2 STEPS=50 WARMUP=5 BATCH=8 THREADS="1,2"
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$ROUNDS" "$STEPS" "$BATCH"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds, --steps and --batch take a positive integer (got '$v')" >&2; exit 2; }
done
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "--warmup takes a non-negative integer (got '$WARMUP')" >&2; exit 2; }
[[ "$THREADS" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "--threads takes a list like 1,2 (got '$THREADS')" >&2; exit 2; }

BALMIX=target/release/balmix
RECIPE=recipes/bench/resnet-av.toml
PEER=benches/peers/resnet_av_step.py
PY=${BALMIX_PEER_PYTHON:-benches/peers/.venv/bin/python}
[ -x "$BALMIX" ] || { echo "no $BALMIX: build it with cargo build --release --bin balmix" >&2; exit 1; }
[ -f "$RECIPE" ] || { echo "no $RECIPE" >&2; exit 1; }
[ -x "$PY" ] || command -v "$PY" >/dev/null 2>&1 || {
  echo "no Python for the PyTorch side at $PY: run benches/peers/setup.sh" \
       "(or set BALMIX_PEER_PYTHON to a Python with torch 2.8.0 and torchvision 0.23.0)" >&2; exit 1; }
"$PY" -c 'import torch, torchvision' 2>/dev/null || {
  echo "$PY cannot import torch and torchvision: run benches/peers/setup.sh" \
       "(or set BALMIX_PEER_PYTHON to a Python that has them)" >&2; exit 1; }

OUT=${OUT:-$(mktemp -d /tmp/resnet-bench.XXXXXX)}
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"

echo "cpu       $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores available)"
echo "balmix    $("$BALMIX" --version 2>/dev/null || echo "$BALMIX")"
echo "pytorch   $("$PY" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)')"
read -r LOAD1 _ < /proc/loadavg
echo "load      $LOAD1 (1-minute load average before the first run)"
if awk -v l="$LOAD1" 'BEGIN {exit !(l > 0.5)}'; then
  echo "warning: the machine is busy; the figures will be off, multi-threaded ones most (a thread" \
       "that shares its core with another process holds up the others at every synchronisation)" >&2
fi
echo "settings  batch $BATCH, warm-up $WARMUP, $STEPS timed steps, $ROUNDS round(s), threads $THREADS; outputs in $OUT"

# One run: its full output to $OUT, one line to the results (impl threads round samples/s steps/s MiB).
measure() {
  local impl=$1 threads=$2 round=$3 log="$OUT/$1-t$2-r$3.txt"
  local cmd
  if [ "$impl" = balmix ]; then
    cmd=("$BALMIX" bench "$RECIPE" --threads "$threads" --steps "$STEPS" --warmup "$WARMUP" --no-plain
         --set "train.batch_size=$BATCH")
  else
    cmd=("$PY" "$PEER" --threads "$threads" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP")
  fi
  if ! "${cmd[@]}" > "$log" 2>&1; then
    echo "$impl at $threads thread(s) failed: ${cmd[*]}" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  local samples steps mem
  samples=$(awk '$1 == "samples/s" {print $2}' "$log")
  steps=$(awk '$1 == "steps/s" {print $2}' "$log")
  mem=$(awk '$1 == "peak" && $2 == "memory" {print $3}' "$log")
  if [ -z "$samples" ] || [ -z "$steps" ]; then
    echo "$impl at $threads thread(s): no samples/s or steps/s in its output ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$threads" "$round" "$samples" "$steps" "${mem:--}" >> "$RESULTS"
  printf 'round %s  threads %s  %-7s  samples/s %-8s steps/s %-8s peak memory %s MiB\n' \
    "$round" "$threads" "$impl" "$samples" "$steps" "${mem:--}"
}

for threads in ${THREADS//,/ }; do
  for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then
      measure balmix "$threads" "$round"; measure pytorch "$threads" "$round"
    else
      measure pytorch "$threads" "$round"; measure balmix "$threads" "$round"
    fi
  done
done

echo
python3 - "$RESULTS" "$BATCH" <<'PY'
import collections, statistics, sys
rate, mem = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    impl, t, _round, samples, _steps, mib = line.rstrip("\n").split("\t")
    rate[(impl, int(t))].append(float(samples))
    if mib != "-":
        mem[(impl, int(t))].append(float(mib))
def peak(key):
    return f"{max(mem[key]):.0f}" if mem[key] else "-"
print(f"batch {sys.argv[2]}; samples/s: median over rounds (each round's value in brackets); peak memory: "
      "the largest peak resident set of the rounds, MiB")
print(f"{'threads':>7}  {'balmix samples/s':>26}  {'PyTorch samples/s':>26}  {'balmix/PyTorch':>14}  "
      f"{'balmix MiB':>10}  {'PyTorch MiB':>11}")
for t in sorted({t for _, t in rate}):
    b, p = rate[("balmix", t)], rate[("pytorch", t)]
    mb, mp = statistics.median(b), statistics.median(p)
    cell = lambda m, v: f"{m:.3g} [{', '.join(f'{x:g}' for x in v)}]"
    print(f"{t:>7}  {cell(mb, b):>26}  {cell(mp, p):>26}  {mb / mp:>14.2f}  "
          f"{peak(('balmix', t)):>10}  {peak(('pytorch', t)):>11}")
PY
