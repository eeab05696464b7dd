#!/usr/bin/env python3
"""End-to-end check of the gRPC service (issue 22) with a client this project did not write:
Python `grpcio`, stubs generated here from proto/ by grpcio-tools, against a `duoguard serve`
started here (real Llama-3 tokenizer, the tiny fixture model). Checks:

- Classify scores equal the HTTP API's native route for the same text (one model, one front
  door); ClassifyStream answers in order with a status per request;
- errors as gRPC status codes: empty text, oversize text, bad threshold (INVALID_ARGUMENT),
  expired deadline (DEADLINE_EXCEEDED, shed by the server: its expired counter moves), over
  capacity (RESOURCE_EXHAUSTED), invalid protobuf bytes (refused; the server keeps serving);
- grpc.health.v1.Health/Check: SERVING; Watch: SERVING at once, SERVICE_UNKNOWN for another
  name, and NOT_SERVING then the stream's end when the server stops (a watch does not hold
  the shutdown); 1,000 idle connections: a call still answered.

    python3 scripts/grpc-client-check.py .build/debug/duoguard MODEL.gguf
"""
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
from grpc_tools import protoc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client_check_support import check, finish, free_port, stop  # noqa: E402

binary, model = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


stubs = tempfile.mkdtemp(prefix="duoguard-grpc-stubs-")
proto_root = os.path.join(root, "proto")
code = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={stubs}", f"--grpc_python_out={stubs}",
                    "duoguard/moderation/v1/moderation.proto"])
if code != 0:
    raise SystemExit("FAIL grpcio-tools could not compile proto/")
sys.path.insert(0, stubs)
from duoguard.moderation.v1 import moderation_pb2 as pb  # noqa: E402
from duoguard.moderation.v1 import moderation_pb2_grpc as rpc  # noqa: E402

http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
log = tempfile.NamedTemporaryFile(prefix="duoguard-serve-grpc-", suffix=".log", delete=False)
process = subprocess.Popen(
    [binary, "serve", "--model", model, "--threads", "1", "--http-host", "127.0.0.1", "--http-port", str(http_port),
     "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port), "--metrics-host", "127.0.0.1", "--metrics-port",
     str(metrics_port), "--max-text-bytes", "1000", "--max-sync-requests", "2", "--max-wait-ms", "300"],
    stdout=log, stderr=subprocess.STDOUT)


def expired_count():
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("duoguard_requests_expired_total"):
                return float(line.split()[-1])
    return 0.0


