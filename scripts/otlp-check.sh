#!/usr/bin/env bash
# End-to-end check of the OTLP exporter (package trait OTLP), for real: builds duoguard with
# `--traits OTLP` into .build-otlp, starts a local OTLP/HTTP receiver (scripts/otlp-sink.py,
# decoding with the official opentelemetry-proto bindings), runs a worker against the local
# broker with --otlp-endpoint pointing at it, sends a request carrying a W3C traceparent and
# one with an invalid traceparent, stops the worker (SIGTERM) and checks what the receiver got:
#
#   - POST /v1/traces, Content-Type application/x-protobuf, resource service.name=duoguard-worker;
#   - `process <input>` (consumer) in the request's trace, child of the request's parent span,
#     with the Kafka messaging attributes; `send <output>` (producer), child of it;
#     `inference` (internal) with a link to the process span;
#   - the result record's traceparent is the send span's;
#   - the request with the invalid traceparent is answered and starts a trace of its own;
#   - a request whose traceparent says "not sampled" exports no span, and its trace continues;
#   - a collector that accepts connections and never answers delays neither answers nor exit;
#   - bad --otlp-endpoint values fail at start with a clear message.
#
#   bash scripts/otlp-check.sh      # prints PASS or FAIL with what it saw; exit 0 on PASS
#
# Not part of `swift test` (the default build has no exporter). Needs the broker at
# DUOGUARD_TEST_BROKERS (default 127.0.0.1:9092; `bash scripts/broker.sh start`), kcat,
# the Llama-3.2 tokenizer (scripts/prepare-tokenizers.sh) and PyPI for opentelemetry-proto.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
brokers="${DUOGUARD_TEST_BROKERS:-127.0.0.1:9092}"
scratch="$root/.build-otlp"
started=$(date +%s)

echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== building duoguard with --traits OTLP into .build-otlp"
build_started=$(date +%s)
mkdir -p "$scratch"
if ! swift build --traits OTLP --scratch-path "$scratch" --product duoguard > "$scratch/otlp-check-build.log" 2>&1; then
    tail -n 30 "$scratch/otlp-check-build.log"
    echo "FAIL: the OTLP build failed (log: $scratch/otlp-check-build.log)"
    exit 1
fi
echo "   built in $(( $(date +%s) - build_started )) s (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
bin="$(swift build --traits OTLP --scratch-path "$scratch" --show-bin-path)/duoguard"

venv="$scratch/sink-venv"
if ! "$venv/bin/python" -c "import opentelemetry.proto" 2>/dev/null; then
    echo "== installing opentelemetry-proto into .build-otlp/sink-venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "opentelemetry-proto==1.45.2"
fi

tokenizer="Tests/Fixtures/generated/llama3.2/tokenizer.json"
[[ -f "$tokenizer" ]] || bash scripts/prepare-tokenizers.sh >/dev/null
if ! timeout 10 kcat -b "$brokers" -L -m 5 >/dev/null 2>&1; then
    echo "FAIL: no broker at $brokers (bash scripts/broker.sh start, or set DUOGUARD_TEST_BROKERS)"
    exit 1
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

failures=()
check() { # check <description> <command...>
    local what=$1; shift
    if "$@"; then echo "   ok   $what"; else echo "   FAIL $what"; failures+=("$what"); fi
}

# start_sink <name> [--stall]: an OTLP receiver writing $work/<name>.spans/.requests; sets $endpoint.
start_sink() {
    local name=$1; shift
    "$venv/bin/python" scripts/otlp-sink.py --port-file "$work/$name.port" --spans "$work/$name.spans" \
        --requests "$work/$name.requests" --lifetime 300 "$@" > /dev/null 2> "$work/$name.err" &
    pids+=($!)
    for _ in $(seq 1 100); do [[ -s "$work/$name.port" ]] && break; sleep 0.1; done
    [[ -s "$work/$name.port" ]] || { cat "$work/$name.err"; echo "FAIL: the OTLP sink did not start"; exit 1; }
    touch "$work/$name.spans" "$work/$name.requests"
    endpoint="http://127.0.0.1:$(cat "$work/$name.port")"
}

# start_worker <run> <endpoint>: a worker on <run>-requests -> <run>-results; sets $worker_pid.
start_worker() {
    # The worker never creates topics and refuses to start without its output and dead-letter
    # topics: make them first (the local broker creates a topic a metadata request names).
    for topic in "$1-requests" "$1-results" "$1-dead-letters"; do
        timeout 30 kcat -b "$brokers" -L -t "$topic" >/dev/null 2>&1 || true
    done
    "$bin" worker --brokers "$brokers" --group "$1" --input-topic "$1-requests" --output-topic "$1-results" \
        --dlq-topic "$1-dead-letters" --model "$work/model.gguf" --metrics-port 0 --max-wait-ms 5 \
        --session-timeout-ms 6000 --otlp-endpoint "$2" --log-level info > /dev/null 2> "$work/$1.err" &
    worker_pid=$!
    pids+=("$worker_pid")
}

