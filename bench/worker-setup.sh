# Sourced by the benchmarks that drive a worker against the local broker (bench/front,
# bench/worker): one place for their shared start. Sets
#   root     the repository (also made the working directory)
#   brokers  the local broker's address (scripts/broker.sh start: DUOGUARD_BROKER_PORT etc.)
#   bin      the duoguard binary: $DUOGUARD_BIN, or the release build (built now)
# and defines bench_model PATH [HINT], which exits with a message when the model is missing.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bench_model() {
    [[ -f "$1" ]] || { echo "model $1 not found${2:+ ($2)}" >&2; exit 1; }
}

bench_start() {
    brokers="$(bash scripts/broker.sh start)"
    if [[ -n "${DUOGUARD_BIN:-}" ]]; then
        bin="$DUOGUARD_BIN"
    else
        swift build -c release --product duoguard 2>&1 | tail -n 1
        bin="$(swift build -c release --show-bin-path)/duoguard"
    fi
}
