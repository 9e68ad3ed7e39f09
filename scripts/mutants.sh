#!/usr/bin/env bash
# Mutation testing of the mixing maths with cargo-mutants (issue 11). Not part of CI.
#
#   scripts/mutants.sh            # full pass: ~1.5 hours on 2 cores (see below)
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

# Measured on 2 cores: ~10 s of incremental dev build and ~1 s of tests per mutant, after a
# ~5 minute baseline build of the dependencies in cargo-mutants' scratch copy. At commit
# 8e51879 the scope holds 452 mutants (288 of them in src/mixup/, modulation and the unimodal
# logits, 164 in src/method/): about 1.5 hours, or two sittings of `--shard 0/2` and
# `--shard 1/2`. One mutant at a time (a build already uses both cores); a build over 15 minutes
# (the baseline included) is abandoned; test timeouts are set in .cargo/mutants.toml.
exec cargo mutants \
    --jobs 1 \
    --build-timeout 900 \
    "$@"
