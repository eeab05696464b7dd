#!/usr/bin/env bash
# Makes sure the bench venv exists with bench/model/requirements-bench.txt (idempotent, quiet):
# torch (CPU), transformers, onnx, onnxruntime, matplotlib, confluent-kafka for the peers, the
# full-size fixture, the charts and the latency load generator. Not the product's, not CI's.
# Where: $DUOGUARD_BENCH_VENV, default .venv-bench in the checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${DUOGUARD_BENCH_VENV:-$root/.venv-bench}"
req="$root/bench/model/requirements-bench.txt"
stamp="$venv/.requirements-bench.sha"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
