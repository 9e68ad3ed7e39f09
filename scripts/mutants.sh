#!/usr/bin/env bash
# Mutation testing of the mixing maths with cargo-mutants (issue 11). Not part of CI.
#
#   scripts/mutants.sh            # full pass (978 mutants): hours on 2 cores (see below)
#   scripts/mutants.sh --list     # the mutants in scope, without building anything
#   MUTANTS_JOBS=2 scripts/mutants.sh --shard 0/2   # half, two jobs (then 1/2); other options pass through
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

# Measured on 2 cores (2026-11-30): builds run in the `mutants` profile (Cargo.toml: no debug
# info), ~4 minutes for the baseline in each job's scratch copy, then from a few seconds per
# mutant on a quiet machine to a minute while other builds compete. The 738 mutants outside
# src/mixup/ took about 2 h 20 min with MUTANTS_JOBS=2 on a busy machine (most of them
# unviable: each still costs a build). Run it in shards (`--shard k/n`) or per file
# (`--exclude`; `-f` does not narrow the configured globs) on a spare machine. A build over 15
# minutes (the baseline included) is abandoned; test timeouts are set in .cargo/mutants.toml.
# Survivors that cannot change a result are listed in tests/mutants-equivalent.txt.
exec cargo mutants \
    --jobs "${MUTANTS_JOBS:-1}" \
    --build-timeout 900 \
    "$@"
