#!/bin/sh
# Interleaved A/B of the whole forward pass: two built `duoguard` binaries, `duoguard bench`
# run A B A B ... on the same model and points, so that a shared or drifting machine hurts both
# alike; prints every run, then the best and the median of each variant per point. The figure
# is `cpu_tokens_per_s` (tokens per second of the process's CPU time divided by the threads):
# other processes time-slicing the machine count less than in wall time, cache and memory
# sharing still do. On a loaded machine the figures steer, they are not results
# (bench/model/run.py on a quiet machine gives those).
#
# usage: bench/model/ab.sh A_BINARY B_BINARY [--rounds N] [--points "64:64 64:512 512:512"]
#                          [--model models/random-1b-f16.gguf] [--weight-format q8_r] [--threads 2]
#   a point L:N classifies requests of L tokens, N tokens in all (forward passes of up to
#   min(N, 2048) tokens: 64:64 is one 64-token pass, 64:512 eight requests in one 512-token pass).
# Each run loads the model (packed weights beside it, shared by A and B when the layout is the
# same); a round of the defaults takes ~40 s on a quiet machine.
set -e
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n 2,14p "$0" >&2; exit 64; }
A=$1; B=$2; shift 2
ROUNDS=4; POINTS="64:64 64:512 512:512"; MODEL=models/random-1b-f16.gguf; FORMAT=q8_r; THREADS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --points) POINTS=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --weight-format) FORMAT=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 64 ;;
  esac
done
OUT=$(mktemp -d "${TMPDIR:-/tmp}/duoguard-ab.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
echo "A = $A, B = $B; $MODEL --weight-format $FORMAT, $THREADS threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
rate() { # binary L N -> cpu tokens/s (best of the repeats inside the process)
  reps=3; [ "$3" -lt 512 ] && reps=8
  "$1" bench --model "$MODEL" --weight-format "$FORMAT" --threads "$THREADS" --lengths "$2" --tokens "$3" \
    --repeats "$reps" --packed-weights beside | sed -n 's/.*"cpu_tokens_per_s":\([0-9.]*\).*/\1/p'
}
r=1
while [ "$r" -le "$ROUNDS" ]; do
  for pt in $POINTS; do
    L=${pt%%:*}; N=${pt#*:}
    for v in A B; do
      bin=$A; [ "$v" = B ] && bin=$B
      echo "$v $L:$N $(rate "$bin" "$L" "$N")" | tee -a "$OUT/runs"
    done
  done
  r=$((r + 1))
done
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "variant L:tokens: best median (cpu tokens/s, $ROUNDS runs)"
sort -k1,1 -k2,2 -k3,3n "$OUT/runs" | awk '
  { key = $1 " " $2; v[key, ++c[key]] = $3; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
  END { for (i = 1; i <= k; i++) { key = order[i]; n = c[key]; m = n % 2 ? v[key, (n + 1) / 2] : (v[key, n / 2] + v[key, n / 2 + 1]) / 2
        printf "%-12s best %7.1f  median %7.1f\n", key, v[key, n], m } }'
