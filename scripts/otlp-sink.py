#!/usr/bin/env python3
"""A minimal OTLP/HTTP trace receiver for scripts/otlp-check.sh (not a collector).

Listens on 127.0.0.1 (port 0 = any free port, written to --port-file once listening),
accepts `POST /v1/traces` with `Content-Type: application/x-protobuf`, decodes each body
as an ExportTraceServiceRequest with the official `opentelemetry-proto` bindings, answers
with an empty ExportTraceServiceResponse, and appends one JSON line per span to --spans
(plus one line per request, whatever its path or type, to --requests). It stops after
--lifetime seconds at the latest, so a forgotten sink never outlives the check. With
--stall it accepts connections and never answers (a hung collector).

    python otlp-sink.py --port-file P --spans spans.jsonl --requests requests.jsonl
"""
import argparse
import http.server
import json
import os
import threading
import time

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

MAX_BODY = 16 * 1024 * 1024


def value(v):
    """An OTLP AnyValue as plain JSON."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def spans_of(request):
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "name": span.name,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "kind": trace_pb2.Span.SpanKind.Name(span.kind),
                    "status": trace_pb2.Status.StatusCode.Name(span.status.code),
                    "attributes": attributes(span.attributes),
                    "links": [
                        {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()} for link in span.links
                    ],
                    "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano,
                    "resource": resource,
                    "scope": scope_spans.scope.name,
                }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--spans", required=True)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--lifetime", type=float, default=900)
    parser.add_argument("--stall", action="store_true", help="never answer (a collector that hangs)")
    args = parser.parse_args()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the exporter asks
        timeout = 30

        def log_message(self, *_):
            pass

        def record(self, **fields):
            with lock, open(args.requests, "a") as f:
                f.write(json.dumps(fields) + "\n")

        def reply(self, status, body=b"", content_type="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            if args.stall:
                self.record(path=self.path, stalled=True)
                time.sleep(args.lifetime)
                return
            content_type = self.headers.get("Content-Type", "")
            try:
                length = int(self.headers.get("Content-Length", "-1"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self.record(path=self.path, content_type=content_type, error=f"bad length {length}")
                self.close_connection = True
                return self.reply(411 if length < 0 else 413)
            body = self.rfile.read(length)
            if self.path != "/v1/traces" or content_type != "application/x-protobuf":
                self.record(path=self.path, content_type=content_type, bytes=len(body), error="unexpected path or type")
                return self.reply(404 if self.path != "/v1/traces" else 415)
            request = trace_service_pb2.ExportTraceServiceRequest()
            try:
                request.ParseFromString(body)
            except DecodeError as error:
                self.record(path=self.path, content_type=content_type, bytes=len(body), error=f"decode: {error}")
                return self.reply(400)
            spans = list(spans_of(request))
            self.record(
                path=self.path, content_type=content_type, bytes=len(body), spans=len(spans),
                user_agent=self.headers.get("User-Agent", ""),
            )
            with lock, open(args.spans, "a") as f:
                for span in spans:
                    f.write(json.dumps(span) + "\n")
            response = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.reply(200, response, "application/x-protobuf")

        def do_GET(self):
            self.record(path=self.path, method="GET", error="unexpected method")
            self.reply(405)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
