#!/usr/bin/env bash
# The test command: installs what the tests need, starts the local Kafka broker, runs every
# test (unit, parity, and end-to-end against the real broker), stops the broker it started,
# and exits with the tests' status. Works on a fresh clone: `bash scripts/test.sh`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/system-deps.sh
bash scripts/python-env.sh
bash scripts/prepare-tokenizers.sh

started_broker=0
if ! bash scripts/broker.sh status >/dev/null 2>&1; then
    bash scripts/broker.sh start
    started_broker=1
fi
cleanup() {
    if ((started_broker)); then bash scripts/broker.sh stop >/dev/null || true; fi
}
trap cleanup EXIT

export DUOGUARD_TEST_BROKERS="${DUOGUARD_TEST_BROKERS:-127.0.0.1:${DUOGUARD_BROKER_PORT:-9092}}"
# -Xcc -O2: the C kernels optimised in this debug build (Package.swift sets no flags so
# that its libraries stay usable as a dependency; at -O0 the parity tests would crawl).
swift build --build-tests -Xcc -O2
status=0
swift test --skip-build "$@" || status=$?
# The HTTP API and the gRPC service with clients this project did not write (the official openai
# package; grpcio with stubs from proto/), against `duoguard serve` and the tiny fixture model
# (about 15 s each). Skipped when tests were filtered.
if (($# == 0)); then
    model="$(mktemp -d)/tiny.gguf"
    "$(swift build --show-bin-path)/duoguard" convert Tests/InferenceTests/Fixtures/tiny-a --output "$model" --type q8_0 \
        --tokenizer Tests/Fixtures/generated/llama3.2/tokenizer.json >/dev/null
    .venv/bin/python scripts/api-client-check.py "$(swift build --show-bin-path)/duoguard" "$model" || status=$?
    .venv/bin/python scripts/grpc-client-check.py "$(swift build --show-bin-path)/duoguard" "$model" || status=$?
    rm -rf "$(dirname "$model")"
fi
exit $status
