#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: starts the local Kafka broker, builds
# duoguard, makes a model, starts a worker, sends multilingual moderation requests, prints
# the results as a table, and cleans up.
#
#   bash scripts/demo.sh
#
# Model: DUOGUARD_MODEL may point to a converted .gguf or to the published Hugging Face
# directory of DuoGuard-1B-Llama-3.2-transfer (converted here to Q8_0). Without it, the
# committed DEMO classifier Tests/Fixtures/demo/duoguard-demo-tiny.gguf is used: DuoGuard's
# architecture at toy size, trained by scripts/demo-model/train.py on the repository's own
# template texts (docs/model.md). It gets requests like the ones it was taught right; it is
# not DuoGuard and not a moderation model for real traffic.
# The broker is scripts/broker.sh's (DUOGUARD_BROKER_PORT / DUOGUARD_TANSU_PORT choose its ports).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/system-deps.sh
bash scripts/python-env.sh
echo "== building duoguard"
swift build --product duoguard -Xcc -O2 2>&1 | tail -n 1
bin="$(swift build --show-bin-path)/duoguard"

work="$(mktemp -d)"
started_broker=0
worker_pid=""
cleanup() {
    [[ -n "$worker_pid" ]] && kill -TERM "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null || true
    ((started_broker)) && bash scripts/broker.sh stop >/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if ! brokers="$(bash scripts/broker.sh status 2>/dev/null)"; then
    brokers="$(bash scripts/broker.sh start)"
    started_broker=1
fi
echo "== broker at $brokers"

model="${DUOGUARD_MODEL:-}"
if [[ -z "$model" ]]; then
    echo "== model: duoguard-demo-tiny, a toy DEMO classifier (4 M parameters, trained on the repository's"
    echo "   template texts; docs/model.md) — NOT DuoGuard. Set DUOGUARD_MODEL for the real model."
    model="Tests/Fixtures/demo/duoguard-demo-tiny.gguf"
elif [[ -d "$model" ]]; then
    echo "== model: converting $model to Q8_0"
    "$bin" convert "$model" --output "$work/model.gguf" --type q8_0
    model="$work/model.gguf"
fi

run="demo-$RANDOM"
# The worker never creates topics (a requester's reply-to must not be able to), so the demo
# makes its three topics first, as an operator would: here through the local broker's
# auto-creation on a metadata request that names them.
for topic in "$run-requests" "$run-results" "$run-dead-letters"; do
    kcat -b "$brokers" -L -t "$topic" >/dev/null
done
"$bin" worker --brokers "$brokers" --group "$run" --input-topic "$run-requests" \
    --output-topic "$run-results" --dlq-topic "$run-dead-letters" --model "$model" \
    --metrics-port 0 --session-timeout-ms 6000 --log-level warning &
worker_pid=$!

echo "== sending requests to $run-requests"
# The sample texts (multilingual, safe and unsafe; none of them is a training text of the demo
# model) are Tests/Fixtures/demo/sample-texts.json, which DemoModelTests also checks.
"$root/.venv/bin/python" - Tests/Fixtures/demo/sample-texts.json "$work/requests.jsonl" <<'PY'
import json, sys
samples = json.load(open(sys.argv[1], encoding="utf-8"))
with open(sys.argv[2], "w") as f:
    for i, sample in enumerate(samples):
        f.write(json.dumps({"id": f"demo-{i}-{sample['lang']}", "text": sample["text"]}, ensure_ascii=False) + "\n")
PY
kcat -b "$brokers" -P -t "$run-requests" -H content-type=application/json -l "$work/requests.jsonl"
count=$(wc -l < "$work/requests.jsonl")

echo "== waiting for results from $run-results"
kcat -b "$brokers" -C -t "$run-results" -o beginning -c "$count" -q -e -f '%s\n' 2>/dev/null > "$work/results.jsonl" || true
for _ in $(seq 1 60); do
    [[ $(wc -l < "$work/results.jsonl") -ge $count ]] && break
    sleep 1
    kcat -b "$brokers" -C -t "$run-results" -o beginning -c "$count" -q -e -f '%s\n' 2>/dev/null > "$work/results.jsonl" || true
done
"$root/.venv/bin/python" - "$work/requests.jsonl" "$work/results.jsonl" <<'PY'
import json, sys
texts = {r["id"]: r["text"] for r in map(json.loads, open(sys.argv[1]))}
rows = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
print(f"{'request':14} {'verdict':7} {'max p':>6}  {'top category':26} text")
for r in sorted(rows, key=lambda r: int(r["requestId"].split("-")[1])):
    scores = r.get("scores", [])
    top = max(scores, key=lambda s: s.get("probability", 0)) if scores else {"name": "-"}
    verdict = "UNSAFE" if r.get("unsafe") else "safe"
    text = texts.get(r["requestId"], "")
    # Below the threshold the largest of twelve small probabilities names nothing: not shown.
    category = top["name"] if r.get("unsafe") else "-"
    print(f"{r['requestId']:14} {verdict:7} {r.get('maxProbability', 0):6.3f}  {category:26} {text[:48]}")
model = rows[0]["model"] if rows else {}
print(f"\n{len(rows)} results · model {model.get('name')} {model.get('quantization')} · worker {rows[0].get('workerId') if rows else '-'}")
if str(model.get("name", "")).startswith("duoguard-demo"):
    print("(the demo model: a toy trained on template texts, not DuoGuard; docs/model.md has its held-out accuracy)")
PY
