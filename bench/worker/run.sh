#!/usr/bin/env bash
# Requests/s through the whole worker (Kafka in → batches → model → Kafka out) vs the model
# alone (`duoguard classify`) on the same requests, same model file, same batch settings,
# side by side in one run. Goal (issue #5): worker ≥ 90% of the model alone.
#
#   bash bench/worker/run.sh [MODEL.gguf] [COUNT] [WORDS]
#
# Defaults: models/random-1b-q8_0.gguf (the full Llama-3.2-1B shape, random weights; make it
# with scripts/model-fixtures.py --full-size and duoguard convert), 64 requests of ~48 words
# (~64 tokens). Uses the local broker (scripts/broker.sh). DUOGUARD_BIN=path reuses a release
# binary instead of building one. The worker's time runs from just before the requests are
# produced to the newest result's Kafka timestamp (set by the worker when it sends), so the
# once-a-second polling for completion neither adds its granularity nor competes for the CPU.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../worker-setup.sh"
model="${1:-models/random-1b-q8_0.gguf}"
count="${2:-64}"
words="${3:-48}"
bench_model "$model" "see the header of this script"
bench_start
py="$root/.venv/bin/python"
work="$(mktemp -d)"
worker_pid=""
trap '[[ -n "$worker_pid" ]] && kill -TERM "$worker_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$py" - "$count" "$words" "$work" <<'PY'
import json, random, sys
count, words, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
vocab = ("the a moderation request text worker model kafka batch token safe unsafe category "
         "message topic partition offset result probability threshold window stream cluster "
         "queue latency throughput memory core thread kernel matrix vector attention layer").split()
with open(f"{out}/requests.jsonl", "w") as requests, open(f"{out}/texts.jsonl", "w") as texts:
    for i in range(count):
        text = " ".join(rng.choice(vocab) for _ in range(words))
        requests.write(json.dumps({"id": f"bench-{i}", "text": text}) + "\n")
        texts.write(json.dumps({"text": text}) + "\n")
PY

now() { date +%s.%N; }
# Model alone: classify all texts, minus a 1-text run (model load + one tiny batch).
t0=$(now); "$bin" classify --model "$model" --jsonl --json --batch-tokens 2048 < "$work/texts.jsonl" > "$work/classify.jsonl"; t1=$(now)
head -n 1 "$work/texts.jsonl" | "$bin" classify --model "$model" --jsonl --json --batch-tokens 2048 > /dev/null; t2=$(now)

run="bench-$RANDOM$RANDOM"
# The worker never creates topics: make them first (the local broker auto-creates a topic that
# a metadata request names).
for topic in "$run-in" "$run-out" "$run-dlq"; do kcat -b "$brokers" -L -t "$topic" >/dev/null; done
"$bin" worker --brokers "$brokers" --group "$run" --input-topic "$run-in" --output-topic "$run-out" \
    --dlq-topic "$run-dlq" --model "$model" --batch-tokens 2048 --metrics-port 19465 \
    --session-timeout-ms 6000 --log-level warning &
worker_pid=$!
# Wait until the worker owns its partitions (the topic is auto-created by the first request).
echo '{"id":"warmup","text":"warm up"}' | kcat -b "$brokers" -P -t "$run-in" -H content-type=application/json
until kcat -b "$brokers" -C -t "$run-out" -o beginning -c 1 -e -q >/dev/null 2>&1 && \
      [[ -n "$(kcat -b "$brokers" -C -t "$run-out" -o beginning -c 1 -e -q 2>/dev/null)" ]]; do sleep 0.5; done
t3=$(now)
kcat -b "$brokers" -P -t "$run-in" -H content-type=application/json -l "$work/requests.jsonl"
until [[ $(kcat -b "$brokers" -C -t "$run-out" -o beginning -e -q -f '%k\n' 2>/dev/null | wc -l) -ge $((count + 1)) ]]; do sleep 1; done
t4=$(kcat -b "$brokers" -C -t "$run-out" -o beginning -e -q -f '%T\n' 2>/dev/null | sort -n | tail -n 1 | awk '{printf "%.3f", $1 / 1000}')
rss=$(grep VmHWM "/proc/$worker_pid/status" | awk '{print $2}')

"$py" - "$count" "$t0" "$t1" "$t2" "$t3" "$t4" "$rss" "$work/classify.jsonl" <<'PY'
import json, sys
count = int(sys.argv[1]); t0, t1, t2, t3, t4 = map(float, sys.argv[2:7]); rss = int(sys.argv[7])
tokens = sum(json.loads(l)["tokenCount"] for l in open(sys.argv[8]))
alone = (t1 - t0) - (t2 - t1)
worker = t4 - t3
print(f"{count} requests, {tokens} tokens ({tokens / count:.0f}/request), same model and batch budget")
print(f"{'':24}{'requests/s':>12}{'tokens/s':>10}")
print(f"{'model alone (classify)':24}{count / alone:12.2f}{tokens / alone:10.1f}")
print(f"{'worker end to end':24}{count / worker:12.2f}{tokens / worker:10.1f}")
print(f"worker / model alone: {alone / worker:.1%}   worker peak RSS: {rss / 1024:.0f} MiB")
PY
