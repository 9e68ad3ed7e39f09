#!/usr/bin/env bash
# Loader throughput side by side (issue 13): `balmix data bench-loader crema-d` and the reference
# PyTorch DataLoader (tools/av-reference/loader_bench.py: OGM-GE's librosa log-STFT and one
# RandomResizedCrop frame) on the same prepared CREMA-D folder, alternating — each round runs
# both at every worker count, the order swapped every round — then per worker count the median
# clips/s of each (a run's figure: the median of its timed epochs) and the ratio balmix / PyTorch.
#
#   scripts/loader-bench.sh [--data DIR] [--clips 48] [--epochs 3] [--rounds 2] [--workers 1,2]
#                           [--batch 64] [--baseline BIN]
#
# --data: a prepared CREMA-D folder (`balmix data prepare crema-d`, or `balmix data fake crema-d
# --no-video`). Without it a fake one is made in $OUT: `balmix data fake crema-d --clips N`, then,
# with ffmpeg on PATH, `balmix data prepare crema-d` (frames extracted from its videos); pass the
# printed folder with --data to reuse it. --epochs are timed epochs, each program running one
# warm-up epoch first. Workers: BALMIX_LOADER_WORKERS for balmix, loader_bench.py --workers for
# PyTorch (1 = DataLoader num_workers 0, the main process). --baseline: another balmix binary
# (e.g. a copy built before a change), run in the same rounds as a third program, for a
# before/after figure on the same machine state. Outputs are kept in $OUT (default: a new folder
# under /tmp).
#
# Needs $BALMIX, by default target/release/balmix (cargo build --release --bin balmix), and a
# Python with torch, torchvision, librosa and Pillow: $BALMIX_LOADER_PYTHON, else
# /tmp/torchref/bin/python (the venv of tools/av-reference/README.md) with torchvision and librosa
# added:
#   python3 -m venv /tmp/torchref
#   /tmp/torchref/bin/pip install -r tools/av-reference/requirements-torch.txt \
#       torchvision==0.23.0 librosa==0.10.2.post1 Pillow==11.0.0
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="" CLIPS=48 EPOCHS=3 ROUNDS=2 WORKERS="1,2" BATCH=64 BASELINE=""
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --clips) CLIPS=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$CLIPS" "$EPOCHS" "$ROUNDS" "$BATCH"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "--clips, --epochs, --rounds and --batch take a positive integer (got '$v')" >&2; exit 2; }
done
[[ "$WORKERS" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "--workers takes a list like 1,2 (got '$WORKERS')" >&2; exit 2; }

BALMIX=${BALMIX:-target/release/balmix}
PEER=tools/av-reference/loader_bench.py
PY=${BALMIX_LOADER_PYTHON:-/tmp/torchref/bin/python}
[ -x "$BALMIX" ] || { echo "no $BALMIX: build it with cargo build --release --bin balmix" >&2; exit 1; }
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || { echo "--baseline $BASELINE is not an executable" >&2; exit 1; }
[ -x "$PY" ] || command -v "$PY" >/dev/null 2>&1 || {
  echo "no Python for the PyTorch side at $PY: make the venv as in this script's --help, or set" \
       "BALMIX_LOADER_PYTHON to a Python with torch, torchvision, librosa and Pillow" >&2; exit 1; }
"$PY" -c 'import librosa, PIL, torch, torchvision' 2>/dev/null || {
  echo "$PY cannot import librosa, PIL, torch and torchvision (what $PEER needs): install them as in" \
       "this script's --help, or set BALMIX_LOADER_PYTHON to a Python that has them" >&2; exit 1; }

if [ -n "$DATA" ] && [ ! -f "$DATA/train.csv" ]; then
  echo "$DATA is not a prepared CREMA-D folder: no train.csv (see --help)" >&2; exit 1
fi

OUT=${OUT:-$(mktemp -d /tmp/loader-bench.XXXXXX)}
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"

if [ -z "$DATA" ]; then
  DATA="$OUT/crema-d"
  if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
    echo "making a fake CREMA-D of $CLIPS clips in $OUT/crema-d-raw, prepared into $DATA (ffmpeg)"
    "$BALMIX" data fake crema-d --out "$OUT/crema-d-raw" --clips "$CLIPS" > "$OUT/fake.txt" 2>&1 \
      || { cat "$OUT/fake.txt" >&2; exit 1; }
    "$BALMIX" data prepare crema-d --from "$OUT/crema-d-raw" --to "$DATA" > "$OUT/prepare.txt" 2>&1 \
      || { cat "$OUT/prepare.txt" >&2; exit 1; }
  else
    echo "making a fake CREMA-D of $CLIPS clips in $DATA (no ffmpeg: written prepared)"
    "$BALMIX" data fake crema-d --out "$DATA" --clips "$CLIPS" --no-video > "$OUT/fake.txt" 2>&1 \
      || { cat "$OUT/fake.txt" >&2; exit 1; }
  fi
fi
DATA=$(cd "$DATA" && pwd)
for f in train.csv AudioWAV Image-01-FPS; do
  [ -e "$DATA/$f" ] || { echo "$DATA is not a prepared CREMA-D folder: no $f (see --help)" >&2; exit 1; }
done
TRAIN=$(grep -c , "$DATA/train.csv" || true)

echo "cpu       $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores available)"
echo "balmix    $("$BALMIX" --version 2>/dev/null || echo "$BALMIX") ($BALMIX)"
[ -z "$BASELINE" ] || echo "baseline  $("$BASELINE" --version 2>/dev/null || echo "$BASELINE") ($BASELINE)"
echo "pytorch   $("$PY" -c 'import torch, torchvision, librosa, PIL; print("torch", torch.__version__, "torchvision", torchvision.__version__, "librosa", librosa.__version__, "Pillow", PIL.__version__)')"
read -r LOAD1 _ < /proc/loadavg
echo "load      $LOAD1 (1-minute load average before the first run)"
if awk -v l="$LOAD1" 'BEGIN {exit !(l > 0.5)}'; then
  echo "warning: the machine is busy; the figures will be off, with more workers most" >&2
fi
echo "data      $DATA ($TRAIN clips in train.csv)"
echo "settings  batch $BATCH, one warm-up and $EPOCHS timed epoch(s) per run, $ROUNDS round(s), workers $WORKERS; outputs in $OUT"

# One run: its full output to $OUT, one line to the results (impl workers round clips/s epochs...).
measure() {
  local impl=$1 workers=$2 round=$3 log="$OUT/$1-w$2-r$3.txt"
  local status=0
  if [ "$impl" = balmix ] || [ "$impl" = baseline ]; then
    local bin=$BALMIX
    [ "$impl" = balmix ] || bin=$BASELINE
    BALMIX_CREMA_D="$DATA" BALMIX_LOADER_WORKERS="$workers" \
      "$bin" data bench-loader crema-d --epochs "$EPOCHS" --batch "$BATCH" > "$log" 2>&1 || status=$?
  else
    # loader_bench.py's --epochs counts its warm-up epoch; its batch is 64.
    "$PY" "$PEER" "$DATA" --workers "$workers" --epochs $((EPOCHS + 1)) > "$log" 2>&1 || status=$?
  fi
  if [ "$status" -ne 0 ]; then
    echo "$impl with $workers worker(s) failed (exit $status), $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  local rates
  rates=$(awk '{for (i = 1; i < NF; i++) if ($i == "clips/s") print $(i + 1)}' "$log" | paste -sd, -)
  if [ -z "$rates" ]; then
    echo "$impl with $workers worker(s): no clips/s in its output ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\n' "$impl" "$workers" "$round" "$rates" >> "$RESULTS"
  printf 'round %s  workers %s  %-7s  clips/s per epoch %s\n' "$round" "$workers" "$impl" "$rates"
}

MAXW=$(tr , '\n' <<< "$WORKERS" | sort -n | tail -1)
if [ "$MAXW" -gt 1 ] && [ $(((TRAIN + 63) / 64)) -lt $((2 * MAXW)) ]; then
  echo "note: $TRAIN training clips are $(((TRAIN + 63) / 64)) PyTorch batch(es) of 64 per epoch; a DataLoader" \
       "worker loads whole batches, so with fewer than two batches per worker its extra workers mostly" \
       "idle (balmix splits a batch across its workers): use --clips $((64 * 2 * MAXW * 3 / 2)) or more" \
       "for a fair $MAXW-worker figure" >&2
fi
if [ "$BATCH" -ne 64 ]; then
  echo "note: loader_bench.py always uses batches of 64; --batch $BATCH applies to balmix only" >&2
fi
for workers in ${WORKERS//,/ }; do
  for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then
      [ -z "$BASELINE" ] || measure baseline "$workers" "$round"
      measure balmix "$workers" "$round"; measure pytorch "$workers" "$round"
    else
      measure pytorch "$workers" "$round"; measure balmix "$workers" "$round"
      [ -z "$BASELINE" ] || measure baseline "$workers" "$round"
    fi
  done
done

echo
python3 - "$RESULTS" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    impl, w, _round, rates = line.rstrip("\n").split("\t")
    runs[(impl, int(w))].append(statistics.median(float(x) for x in rates.split(",")))
print("clips/s: median over rounds of each run's median epoch (each round's figure in brackets)")
base = any(impl == "baseline" for impl, _ in runs)
head = f"{'workers':>7}  {'balmix clips/s':>28}  {'PyTorch clips/s':>28}  {'balmix/PyTorch':>14}"
if base:
    head += f"  {'baseline clips/s':>28}  {'balmix/baseline':>15}"
print(head)
for w in sorted({w for _, w in runs}):
    b, p = runs[("balmix", w)], runs[("pytorch", w)]
    mb, mp = statistics.median(b), statistics.median(p)
    cell = lambda m, v: f"{m:.1f} [{', '.join(f'{x:.1f}' for x in v)}]"
    line = f"{w:>7}  {cell(mb, b):>28}  {cell(mp, p):>28}  {mb / mp:>14.2f}"
    if base:
        o = runs[("baseline", w)]
        mo = statistics.median(o)
        line += f"  {cell(mo, o):>28}  {mb / mo:>15.2f}"
    print(line)
PY