try:
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    grpc.channel_ready_future(channel).result(timeout=60)
    stub = rpc.ModerationStub(channel)

    health = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda _: b"",
                                 response_deserializer=lambda b: b)
    check("grpc.health.v1 Check: SERVING", health(None, timeout=5) == b"\x08\x01")
    watch = channel.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=lambda name: b"\x0a" + bytes([len(name)]) + name.encode()
                                 if name else b"", response_deserializer=lambda b: b)
    unknown = watch("no.such.Service", timeout=10)
    check("grpc.health.v1 Watch of an unknown service: SERVICE_UNKNOWN", next(unknown) == b"\x08\x03")
    unknown.cancel()
    watched, watch_ended = [], threading.Event()

    def watch_until_end():
        try:
            for status in watch("", timeout=600):
                watched.append(status)
        except grpc.RpcError as error:
            watched.append(error.code())
        watch_ended.set()

    threading.Thread(target=watch_until_end, daemon=True).start()
    time.sleep(0.5)
    check("grpc.health.v1 Watch: SERVING at once", watched[:1] == [b"\x08\x01"], watched)

    text = "hello there"
    result = stub.Classify(pb.ModerationRequest(id="g1", text=text), timeout=10)
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/v1/classify", data=json.dumps({"text": text}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        native = json.load(answer)
    check("Classify: id, 12 scores", result.request_id == "g1" and len(result.probabilities) == 12)
    check("Classify equals the HTTP route", all(abs(a - b) < 1e-6 for a, b in zip(result.probabilities, native["probabilities"])))
    check("Classify: status OK", result.status.code == 0)

    stream = list(stub.ClassifyStream(iter([pb.ModerationRequest(id="s1", text="a"), pb.ModerationRequest(id="s2", text=""),
                                            pb.ModerationRequest(id="s3", text="c")]), timeout=10))
    check("ClassifyStream: one result per request, in order", [r.request_id for r in stream] == ["s1", "s2", "s3"],
          [r.request_id for r in stream])
    check("ClassifyStream: a bad text fails alone", [r.status.code for r in stream] == [0, 3, 0], [r.status.code for r in stream])

    def code_of(call):
        try:
            call()
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()

    check("empty text -> INVALID_ARGUMENT", code_of(lambda: stub.Classify(pb.ModerationRequest(text=""), timeout=10))
          == grpc.StatusCode.INVALID_ARGUMENT)
    check("oversize text -> INVALID_ARGUMENT", code_of(lambda: stub.Classify(pb.ModerationRequest(text="x" * 1001), timeout=10))
          == grpc.StatusCode.INVALID_ARGUMENT)
    check("bad threshold -> INVALID_ARGUMENT", code_of(lambda: stub.Classify(pb.ModerationRequest(text="hi", threshold=0), timeout=10))
          == grpc.StatusCode.INVALID_ARGUMENT)
    before = expired_count()
    # 100 ms deadline; the batch waits 300 ms for company: the server sheds it before inference.
    check("expired deadline -> DEADLINE_EXCEEDED", code_of(lambda: stub.Classify(pb.ModerationRequest(text="hi"), timeout=0.1))
          == grpc.StatusCode.DEADLINE_EXCEEDED)
    time.sleep(0.5)
    check("the server shed it (duoguard_requests_expired_total moved)", expired_count() > before)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(lambda i: code_of(lambda: stub.Classify(pb.ModerationRequest(text=f"t{i}"), timeout=10)), range(3)))
    check("over capacity -> RESOURCE_EXHAUSTED", grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes)

    raw = channel.unary_unary("/duoguard.moderation.v1.Moderation/Classify", request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
    bad = code_of(lambda: raw(b"\x0a\xff\xff\xff\xff\x0f", timeout=5))
    check("invalid protobuf refused", bad in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL), bad)
    check("still serving after invalid protobuf", stub.Classify(pb.ModerationRequest(text="ok"), timeout=10).status.code == 0)

    # 1,000 idle TCP connections (no HTTP/2 preface), then health and a call on a fresh channel.
    idle = [socket.create_connection(("127.0.0.1", grpc_port)) for _ in range(1000)]
    time.sleep(0.5)
    fresh = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    started = time.time()
    served = rpc.ModerationStub(fresh).Classify(pb.ModerationRequest(text="hello"), timeout=30).status.code == 0
    check(f"1000 idle connections: Classify answered ({(time.time() - started) * 1000:.0f} ms)", served)
    fresh.close()
    for connection in idle:
        connection.close()
    # Stop the server with the watch and a ClassifyStream (never half-closed) still open:
    # the watch says NOT_SERVING and ends; the held stream is cancelled at the gRPC server's
    # stop bound (2 s), so the process exits well within its own limit.
    hold = threading.Event()

    def held_requests():
        yield pb.ModerationRequest(id="held", text="still here")
        hold.wait(60)

    held = stub.ClassifyStream(held_requests(), timeout=120)
    check("a held ClassifyStream answers its first request", next(held).request_id == "held")
    stopping = time.time()
    process.terminate()
    ended = watch_ended.wait(timeout=15)
    check("grpc.health.v1 Watch: NOT_SERVING when the server stops, then the stream ends",
          ended and b"\x08\x02" in watched, watched)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    took = time.time() - stopping
    check(f"stopped within its bound with a held stream ({took:.1f} s)", process.poll() is not None and took < 10, took)
    hold.set()
    channel.close()
finally:
    stop(process, f"(log {log.name})")

finish()
