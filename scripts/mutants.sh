#!/usr/bin/env bash
# Mutation testing of the mixing maths with cargo-mutants (issue 11). Not part of CI.
#
#   scripts/mutants.sh            # full pass: ~10 hours on 2 cores (see below)
#   scripts/mutants.sh --list     # the mutants in scope, without building anything
#   scripts/mutants.sh --shard 0/2   # half of them (then 1/2); any cargo-mutants option passes through
#
# Scope and test selection are in .cargo/mutants.toml. Results go to mutants.out/
# (caught.txt, missed.txt, timeout.txt, unviable.txt). Every missed mutant must be killed by a
# new test or listed, with the reason it cannot change a result, in the committed list of
# equivalent mutants.
#
# Install once: cargo install --locked cargo-mutants
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-mutants >/dev/null 2>&1; then
    echo "cargo-mutants is not installed; run: cargo install --locked cargo-mutants" >&2
    exit 2
fi

# The snapshots must not be rewritten by a mutant.
export CI=true

# Measured on 2 cores (2026-11-30): a ~6.5 minute baseline build in cargo-mutants' scratch copy,
# then about 1 minute per mutant — the integration test binary links dfdx every time — so the
# 590 mutants of the whole scope take about 10 hours, and `--exclude 'src/method/*'` (305) about
# 5. Run it in shards (`--shard k/n`) or per file (`-f src/mixup/contribution.rs`) on a spare
# machine. One mutant at a time (a build already uses both cores); a build over 15 minutes (the
# baseline included) is abandoned; test timeouts are set in .cargo/mutants.toml. Survivors that
# cannot change a result are listed in tests/mutants-equivalent.txt.
exec cargo mutants \
    --jobs "${MUTANTS_JOBS:-1}" \
    --build-timeout 900 \
    "$@"
