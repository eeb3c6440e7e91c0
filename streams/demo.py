"""`make demo`: the product end to end on the local broker, printed as it happens.

For now: the broker, the topics, and one event of every type produced in the wire
format, consumed back and printed decoded.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import datetime

from confluent_kafka import Consumer, Producer

from infra.kafka.broker import BrokerError, bootstrap_servers
from schemas.codec import Codec
from schemas.examples import EXAMPLES
from streams.admin import BrokerUnreachable, admin_client, ensure_topics
from streams.settings import SettingsError, settings
from streams.topics import ALL, TopicSpec


def round_trip(bootstrap: str) -> int:
    """Produce one example of every schema and print each as consumed back; return the count."""
    codec = Codec()
    topic = f"demo.roundtrip.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, 1, specs=[TopicSpec(topic, "schema name", "any")])
    producer = Producer({"bootstrap.servers": bootstrap})
    for name, record in EXAMPLES.items():
        producer.produce(topic, key=name.encode(), value=codec.encode(name, record))
    producer.flush(10)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 30
    try:
        while seen < len(EXAMPLES) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            data = msg.value() or b""
            writer, record = codec.decode_with_schema(data)
            print(
                f"  {writer.short_name} v{writer.version} ({len(data)} bytes, "
                f"fingerprint {writer.fingerprint.hex()}):"
            )
            print(f"    {_show(record)}")
            seen += 1
    finally:
        consumer.close()
        admin_client(bootstrap).delete_topics([topic])
    return seen


def _show(record: dict) -> str:
    parts = []
    for key, value in record.items():
        if isinstance(value, datetime):
            value = value.isoformat(timespec="milliseconds")
        parts.append(f"{key}={value!r}")
    text = ", ".join(parts)
    return text if len(text) < 400 else text[:397] + "..."


def main() -> int:
    try:
        conf = settings()
        bootstrap = bootstrap_servers()
        created = ensure_topics(bootstrap, conf.scorer_partitions, conf.scorer_replication_factor)
    except (BrokerError, BrokerUnreachable, SettingsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"Kafka at {bootstrap}; topics: {', '.join(s.name for s in ALL)}"
        f" ({len(created)} created now, {conf.scorer_partitions} partitions)"
    )
    print("Round trip of one event of every type through Kafka, decoded:")
    seen = round_trip(bootstrap)
    print(f"{seen}/{len(EXAMPLES)} events came back intact.")
    return 0 if seen == len(EXAMPLES) else 1


if __name__ == "__main__":
    sys.exit(main())
