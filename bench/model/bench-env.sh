#!/usr/bin/env bash
# Makes sure the bench venv exists with bench/model/requirements-bench.txt (idempotent, quiet):
# torch (CPU), transformers, onnx, onnxruntime, matplotlib, confluent-kafka for the peers, the
# full-size fixture, the charts and the latency load generator. Not the product's, not CI's.
# Where: $DUOGUARD_BENCH_VENV, default .venv-bench in the checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec bash "$root/scripts/python-env.sh" "${DUOGUARD_BENCH_VENV:-$root/.venv-bench}" "$root/bench/model/requirements-bench.txt"
