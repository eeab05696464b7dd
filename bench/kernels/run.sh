#!/bin/sh
# Builds the kernel micro-benchmark against Sources/CKernels with the package's C flags
# (plus nothing ISA-specific: dispatch is at run time) and runs it next to cpu-peak.
# usage: bench/kernels/run.sh [--quick] [--no-ref] [--shape 2048x2048] [--tokens 64]
set -e
cd "$(dirname "$0")/../.."
OUT=${TMPDIR:-/tmp}/duoguard-ck-bench
mkdir -p "$OUT"
CFLAGS="-O3 -fno-math-errno -ffp-contract=off"
CC=${CC:-$(command -v clang || echo cc)}
$CC $CFLAGS -ISources/CKernels/include Sources/CKernels/*.c bench/kernels/bench.c -lpthread -lm -o "$OUT/ck-bench"
# The shared tools sit beside the checkout (../shared/tools), as in bench/model/run.py.
PEAK_SRC=$(pwd)/../shared/tools/cpu-peak.c
P1=0; P2=0
if [ -f "$PEAK_SRC" ]; then
  cc -O3 -funroll-loops -mavx2 -mfma -pthread "$PEAK_SRC" -o "$OUT/cpu-peak"
  L1=$("$OUT/cpu-peak" 1 | head -1); echo "cpu-peak: $L1"
  L2=$("$OUT/cpu-peak" 2 | head -1); echo "cpu-peak: $L2"
  P1=$(echo "$L1" | sed -n 's/.*int8 maddubs+madd: \([0-9.]*\).*/\1/p')
  P2=$(echo "$L2" | sed -n 's/.*int8 maddubs+madd: \([0-9.]*\).*/\1/p')
fi
# %peak uses the benchmark's own CPU-time measurement of the cpu-peak instruction mix
# (robust on a shared machine); the wall-clock cpu-peak lines above are for reference.
"$OUT/ck-bench" "$@"
