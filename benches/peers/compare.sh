#!/usr/bin/env bash
# Side-by-side speed of the reference training step: balmix, dfdx with compile-time widths,
# PyTorch eager and JAX jit, alternating (ROUNDS rounds, each framework once per round) at 1
# and 2 threads, then the median per framework and the ratios balmix / peer.
# Needs benches/peers/setup.sh first (PyTorch and JAX in benches/peers/.venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-500}
PY=benches/peers/.venv/bin/python
[ -x "$PY" ] || { echo "run benches/peers/setup.sh first" >&2; exit 1; }
cargo build --release -q --bin balmix --bench dfdx_static
STATIC=$(ls -t target/release/deps/dfdx_static-* | grep -v '\.d$' | head -1)
out=$(mktemp)
for threads in 1 2; do
  for round in $(seq "$ROUNDS"); do
    ./target/release/balmix bench recipes/bench/reference.toml --steps "$STEPS" --threads "$threads" \
      | awk -v t="$threads" '/^steps\/s/ {print "balmix", t, $2}' >> "$out"
    "$STATIC" --steps "$STEPS" --threads "$threads" | awk -v t="$threads" '{print "dfdx-static", t, $(NF-1)}' >> "$out"
    "$PY" benches/peers/reference_step.py torch --steps "$STEPS" --threads "$threads" | awk -v t="$threads" '{print "pytorch", t, $5}' >> "$out"
    "$PY" benches/peers/reference_step.py jax --steps "$STEPS" --threads "$threads" | awk -v t="$threads" '{print "jax", t, $5}' >> "$out"
  done
done
python3 - "$out" <<'PY'
import sys, statistics, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, t, v = line.split()
    runs[(name, int(t))].append(float(v))
print(f"{'implementation':<14} {'threads':>7} {'steps/s (median)':>17}  rounds")
for (name, t), v in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{name:<14} {t:>7} {statistics.median(v):>17.1f}  {', '.join(f'{x:.0f}' for x in v)}")
for t in (1, 2):
    b = statistics.median(runs[("balmix", t)])
    for peer in ("dfdx-static", "pytorch", "jax"):
        if runs.get((peer, t)):
            print(f"threads {t}: balmix / {peer} = {b / statistics.median(runs[(peer, t)]):.2f}")
PY