# await_results <run> <count>: waits ≤ 60 s for <count> results (headers TAB value per line in
# $work/<run>.results); sets $answered_after (seconds, or "never").
await_results() {
    local since=$(date +%s)
    answered_after=never
    for _ in $(seq 1 60); do
        timeout 10 kcat -b "$brokers" -C -t "$1-results" -o beginning -c "$2" -q -e -f '%h\t%s\n' \
            > "$work/$1.results" 2>/dev/null || true
        (( $(wc -l < "$work/$1.results") >= $2 )) && { answered_after=$(( $(date +%s) - since )); return 0; }
        kill -0 "$worker_pid" 2>/dev/null || return 1
        sleep 1
    done
    return 1
}

# stop_worker: SIGTERM, wait ≤ 40 s (then SIGKILL); sets $stop_status and $stopped_after.
stop_worker() {
    local since=$(date +%s)
    stop_status=killed
    kill -TERM "$worker_pid" 2>/dev/null || true
    for _ in $(seq 1 400); do
        if ! kill -0 "$worker_pid" 2>/dev/null; then
            stop_status=0
            wait "$worker_pid" 2>/dev/null || stop_status=$?
            break
        fi
        sleep 0.1
    done
    [[ "$stop_status" == killed ]] && { kill -KILL "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true; }
    stopped_after=$(( $(date +%s) - since ))
}

# measure_warm <run>: answer latency of a warm worker (the first answer includes start-up and
# the group join): 5 requests, each in a sampled trace of its own, one at a time, each
# timed from its send until kcat sees its result (kcat's own start is in the figure); sets
# $warm_latencies (ms) and $warm_max.
measure_warm() {
    warm_latencies=()
    local i sent_ns latency
    for i in 1 2 3 4 5; do
        printf '{"id":"warm-%d","text":"Is this fine?"}\n' "$i" > "$work/warm.json"
        sent_ns=$(date +%s%N)
        timeout 30 kcat -b "$brokers" -P -t "$1-requests" -H content-type=application/json \
            -H "traceparent=00-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')-$parent_id-01" -l "$work/warm.json"
        latency=never
        for _ in $(seq 1 300); do
            if (( $(timeout 10 kcat -b "$brokers" -C -t "$1-results" -o beginning -q -e 2>/dev/null | grep -c '"warm-'"$i"'"') >= 1 )); then
                latency=$(( ($(date +%s%N) - sent_ns) / 1000000 ))
                break
            fi
            sleep 0.05
        done
        warm_latencies+=("$latency")
    done
    warm_max=0
    for latency in "${warm_latencies[@]}"; do
        [[ "$latency" == never ]] && { warm_max=never; break; }
        if (( latency > warm_max )); then warm_max=$latency; fi
    done
    return 0
}

"$bin" convert Tests/InferenceTests/Fixtures/tiny-a --output "$work/model.gguf" --type q8_0 \
    --tokenizer "$tokenizer" >/dev/null

echo "== bad endpoints fail at start"
for bad in "ftp://127.0.0.1:4318" "127.0.0.1:4318" "http://" "http://user:secret@127.0.0.1:4318" "not a url"; do
    status=0
    timeout 60 "$bin" worker --brokers "$brokers" --group otlp-bad --input-topic otlp-bad --output-topic otlp-bad-out \
        --dlq-topic otlp-bad-dlq --model "$work/model.gguf" --metrics-port 0 --otlp-endpoint "$bad" \
        > /dev/null 2> "$work/bad.err" || status=$?
    message="$(grep -m1 -- "--otlp-endpoint" "$work/bad.err" || true)"
    check "'$bad' -> exit $status: ${message:-<no message>}" test "$status" -ne 0 -a "$status" -ne 124 -a -n "$message"
done

echo "== endpoints -> the URL spans are posted to"
map_run="otlp-map-$RANDOM$RANDOM"
for pair in "http://127.0.0.1:4318 http://127.0.0.1:4318/v1/traces" \
            "HTTPS://Collector.example/otlp/ https://Collector.example/otlp/v1/traces" \
            "http://127.0.0.1:4318/v1/traces http://127.0.0.1:4318/v1/traces"; do
    read -r given want <<< "$pair"
    start_worker "$map_run" "$given"
    url=""
    for _ in $(seq 1 300); do
        url="$(sed -n 's/.*otlp.url=\([^ ]*\) .*/\1/p' "$work/$map_run.err" | head -n 1)"
        [[ -n "$url" ]] && break
        kill -0 "$worker_pid" 2>/dev/null || break
        sleep 0.1
    done
    stop_worker
    check "'$given' -> ${url:-<nothing logged>}" test "$url" = "$want"
done

start_sink collector
echo "== OTLP sink at $endpoint"
run="otlp-$RANDOM$RANDOM"
input="$run-requests" output="$run-results"
trace_id="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
parent_id="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
unsampled_id="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
echo "== worker on $input -> $output; request otlp-1 with traceparent 00-$trace_id-$parent_id-01,"
echo "   otlp-2 with an invalid one (00-zzzz-bad-01), otlp-3 not sampled (00-$unsampled_id-$parent_id-00)"
start_worker "$run" "$endpoint"
printf '{"id":"otlp-1","text":"How do I bake sourdough bread?"}\n' > "$work/good.json"
printf '{"id":"otlp-2","text":"Tell me a story."}\n' > "$work/bad.json"
printf '{"id":"otlp-3","text":"What is the capital of France?"}\n' > "$work/unsampled.json"
timeout 30 kcat -b "$brokers" -P -t "$input" -H content-type=application/json \
    -H "traceparent=00-$trace_id-$parent_id-01" -l "$work/good.json"
timeout 30 kcat -b "$brokers" -P -t "$input" -H content-type=application/json \
    -H "traceparent=00-zzzz-bad-01" -l "$work/bad.json"
timeout 30 kcat -b "$brokers" -P -t "$input" -H content-type=application/json \
    -H "traceparent=00-$unsampled_id-$parent_id-00" -l "$work/unsampled.json"
got_results=0
await_results "$run" 3 && got_results=1
result_traceparent="$(grep '"otlp-1"' "$work/$run.results" | cut -f1 | tr ',' '\n' | sed -n 's/^traceparent=//p' | tail -n 1)"
unsampled_traceparent="$(grep '"otlp-3"' "$work/$run.results" | cut -f1 | tr ',' '\n' | sed -n 's/^traceparent=//p' | tail -n 1)"
echo "   result headers of otlp-1: $(grep '"otlp-1"' "$work/$run.results" | cut -f1)"
echo "   result headers of otlp-3: $(grep '"otlp-3"' "$work/$run.results" | cut -f1)"
measure_warm "$run"
healthy_latencies="${warm_latencies[*]}" healthy_max=$warm_max
echo "   warm answers with a healthy collector: $healthy_latencies ms (max $healthy_max ms)"
echo "== stopping the worker (SIGTERM)"
stop_worker
main_stop_status=$stop_status main_stopped_after=$stopped_after
# Spans come with the periodic export (every 5 s) or the flush at shutdown; the worker has
# exited, so whatever was exported has arrived; a short grace for the sink's file write.
for _ in $(seq 1 30); do grep -q '"process ' "$work/collector.spans" && break; sleep 0.1; done

echo "== export requests the sink received"
sed 's/^/   /' "$work/collector.requests"
echo "== spans"
"$venv/bin/python" - "$work/collector.spans" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    s = json.loads(line)
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(s["attributes"].items()))
    links = " links=" + ",".join(f'{l["trace_id"]}/{l["span_id"]}' for l in s["links"]) if s["links"] else ""
    print(f'   {s["name"]:<28} {s["kind"]:<18} trace={s["trace_id"]} span={s["span_id"]} parent={s["parent_span_id"] or "-"}{links}')
    print(f'   {"":<28} {attributes}  [{s["resource"].get("service.name")}]')
