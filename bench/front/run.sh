#!/usr/bin/env bash
# Synchronous callers vs a Kafka backlog (issue 22). Not a timed test: run it on a quiet machine.
#
#   bash bench/front/run.sh [MODEL.gguf]        # ~7 min at the defaults
#   FRONT_BENCH_SCALE=3 bash bench/front/run.sh # 3x longer windows, more samples
#   FRONT_BENCH_SYNC_FILL=256 bash bench/front/run.sh  # callers' batches filled with stream requests
#   FRONT_BENCH_BUDGETS=  bash bench/front/run.sh      # skip the batch-budget table (~2 min)
#   FRONT_BENCH_CALL_RATE=0.8                          # callers per second while saturated
#   FRONT_BENCH_SYNC_BUDGET=2048                       # --batch-tokens of part 2
#
# Default model: models/random-1b-q4_0.gguf (Llama-3.2-1B shape, random weights, Q4_0), 2 threads.
# Uses the local broker (scripts/broker.sh; DUOGUARD_BROKER_PORT etc. as usual) and kcat.
# DUOGUARD_BIN=path reuses a release binary instead of building one. Prints:
#   1. stream throughput and batch duration against --batch-tokens 256...4096 (a backlog of
#      ~64-token requests, worker alone);
#   2. at --batch-tokens 2048 (FRONT_BENCH_SYNC_BUDGET): a short synchronous request's latency (HTTP /v1/classify) on an
#      idle worker (p50/p99), then while a backlog saturates it (p50/p99, >= 40 calls arriving
#      at random times, not paced by answers), the stream batch duration alone (mean, p99: the
#      worker's debug log of each batch), where each call's time went inside the worker (its
#      debug timeline: prepare, queue, dispatch, model, resume), and the backlog's throughput
#      alone and with the callers; the two targets: sync p99 <= idle p99 + one stream batch,
#      and backlog throughput >= 90% of alone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../worker-setup.sh"
model="${1:-models/random-1b-q4_0.gguf}"
bench_model "$model"
bench_start
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$root/.venv/bin/python" "$root/bench/front/bench.py" "$bin" "$model" "$brokers" "${FRONT_BENCH_SCALE:-1}"
