#!/usr/bin/env bash
# Long fuzzing run of every FuzzTests target, each in its own test process, so that a crash
# in one (which ends its process) does not hide the others.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [FILTER]
#
# SECONDS_PER_TARGET defaults to $DUOGUARD_FUZZ_SECONDS or 600. FILTER (a regex over the
# target names below) picks targets. The seed is $DUOGUARD_FUZZ_SEED or a fresh one (printed),
# so each long run explores new cases; rerun a crash with the printed seed, or replay its
# saved input: DUOGUARD_FUZZ_REPLAY=.build/fuzz-crashes/NAME-seedS.crash swift test --filter TEST.
# Exits non-zero if any target crashed, hung or failed.
set -uo pipefail
cd "$(dirname "$0")/.."

per_target="${1:-${DUOGUARD_FUZZ_SECONDS:-600}}"
filter="${2:-.}"
seed="${DUOGUARD_FUZZ_SEED:-$(date +%s)}"
targets=(
  RequestFuzzTests/testRequestJSON
  RequestFuzzTests/testRequestProtobuf
  RequestFuzzTests/testHeaders
  ModelFileFuzzTests/testGGUF
  ModelFileFuzzTests/testSafetensors
  ModelFileFuzzTests/testConfigJSON
  TokenizerFuzzTests/testTokenizerJSON
  TokenizerFuzzTests/testEncodeLlama32
)

swift build --build-tests -Xcc -O2 >/dev/null || { echo "build failed"; exit 2; }
logs=".build/fuzz-logs"
mkdir -p "$logs"
echo "fuzz: seed $seed, $per_target s per target; load average $(cut -d' ' -f1-3 /proc/loadavg)"
failed=0
for t in "${targets[@]}"; do
  [[ "$t" =~ $filter ]] || continue
  log="$logs/${t//\//-}.log"
  # The harness bounds each case (DUOGUARD_FUZZ_CASE_TIMEOUT); this bounds the process.
  timeout --kill-after=30 $((per_target + 600)) env DUOGUARD_FUZZ_SECONDS="$per_target" DUOGUARD_FUZZ_SEED="$seed" \
    swift test --skip-build --filter "FuzzTests.$t" >"$log" 2>&1
  status=$?
  line=$(grep -h "^fuzz " "$log" | tail -1)
  if [[ $status -eq 0 ]]; then
    echo "ok    $line"
  else
    failed=1
    echo "FAIL  $t (exit $status): $(grep -h -E '^fuzz: target|error:' "$log" | head -3)"
    echo "      log: $log"
  fi
done
echo "fuzz: done; load average $(cut -d' ' -f1-3 /proc/loadavg)"
exit $failed
