#!/usr/bin/env python3
"""The local broker's offsets through a modern Kafka client (flexible protocol versions).

Debian's librdkafka 2.0.2 (the project's client, kcat) speaks the classic versions of
Produce/ListOffsets; the Java clients and newer librdkafka speak the flexible ones (tagged
fields), which scripts/kafka_relay.py must parse too. confluent-kafka from PyPI bundles
librdkafka 2.16, which sends Produce v10, ListOffsets v7 and Fetch v16 to tansu: this script
produces 3,000 records with linger (batched) into 2 partitions, then checks that the high
watermarks add up to 3,000, that a time past the end has offset -1, and that a consumer reads
all 3,000. Not part of the Swift tests (confluent-kafka is not in the CI venv).

    /tmp/interop-venv/bin/pip install -r scripts/requirements-interop.txt
    /tmp/interop-venv/bin/python scripts/relay-modern-client-check.py 127.0.0.1:9092
"""
import logging
import re
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition, libversion, version
from confluent_kafka.admin import AdminClient, NewTopic

COUNT = 3000


class ProtocolVersions(logging.Handler):
    """Collects the versions librdkafka's protocol debug log says it sent."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def emit(self, record):
        match = re.search(r"Sent (Produce|ListOffsets|Fetch)Request \(v(\d+)", record.getMessage())
        if match:
            self.seen.add(f"{match.group(1)} v{match.group(2)}")


def main(broker: str) -> int:
    print("confluent-kafka", version()[0] if isinstance(version(), tuple) else version(), "librdkafka", libversion()[0])
    versions = ProtocolVersions()
    logger = logging.getLogger("librdkafka")
    logger.addHandler(versions)
    logger.setLevel(logging.DEBUG)

    topic = "modern-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": broker})
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(10)

    producer = Producer({"bootstrap.servers": broker, "linger.ms": 50, "debug": "protocol"}, logger=logger)
    for i in range(COUNT):
        producer.produce(topic, key=str(i), value=f"v-{i}")
        producer.poll(0)
    if producer.flush(30) != 0:
        print("FAILED: not every record was delivered")
        return 1

    consumer = Consumer({"bootstrap.servers": broker, "group.id": "g-" + topic, "auto.offset.reset": "earliest",
                         "debug": "protocol"}, logger=logger)
    total = 0
    for partition in (0, 1):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        total += high
        print(f"partition {partition}: watermarks {low}..{high}")
    future = int(time.time() * 1000) + 3_600_000
    past = [tp.offset for tp in consumer.offsets_for_times([TopicPartition(topic, 0, future)], timeout=10)]
    print("offsets for a time past the end:", past)
    consumer.subscribe([topic])
    consumed = 0
    deadline = time.time() + 60
    while consumed < COUNT and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            consumed += 1
    consumer.close()
    print(f"consumed {consumed}, sum of high watermarks {total}")
    print("protocol versions sent:", ", ".join(sorted(versions.seen)))
    ok = total == COUNT and consumed == COUNT and past == [-1]
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"))
