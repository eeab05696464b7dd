#!/usr/bin/env python3
"""Golden records for the pipeline conventions (issue 11), made by the reference libraries.

Writes Tests/Fixtures/interop/*.json (small, committed): each file is one Kafka record,
{"description", "headers": [{"key", "value"|"value_hex"|null}], "value_hex"}, produced by

- Confluent's own serializers (PyPI `confluent-kafka`, the Python client Confluent ships):
  ProtobufSerializer and JSONSerializer, driven through the library's MockSchemaRegistryClient
  (no registry needed; its id counter is set so that the ids are the ones the tests expect),
  with Python classes built from proto/duoguard/moderation/v1/moderation.proto by Debian's
  protoc (a descriptor set, no generated Python code);
- the CloudEvents Python SDK (PyPI `cloudevents`): its Kafka binding's to_binary for binary
  mode, and its JSON event format (to_json) for structured mode, with the `content-type:
  application/cloudevents+json` header the Kafka binding requires. (The SDK's own Kafka
  to_structured puts `datacontenttype` into `content-type` and leaves it out of the JSON,
  which the binding does not allow and no other SDK reads as structured; cloudevents
  sdk-python #295/#296.)

Each serializer's output is also read back with the matching Confluent deserializer or SDK
reader, so a fixture that the reference itself cannot read is never written.

Run (not part of the tests; the output is committed):

    python3 -m venv /tmp/interop-venv
    /tmp/interop-venv/bin/pip install -r scripts/requirements-interop.txt
    /tmp/interop-venv/bin/python scripts/interop-fixtures.py
"""

import json
import pathlib
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from cloudevents.v1.conversion import from_json, to_json
from cloudevents.v1.http import CloudEvent
from cloudevents.v1.kafka import from_binary, to_binary

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "interop"
PROTO = "duoguard/moderation/v1/moderation.proto"
TOPIC = "moderation-requests"


