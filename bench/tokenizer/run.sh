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
tok30="Tests/Fixtures/generated/llama3/tokenizer.json"   # the 9 MB pretty-printed Llama-3.0 file
corpus="Tests/TokenizerTests/Fixtures/parity.jsonl"

bash scripts/prepare-tokenizers.sh >/dev/null
swift build -c release --scratch-path .build-tok --product duoguard >&2
bin=".build-tok/release/duoguard"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

for run in $(seq "$RUNS"); do
    "$bin" tokenize --tokenizer "$tok" --jsonl --bench-repeat "$REPEAT" < "$corpus" >> "$out/swift.jsonl"
    "$bin" tokenize --tokenizer "$tok" --bench-repeat 1 < /dev/null >> "$out/swift-load.jsonl"
    "$bin" tokenize --tokenizer "$tok30" --bench-repeat 1 < /dev/null >> "$out/swift-load30.jsonl"
    .venv/bin/python -c 'import json, sys, time; from tokenizers import Tokenizer
t0, c0 = time.perf_counter(), time.thread_time(); Tokenizer.from_file(sys.argv[1])
print(json.dumps({"load_ms": (time.perf_counter() - t0) * 1000, "load_cpu_ms": (time.thread_time() - c0) * 1000}))' \
        "$tok30" >> "$out/hf-load30.jsonl"
    RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=true \
        .venv/bin/python bench/tokenizer/hf_bench.py "$tok" "$corpus" "$REPEAT" >> "$out/hf.jsonl"
done

.venv/bin/python - "$out" <<'PY'
import json, sys, pathlib, statistics
d = pathlib.Path(sys.argv[1])
rows = lambda name: [json.loads(l) for l in (d / name).read_text().splitlines() if l.strip()]
sw, swl, hf = rows("swift.jsonl"), rows("swift-load.jsonl"), rows("hf.jsonl")
assert all(r["tokens"] == sw[0]["tokens"] for r in sw)
assert hf[0]["tokens"] == sw[0]["tokens"], ("token counts differ", hf[0]["tokens"], sw[0]["tokens"])
best = lambda rows, key: max(r[key] for r in rows)
swift_tps, swift_cpu = best(sw, "tokens_per_s"), best(sw, "cpu_tokens_per_s")
batch_tps, batch_cpu = best(hf, "batch_tokens_per_s"), best(hf, "batch_cpu_tokens_per_s")
loop_tps, loop_cpu = best(hf, "loop_tokens_per_s"), best(hf, "loop_cpu_tokens_per_s")
print(f"corpus: {sw[0]['inputs']} inputs x {sw[0]['repeat']} passes, {sw[0]['tokens']} tokens per measurement; "
      f"best of {len(sw)} runs; wall clock and CPU time (the machine is shared)")
print(f"{'encode, 1 thread':36} {'tokens/s wall':>14} {'Swift/x':>8} {'tokens/s CPU':>14} {'Swift/x':>8}")
for name, w, c in [("Swift duoguard", swift_tps, swift_cpu),
                   ("HF tokenizers encode_batch (1 thr)", batch_tps, batch_cpu),
                   ("HF tokenizers encode loop", loop_tps, loop_cpu)]:
    print(f"{name:36} {w:14,.0f} {swift_tps / w:8.2f} {c:14,.0f} {swift_cpu / c:8.2f}")
med = statistics.median
s30, h30 = rows("swift-load30.jsonl"), rows("hf-load30.jsonl")
print(f"{'load tokenizer.json (ms)':36} {'wall min':>14} {'median':>8} {'CPU min':>14} {'median':>8}")
def load_row(name, rs):
    w, c = [r["load_ms"] for r in rs], [r["load_cpu_ms"] for r in rs]
    print(f"{name:36} {min(w):14.1f} {med(w):8.1f} {min(c):14.1f} {med(c):8.1f}")
load_row("Swift, llama3.2 (7.2 MB compact)", sw + swl)
load_row("HF from_file, llama3.2", hf)
load_row("Swift, llama3 (9.1 MB pretty)", s30)
load_row("HF from_file, llama3", h30)
PY
