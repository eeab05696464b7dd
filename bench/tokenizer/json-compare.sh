#!/usr/bin/env bash
# JSONReader (the tokenizer's streaming parser) against Foundation's JSONSerialization on the
# real Llama-3 tokenizer.json files: load time and peak RSS, each variant in a fresh process.
#   RUNS=7 bash bench/tokenizer/json-compare.sh
# Results are recorded in docs/tokenizer.md ("Why a hand-written JSON reader").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
RUNS="${RUNS:-7}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# JSONScanning is its own module, as in the package: the reader reaches the tokenizer across a
# module boundary (its @inlinable code is specialised into the tokenizer), so measure it that way.
(cd "$out" && swiftc -O -parse-as-library -module-name JSONScanning -emit-module -emit-library -static \
  "$root"/Sources/JSONScanning/*.swift -o "$out/libJSONScanning.a")
swiftc -O -parse-as-library -module-name JSONCompare -I "$out" -L "$out" -lJSONScanning \
  Sources/Tokenizer/*.swift bench/tokenizer/JSONCompare.swift -o "$out/json-compare"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for file in Tests/Fixtures/generated/llama3.2/tokenizer.json Tests/Fixtures/generated/llama3/tokenizer.json; do
  echo "== $file ($(stat -c %s "$file") bytes)"
  for mode in reader foundation foundation-parse; do
    # Time: RUNS loads in one process (best and median); memory: one load in a fresh process.
    time_line="$("$out/json-compare" "$mode" "$file" "$RUNS")"
    mem_line="$("$out/json-compare" "$mode" "$file" 1)"
    python3 - "$time_line" "$mem_line" <<'PY'
import json, sys
t, m = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"  {t['mode']:17} wall min {t['wall_ms_min']:7.1f} ms  median {t['wall_ms_median']:7.1f} ms   "
      f"CPU min {t['cpu_ms_min']:7.1f} ms  median {t['cpu_ms_median']:7.1f} ms   "
      f"peak RSS {m['peak_rss_kb'] / 1024:6.1f} MiB (process baseline {m['baseline_rss_kb'] / 1024:.1f})   ids {t['sample_ids'][:6]}")
PY
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
