#!/usr/bin/env bash
# Tokenizer benchmark: Swift `duoguard tokenize` vs HF `tokenizers` (Rust), side by side in one
# run, single thread, on the parity corpus (Tests/TokenizerTests/Fixtures/parity.jsonl).
# Prints encode throughput (tokens/s) and tokenizer.json load time, with ratios.
#   REPEAT=20 RUNS=3 bash bench/tokenizer/run.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
REPEAT="${REPEAT:-20}"   # passes over the corpus per measurement
RUNS="${RUNS:-3}"        # measurements per side; the best is reported (least disturbed by neighbours)
tok="Tests/Fixtures/generated/llama3.2/tokenizer.json"
corpus="Tests/TokenizerTests/Fixtures/parity.jsonl"

bash scripts/prepare-tokenizers.sh >/dev/null
swift build -c release --scratch-path .build-tok --product duoguard >&2
bin=".build-tok/release/duoguard"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

for run in $(seq "$RUNS"); do
    "$bin" tokenize --tokenizer "$tok" --jsonl --bench-repeat "$REPEAT" < "$corpus" >> "$out/swift.jsonl"
    "$bin" tokenize --tokenizer "$tok" --bench-repeat 1 < /dev/null >> "$out/swift-load.jsonl"
    RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=true \
        .venv/bin/python bench/tokenizer/hf_bench.py "$tok" "$corpus" "$REPEAT" >> "$out/hf.jsonl"
done

.venv/bin/python - "$out" <<'PY'
import json, sys, pathlib, statistics, platform
d = pathlib.Path(sys.argv[1])
rows = lambda name: [json.loads(l) for l in (d / name).read_text().splitlines() if l.strip()]
sw, swl, hf = rows("swift.jsonl"), rows("swift-load.jsonl"), rows("hf.jsonl")
assert all(r["tokens"] == sw[0]["tokens"] for r in sw)
assert hf[0]["tokens"] == sw[0]["tokens"], ("token counts differ", hf[0]["tokens"], sw[0]["tokens"])
swift_tps = max(r["tokens_per_s"] for r in sw)
batch_tps = max(r["batch_tokens_per_s"] for r in hf)
loop_tps = max(r["loop_tokens_per_s"] for r in hf)
swift_load = [r["load_ms"] for r in sw + swl]
hf_load = [r["load_ms"] for r in hf]
print(f"corpus: {sw[0]['inputs']} inputs x {sw[0]['repeat']} passes, {sw[0]['tokens']} tokens per measurement; "
      f"best of {len(sw)} runs; {platform.processor() or platform.machine()}")
print(f"{'':34} {'tokens/s':>12} {'Swift / this':>13}")
print(f"{'Swift duoguard (1 thread)':34} {swift_tps:12,.0f} {1.0:13.2f}")
print(f"{'HF tokenizers encode_batch (1 thr)':34} {batch_tps:12,.0f} {swift_tps / batch_tps:13.2f}")
print(f"{'HF tokenizers encode loop':34} {loop_tps:12,.0f} {swift_tps / loop_tps:13.2f}")
print(f"{'load tokenizer.json':34} {'min ms':>12} {'median ms':>13}")
print(f"{'Swift':34} {min(swift_load):12.1f} {statistics.median(swift_load):13.1f}")
print(f"{'HF tokenizers (Tokenizer.from_file)':34} {min(hf_load):12.1f} {statistics.median(hf_load):13.1f}")
PY