PY

echo "== a collector that never answers"
start_sink hung --stall
hung_run="otlp-hung-$RANDOM$RANDOM"
start_worker "$hung_run" "$endpoint"
timeout 30 kcat -b "$brokers" -P -t "$hung_run-requests" -H content-type=application/json \
    -H "traceparent=00-$trace_id-$parent_id-01" -l "$work/good.json"
hung_answered=0
await_results "$hung_run" 1 && hung_answered=1
hung_answered_after=$answered_after
sleep 6 # past the first periodic export, which now hangs
measure_warm "$hung_run"
stop_worker
echo "   first answer (start-up and group join included) after ${hung_answered_after} s; warm answers while exports hang:" \
    "${warm_latencies[*]} ms (max $warm_max ms, polled with kcat); SIGTERM -> exit $stop_status after" \
    "$stopped_after s; export attempts: $(wc -l < "$work/hung.requests")"

echo "== checks"
check "the worker answered all 3 requests" test "$got_results" -eq 1
check "SIGTERM -> exit $main_stop_status after $main_stopped_after s" test "$main_stop_status" = 0
"$venv/bin/python" - "$work/collector.spans" "$work/collector.requests" "$trace_id" "$parent_id" "$input" "$output" \
    "$result_traceparent" "$unsampled_id" "$unsampled_traceparent" > "$work/verdicts" <<'PY' || true
