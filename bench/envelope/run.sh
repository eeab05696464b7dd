#!/usr/bin/env bash
# Per-request cost of RequestEnvelope.open / ResultEnvelope.seal (bench/EnvelopeBench), in a
# release build. Needs no Package.swift target: it builds a throw-away package in
# .build-envelope-bench/ (gitignored) from the ModerationProto sources and the bench.
#
#   bash bench/envelope/run.sh [ITERATIONS]     (default 200000)
#   bash bench/envelope/run.sh --instructions   instructions per call of each measurement,
#       counted by valgrind (callgrind): the difference between 3,000 and 1,000 calls, /2,000,
#       so start-up and set-up cancel out; repeatable whatever else the machine does.
#
# Run with nothing else heavy on the machine; the load average is printed before and after.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$root/.build-envelope-bench"
mkdir -p "$work/Sources"
ln -sfn "$root/Sources/ModerationProto" "$work/Sources/ModerationProto"
ln -sfn "$root/Sources/JSONScanning" "$work/Sources/JSONScanning"
ln -sfn "$root/Sources/KafkaHeaders" "$work/Sources/KafkaHeaders"
ln -sfn "$root/bench/EnvelopeBench" "$work/Sources/EnvelopeBench"
cat > "$work/Package.swift" <<'SWIFT'
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "envelope-bench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0")],
    targets: [
        .target(name: "JSONScanning"),
        .target(name: "KafkaHeaders"),
        .target(name: "ModerationProto", dependencies: ["JSONScanning", "KafkaHeaders", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .executableTarget(name: "EnvelopeBench", dependencies: ["ModerationProto", "KafkaHeaders"]),
    ]
)
SWIFT
cd "$work"
swift build -c release --product EnvelopeBench >/dev/null
bench="$(swift build -c release --show-bin-path)/EnvelopeBench"
if [[ "${1:-}" != --instructions ]]; then
    exec "$bench" "$@"
fi
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
count() {  # instructions of one run of measurement $1 with $2 calls
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" "$2" --only "$1" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "measurement   instructions per call   (open-N: RequestEnvelope.open, full-N: open + decodeRequest,"
echo "              bare-N: ModerationCodec.decodeRequest alone, seal-N: ResultEnvelope.seal; N as in the timed table)"
for name in $("$bench" 1 --list); do
    low=$(count "$name" 1000)
    high=$(count "$name" 3000)
    printf "%-12s  %10d\n" "$name" $(( (high - low) / 2000 ))
done
