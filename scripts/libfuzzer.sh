#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (+ AddressSanitizer) of the tokenizer: the
# tokenizer.json loader and encoding with the real Llama-3.2 tokenizer. Complements the
# in-process mutation fuzzer (scripts/fuzz.sh), which covers every decoder but is blind.
#
#   bash scripts/libfuzzer.sh [tokenizer-json|tokenizer-encode] [SECONDS]
#
# Builds Tests/LibFuzzer/<entry> with Sources/Tokenizer/*.swift as one module
# (swiftc -sanitize=fuzzer,address), seeds .build/libfuzzer/corpus/<target> from
# Tests/LibFuzzer/seeds.py, and runs for SECONDS (default 600). A crash leaves
# .build/libfuzzer/crash-* (rerun: the binary with that file as its argument) and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-tokenizer-json}"
seconds="${2:-600}"
case "$target" in
  tokenizer-json) entry=Tests/LibFuzzer/TokenizerJSONEntry.swift; max_len=65536 ;;
  tokenizer-encode) entry=Tests/LibFuzzer/TokenizerEncodeEntry.swift; max_len=16384 ;;
  *) echo "unknown target $target (tokenizer-json | tokenizer-encode)"; exit 2 ;;
esac
work=.build/libfuzzer
mkdir -p "$work/corpus"
python3 Tests/LibFuzzer/seeds.py "$work/seeds"
mkdir -p "$work/corpus/$target"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzTokenizer \
  Sources/Tokenizer/*.swift "$entry" -o "$work/$target" 2> >(grep -v "Cannot export local symbol" >&2)
echo "libfuzzer $target: $seconds s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# The encode target's tokenizer (absolute: the run happens in $work).
export DUOGUARD_TOKENIZER_JSON="${DUOGUARD_TOKENIZER_JSON:-$PWD/Tests/Fixtures/generated/llama3.2/tokenizer.json}"
# Swift's backtracer and ASan both want the crash; let libFuzzer/ASan report it.
export SWIFT_BACKTRACE=enable=no
cd "$work"
"./$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
  "corpus/$target" "seeds/$target"
