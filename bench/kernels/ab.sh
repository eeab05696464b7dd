#!/bin/sh
# Interleaved A/B of the kernel micro-benchmark: Sources/CKernels at git revision BASE (A)
# against the working tree (B), run A B A B ... so that a shared or drifting machine hurts
# both alike; prints every run, then the best and the median GMAC/s of each variant per mode.
# GMAC/s come from the threads' CPU time (ck-bench), so other processes' CPU use matters less
# than in wall time, but cache and memory-bandwidth sharing still do: on a loaded machine
# the figures steer, they are not results.
#
# usage: bench/kernels/ab.sh [--base REV] [--rounds N] [--tokens "64 512"] [--type q8_r] [--modes "stream cache"]
#   modes per token count: "stream" (the 16 layers' matrices, ~1 GB of Q8_R: weights from
#   DRAM, as in the forward pass) and "cache" (one 2048x2048 matrix, 4 MB: weights from L2/L3).
# A round of the defaults takes ~30 s on a quiet machine.
set -e
cd "$(dirname "$0")/../.."
BASE=main; ROUNDS=6; TOKENS="64 512"; TYPE=q8_r; MODES="stream cache"
while [ $# -gt 0 ]; do
  case "$1" in
    --base) BASE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --type) TYPE=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 64 ;;
  esac
done
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ck-ab.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
CFLAGS="-O3 -fno-math-errno -ffp-contract=off"
CC=${CC:-$(command -v clang || echo cc)}
mkdir -p "$OUT/base"
git archive "$BASE" Sources/CKernels | tar -x -C "$OUT/base"
# The benchmark driver is the working tree's for both, so both run the same measurement.
$CC $CFLAGS -I"$OUT/base/Sources/CKernels/include" "$OUT"/base/Sources/CKernels/*.c bench/kernels/bench.c -lpthread -lm -o "$OUT/A"
$CC $CFLAGS -ISources/CKernels/include Sources/CKernels/*.c bench/kernels/bench.c -lpthread -lm -o "$OUT/B"
echo "A = $BASE ($(git rev-parse --short "$BASE")), B = working tree; type $TYPE; load $(cut -d' ' -f1-3 /proc/loadavg)"
gmacs() { # variant mode tokens -> GMAC/s (2 threads)
  if [ "$2" = stream ]; then
    "$OUT/$1" --stream --type "$TYPE" --tokens "$3" | sed -n 's/.*2 threads: \([0-9.]*\) GMAC.*/\1/p'
  else
    "$OUT/$1" --no-ref --type "$TYPE" --shape 2048x2048 --tokens "$3" | awk '$4 == 2 { print $8 }'
  fi
}
r=1
while [ "$r" -le "$ROUNDS" ]; do
  for n in $TOKENS; do
    for mode in $MODES; do
      for v in A B; do
        echo "$v $mode $n $(gmacs $v $mode $n)" | tee -a "$OUT/runs"
      done
    done
  done
  r=$((r + 1))
done
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "variant mode tokens: best median (GMAC/s, $ROUNDS runs)"
sort -k1,1 -k2,2 -k3,3n -k4,4n "$OUT/runs" | awk '
  { key = $1 " " $2 " " $3; v[key, ++c[key]] = $4; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
  END { for (i = 1; i <= k; i++) { key = order[i]; n = c[key]; m = n % 2 ? v[key, (n + 1) / 2] : (v[key, n / 2] + v[key, n / 2 + 1]) / 2
        printf "%-16s best %7.1f  median %7.1f\n", key, v[key, n], m } }'