def message_classes():
    """ModerationRequest/Result/CategoryScore classes from the .proto, via a descriptor set."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "moderation.pb"
        subprocess.run(["protoc", f"--descriptor_set_out={out}", "-I", str(ROOT / "proto"), PROTO], check=True)
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    def cls(name):
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"duoguard.moderation.v1.{name}"))
    return cls("ModerationRequest"), cls("ModerationResult"), cls("CategoryScore")


def record(name, description, value, headers=()):
    entries = []
    for key, val in headers:
        if val is None:
            entries.append({"key": key, "value": None})
        else:
            try:
                entries.append({"key": key, "value": val.decode("utf-8")})
            except UnicodeDecodeError:
                entries.append({"key": key, "value_hex": val.hex()})
    body = {"description": description, "headers": entries, "value_hex": value.hex()}
    (OUT / f"{name}.json").write_text(json.dumps(body, indent=2, sort_keys=False) + "\n")
    print(f"wrote {name}.json ({len(value)} bytes)")


def registry_with_next_id(next_id):
    client = MockSchemaRegistryClient({"url": "mock://interop"})
    client._store.max_id = next_id - 1  # the mock numbers schemas from max_id + 1
    return client


def schema_registry(Request, Result, CategoryScore):
    ctx = SerializationContext(TOPIC, MessageField.VALUE)

    # Protobuf request, schema id 12; ModerationRequest is message [0] -> single byte 0x00.
    request = Request(id="sr-1", text="hello from a Confluent producer")
    registry = registry_with_next_id(12)
    value = ProtobufSerializer(Request, registry, {"use.deprecated.format": False})(request, ctx)
    back = ProtobufDeserializer(Request, {"use.deprecated.format": False})(value, ctx)
    assert back == request and value[:6] == bytes([0, 0, 0, 0, 12, 0]), value[:8].hex()
    record("sr-protobuf-request", "Confluent ProtobufSerializer, ModerationRequest, schema id 12, index [0]", value)

    # Protobuf result, schema id 13; ModerationResult is message [1] -> count 1, index 1 = 02 02.
    result = Result(
        request_id="sr-1", probabilities=[0.75, 0.125], max_probability=0.75, unsafe=True,
        categories=[1], category_names=["Violent crimes"], threshold=0.5, token_count=9, worker_id="w-1",
        scores=[CategoryScore(category=1, name="Violent crimes", probability=0.75)],
    )
    registry = registry_with_next_id(13)
    value = ProtobufSerializer(Result, registry, {"use.deprecated.format": False})(result, ctx)
    back = ProtobufDeserializer(Result, {"use.deprecated.format": False})(value, ctx)
    assert back == result and value[:7] == bytes([0, 0, 0, 0, 13, 2, 2]), value[:8].hex()
    record("sr-protobuf-result", "Confluent ProtobufSerializer, ModerationResult, schema id 13, index [1]", value)

    # A CategoryScore (message [3]) framed as if it were a request: must be refused.
    registry = registry_with_next_id(12)
    value = ProtobufSerializer(CategoryScore, registry, {"use.deprecated.format": False})(
        CategoryScore(category=9, name="Hate", probability=0.5), ctx)
    assert value[5:7] == bytes([2, 6]), value[:8].hex()
    record("sr-protobuf-wrong-message", "Confluent ProtobufSerializer, CategoryScore (index [3]), schema id 12", value)

    # JSON Schema request, schema id 14: no index list.
    schema = json.dumps({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "ModerationRequest", "type": "object",
        "properties": {"id": {"type": "string"}, "text": {"type": "string"}, "threshold": {"type": "number"},
                       "metadata": {"type": "object", "additionalProperties": {"type": "string"}}},
        "required": ["text"],
    })
    request = {"id": "sr-json-1", "text": "hello from a JSON Schema producer", "metadata": {"app": "chat"}}
    registry = registry_with_next_id(14)
    value = JSONSerializer(schema, registry)(request, ctx)
    back = JSONDeserializer(schema)(value, ctx)
    assert back == request and value[:5] == bytes([0, 0, 0, 0, 14]), value[:8].hex()
    record("sr-json-request", "Confluent JSONSerializer, ModerationRequest JSON, schema id 14", value)

    # JSON Schema result, schema id 15 (for the output framing test: prefix + same JSON).
    result_schema = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "ModerationResult",
                                "type": "object"})
    result_json = {"requestId": "sr-json-1", "status": {}, "maxProbability": 0.25, "threshold": 0.5}
    registry = registry_with_next_id(15)
    value = JSONSerializer(result_schema, registry)(result_json, ctx)
    assert JSONDeserializer(result_schema)(value, ctx) == result_json
    record("sr-json-result", "Confluent JSONSerializer, ModerationResult JSON, schema id 15", value)


def cloud_events(Request):
    attributes = {
        "specversion": "1.0", "id": "ce-1", "source": "/chat/frontend", "type": "com.example.moderation.request",
        "time": "2025-01-31T12:00:00.250Z", "subject": "message-42",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }

    # Binary mode, JSON data; the request has no id, so ce_id must become the request id.
    event = CloudEvent({**attributes, "datacontenttype": "application/json"}, {"text": "binary mode, JSON data"})
    message = to_binary(event)
    assert from_binary(message).data == {"text": "binary mode, JSON data"}
    record("ce-binary-json", "CloudEvents SDK to_binary, JSON data without id",
           message.value, sorted(message.headers.items()))

    # Binary mode, protobuf data with its own id.
    data = Request(id="req-7", text="binary mode, protobuf data").SerializeToString()
    event = CloudEvent({**attributes, "id": "ce-2", "datacontenttype": "application/x-protobuf"}, data)
    message = to_binary(event, data_marshaller=lambda d: d)
    record("ce-binary-protobuf", "CloudEvents SDK to_binary, protobuf data with id req-7",
           message.value, sorted(message.headers.items()))

    # Structured mode, JSON data (an object inside the event).
    structured = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    event = CloudEvent({**attributes, "id": "ce-3", "datacontenttype": "application/json"},
                       {"text": "structured mode", "metadata": {"lang": "en"}})
    value = to_json(event)
    assert from_json(CloudEvent, value).data == {"text": "structured mode", "metadata": {"lang": "en"}}
    record("ce-structured-json", "CloudEvents SDK to_json (JSON event format), JSON data object", value, structured)

    # Structured mode, protobuf bytes: the JSON format carries them as data_base64.
    data = Request(id="req-9", text="structured mode, protobuf data").SerializeToString()
    event = CloudEvent({**attributes, "id": "ce-4", "datacontenttype": "application/x-protobuf"}, data)
    value = to_json(event)
    assert b"data_base64" in value and from_json(CloudEvent, value).data == data
    record("ce-structured-base64", "CloudEvents SDK to_json (JSON event format), protobuf data as data_base64",
           value, structured)

    # The result headers the worker writes, as the SDK writes them for the same attributes
    # (compared header by header in the tests; ce_time fixed).
    result_attributes = {
        "specversion": "1.0", "id": "moderation-requests/0/5", "source": "/duoguard/moderation",
        "type": "ai.duoguard.moderation.result.v1", "subject": "req-7", "time": "2025-01-31T12:00:00.250Z",
        "datacontenttype": "application/json",
    }
    message = to_binary(CloudEvent(result_attributes, {"requestId": "req-7"}))
    record("ce-binary-result", "CloudEvents SDK to_binary, the attributes of a worker result",
           message.value, sorted(message.headers.items()))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    Request, Result, CategoryScore = message_classes()
    schema_registry(Request, Result, CategoryScore)
    cloud_events(Request)


if __name__ == "__main__":
    sys.exit(main())
