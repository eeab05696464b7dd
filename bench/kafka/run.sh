#!/usr/bin/env bash
# Kafka transport throughput: the project's Kafka wrapper vs kcat (both librdkafka), side by
# side on the same broker, same message count and size. Prints a table with ratios.
#
#   bash bench/kafka/run.sh [COUNT] [SIZE]      (defaults: 50000 messages of 200 bytes)
#
# Uses the local broker (scripts/broker.sh) unless DUOGUARD_BENCH_BROKERS is set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
count="${1:-50000}"
size="${2:-200}"
brokers="${DUOGUARD_BENCH_BROKERS:-$(bash scripts/broker.sh start)}"
swift build -c release --product kafka-bench >/dev/null
bench="$(swift build -c release --show-bin-path)/kafka-bench"
py="$root/.venv/bin/python"

create_topic() {  # kcat cannot create topics; the wrapper's first produce would auto-create,
    # but an explicit topic keeps both runs identical (4 partitions).
    "$py" - "$brokers" "$1" <<'PY'
import socket, struct, sys
host, port = sys.argv[1].split(":")
name = sys.argv[2].encode()
# CreateTopics v0: [topic name, partitions=4, replication=1, no assignments, no configs], timeout
body = struct.pack(">i", 1) + struct.pack(">h", len(name)) + name + struct.pack(">ihii", 4, 1, 0, 0) + struct.pack(">i", 10000)
header = struct.pack(">hhih", 19, 0, 7, 5) + b"bench"
frame = header + body
with socket.create_connection((host, int(port))) as s:
    s.sendall(struct.pack(">i", len(frame)) + frame)
    length = struct.unpack(">i", s.recv(4))[0]
    data = b""
    while len(data) < length:
        data += s.recv(length - len(data))
PY
}

ours_topic="bench-ours-$RANDOM$RANDOM"
kcat_topic="bench-kcat-$RANDOM$RANDOM"
create_topic "$ours_topic"
create_topic "$kcat_topic"

payload="$(head -c "$size" < /dev/zero | tr '\0' 'x')"
file="$(mktemp)"
trap 'rm -f "$file"' EXIT
for ((i = 0; i < count; i++)); do echo "$payload"; done > "$file"

# Produce: each client to its own topic. Consume: each client reads both topics, so the
# comparison does not depend on how each producer happened to batch.
ours_produce="$("$bench" produce "$brokers" "$ours_topic" "$count" "$size")"
t0=$(date +%s.%N)
kcat -b "$brokers" -P -t "$kcat_topic" -X enable.idempotence=true -X linger.ms=5 -l "$file"
kcat_produce="$(echo "$(date +%s.%N) - $t0" | bc)"

kcat_consume() {  # seconds for kcat to read COUNT messages of topic $1 (includes its connect)
    local t0; t0=$(date +%s.%N)
    kcat -b "$brokers" -C -t "$1" -o beginning -c "$count" -q -f '.' >/dev/null
    echo "$(date +%s.%N) - $t0" | bc
}
ours_consume_a="$("$bench" consume "$brokers" "$ours_topic" "$count")"
kcat_consume_a="$(kcat_consume "$ours_topic")"
ours_consume_b="$("$bench" consume "$brokers" "$kcat_topic" "$count")"
kcat_consume_b="$(kcat_consume "$kcat_topic")"

COUNT="$count" SIZE="$size" "$py" - "$ours_produce" "$kcat_produce" "$ours_consume_a" "$kcat_consume_a" "$ours_consume_b" "$kcat_consume_b" <<'PY'
import os, sys
count = int(os.environ["COUNT"])
op, kp, oca, kca, ocb, kcb = (float(x) for x in sys.argv[1:])
print(f"{count} messages of {os.environ['SIZE']} bytes, same broker, same run")
print(f"{'':36}{'duoguard Kafka':>16}{'kcat':>12}{'ratio':>8}")
def row(name, ours, theirs):
    print(f"{name:36}{count/ours:16,.0f}{count/theirs:12,.0f}{theirs/ours:8.2f}")
row("produce, all acked (msg/s)", op, kp)
row("consume topic written by us (msg/s)", oca, kca)
row("consume topic written by kcat (msg/s)", ocb, kcb)
print("consume: ours is timed from the first message (group join excluded); kcat's includes its connect")
PY
