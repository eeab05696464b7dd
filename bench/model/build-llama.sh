#!/bin/sh
# Builds the three llama.cpp tools the model benchmark compares against (llama-bench,
# llama-embedding, llama-quantize) from the llama.cpp vendored in the llama-cpp-python sdist,
# with GGML_NATIVE=ON (every ISA extension of this CPU), into a git-ignored folder.
# Only those targets and their libraries are built (~10 minutes on 2 cores), not the Python
# package (40+ minutes: mtmd, server, ...). Nothing of llama.cpp is ever committed.
#
# usage: bench/model/build-llama.sh            # prints the bin directory on its last line
#   LLAMA_BUILD_DIR   where to build (default: .build-llama, ignored by git)
#   LLAMA_CPP_PYTHON  sdist version (default 0.3.36, the one measured in docs/benchmarks.md)
#   LLAMA_AVX2_ONLY=1 build for AVX2/FMA/F16C only (GGML_NATIVE=OFF, no AVX-512/VNNI), into
#                     .build-llama-avx2 by default: the peer of `DUOGUARD_KERNELS=avx2` (what
#                     users of pre-AVX-512 machines get)
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
ISA="-DGGML_NATIVE=ON"
DEFAULT_OUT=$ROOT/.build-llama
if [ "${LLAMA_AVX2_ONLY:-0}" = 1 ]; then
    ISA="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
         -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF"
    DEFAULT_OUT=$ROOT/.build-llama-avx2
fi
OUT=${LLAMA_BUILD_DIR:-$DEFAULT_OUT}
VERSION=${LLAMA_CPP_PYTHON:-0.3.36}
BIN=$OUT/build/bin
TOOLS="llama-bench llama-embedding llama-quantize"

have_all() {
    for t in $TOOLS; do [ -x "$BIN/$t" ] || return 1; done
}
if have_all; then
    echo "$BIN"
    exit 0
fi

command -v cmake >/dev/null || { echo "cmake is missing: apt-get install -y cmake" >&2; exit 1; }
mkdir -p "$OUT"
SDIST=$OUT/llama_cpp_python-$VERSION.tar.gz
if [ ! -f "$SDIST" ]; then
    PIP=$ROOT/.venv/bin/pip
    [ -x "$PIP" ] || PIP=pip3
    "$PIP" download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$OUT" >&2
fi
SRC=$OUT/llama_cpp_python-$VERSION/vendor/llama.cpp
if [ ! -f "$SRC/CMakeLists.txt" ]; then
    tar -xzf "$SDIST" -C "$OUT" "llama_cpp_python-$VERSION/vendor/llama.cpp"
fi
GEN=""
command -v ninja >/dev/null && GEN="-G Ninja"
# shellcheck disable=SC2086
cmake -S "$SRC" -B "$OUT/build" $GEN -DCMAKE_BUILD_TYPE=Release \
    $ISA -DGGML_OPENMP=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >&2
# shellcheck disable=SC2086
cmake --build "$OUT/build" --target $TOOLS -j "$(nproc)" >&2
have_all || { echo "build finished without all of: $TOOLS" >&2; exit 1; }
echo "$BIN"