import json, sys
spans_file, requests_file, trace_id, parent_id, input_topic, output_topic, result_tp, unsampled_id, unsampled_tp = sys.argv[1:]
spans = [json.loads(l) for l in open(spans_file)]
requests = [json.loads(l) for l in open(requests_file)]
def verdict(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
verdict(requests and all(r["path"] == "/v1/traces" and r["content_type"] == "application/x-protobuf" and "error" not in r for r in requests),
        f"{len(requests)} export request(s), all POST /v1/traces with application/x-protobuf, decoded")
verdict(spans and all(s["resource"].get("service.name") == "duoguard-worker" for s in spans),
        "resource service.name=duoguard-worker on every span")
def one(name):
    found = [s for s in spans if s["name"] == name and s["trace_id"] == trace_id]
    return found[0] if len(found) == 1 else None
process, send = one(f"process {input_topic}"), one(f"send {output_topic}")
verdict(process is not None, f"one 'process {input_topic}' span in trace {trace_id}")
verdict(send is not None, f"one 'send {output_topic}' span in trace {trace_id}")
if process:
    verdict(process["parent_span_id"] == parent_id and process["kind"] == "SPAN_KIND_CONSUMER",
            f"process span: consumer, child of the request's parent span {parent_id}")
    a = process["attributes"]
    verdict(a.get("messaging.system") == "kafka" and a.get("messaging.destination.name") == input_topic
            and a.get("messaging.kafka.offset") == 0 and "messaging.destination.partition.id" in a
            and "messaging.consumer.group.name" in a,
            "process span: messaging.system=kafka, destination name, partition id, consumer group, offset 0")
if process and send:
    verdict(send["parent_span_id"] == process["span_id"] and send["kind"] == "SPAN_KIND_PRODUCER",
            "send span: producer, child of the process span")
    verdict(result_tp == f"00-{trace_id}-{send['span_id']}-01",
            f"result record's traceparent ({result_tp or 'none'}) is the send span's")
inference = [s for s in spans if s["name"] == "inference"
             and any(process and l["trace_id"] == trace_id and l["span_id"] == process["span_id"] for l in s["links"])]
verdict(len(inference) == 1 and inference[0]["kind"] == "SPAN_KIND_INTERNAL"
        and inference[0]["attributes"].get("duoguard.batch.requests") == len(inference[0]["links"]),
        "one 'inference' span (internal) linked to the process span, one link per request of its batch")
# (the warm-latency requests carry trace contexts of their own: they have a parent)
fresh = [s for s in spans if s["name"] == f"process {input_topic}" and s["trace_id"] != trace_id and s["parent_span_id"] == ""]
verdict(len(fresh) == 1,
        "the request with an invalid traceparent: a process span of its own new trace (no parent)")
verdict(not any(s["trace_id"] == unsampled_id for s in spans)
        and unsampled_tp.startswith(f"00-{unsampled_id}-") and unsampled_tp.endswith("-00"),
        f"the not-sampled request: no span exported, its result's traceparent ({unsampled_tp or 'none'}) continues its trace, not sampled")
PY
while read -r line; do
    [[ "$line" == ok* ]] && echo "   $line" || { echo "   $line"; failures+=("${line#FAIL }"); }
done < "$work/verdicts"
[[ -s "$work/verdicts" ]] || failures+=("the span checks did not run")
check "hung collector: the request was answered (after $hung_answered_after s)" test "$hung_answered" -eq 1
check "hung collector: SIGTERM -> exit $stop_status after $stopped_after s (bound 40 s)" test "$stop_status" = 0
# Not delayed: no slower than with a healthy collector, with 1 s for a loaded machine's noise
# (a hung export holding answers would add its 10 s export timeout).
check "hung collector: warm answers not delayed (max $warm_max ms; healthy collector max $healthy_max ms, + 1000 ms allowed)" \
    test "$warm_max" != never -a "$healthy_max" != never -a "${warm_max/never/0}" -le $(( ${healthy_max/never/0} + 1000 ))

warnings="$(grep -c -F "Failed to extract span context" "$work/$run.err" || true)"
if ((warnings)); then
    echo "== note: swift-otel logged $warnings 'Failed to extract span context' warning(s) for the invalid"
    echo "   traceparent, each carrying every header of the record ($(grep -F "Failed to extract span context" "$work/$run.err" | head -n 1 | wc -c) bytes):"
    echo "   (a record with big headers makes a big log line: the worker should hand the tracer only validated trace headers)"
fi
echo "== took $(( $(date +%s) - started )) s; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#failures[@]})); then
    echo "FAIL: ${#failures[@]} check(s) failed:"
    printf '   %s\n' "${failures[@]}"
    echo "   worker log:"; tail -n 20 "$work/$run.err" | cut -c1-300 | sed 's/^/   /'
    exit 1
fi
echo "PASS: spans of trace $trace_id exported over OTLP/HTTP and decoded (process, inference, send)"
