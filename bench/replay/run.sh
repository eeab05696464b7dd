#!/usr/bin/env bash
# Replay beside live traffic (live latency p50/p99 and replay throughput: live alone, replay
# not yielding, --yield-to-group only, --cpu-nice only, both) and the score cache (30% repeated
# texts, with and without the cache). The issue's size by default (20,000-request backlog of
# short requests on the 1B Q4_0 model, 3 windows of 30 s per case, about 15 minutes quiet);
# --quick: about 6 minutes. Each case also records a timeline that attributes the live stalls.
# Details: bench/replay/run.py.
#
#   bash bench/replay/run.sh [--quick] [--model models/random-1b-q4_0.gguf] [--backlog N] [...]
#
# DUOGUARD_BIN=path uses that binary (default: builds the release one). The Python needs
# confluent-kafka: DUOGUARD_BENCH_PYTHON=path, else the bench venv (bench/model/bench-env.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if [[ -z "${DUOGUARD_BIN:-}" ]]; then
    swift build -c release --product duoguard 2>&1 | tail -n 1
    export DUOGUARD_BIN="$(swift build -c release --show-bin-path)/duoguard"
fi
py="${DUOGUARD_BENCH_PYTHON:-}"
if [[ -z "$py" ]]; then
    bash bench/model/bench-env.sh
    py="${DUOGUARD_BENCH_VENV:-$root/.venv-bench}/bin/python"
fi
exec nice -n 0 "$py" bench/replay/run.py "$@"
