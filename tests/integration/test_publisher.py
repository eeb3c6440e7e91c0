"""The worker's output producer on the real broker: what `delivered` confirms is on the
topic, and while the broker is unreachable it confirms nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition

from infra.kafka.client import key_partition
from streams.kafka.bundles import Held
from streams.kafka.publisher import SERVE_EVERY, Publisher

pytestmark = pytest.mark.kafka


def _count(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "count", "log_level": 3})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        )
    finally:
        consumer.close()


@pytest.mark.parametrize("queue", [None, 50], ids=["default-queue", "queue-of-50"])
def test_delivered_means_on_the_topic(
    kafka_bootstrap: str, topic_factory: Callable[..., str], queue: int | None
) -> None:
    """With a queue of 50, a burst larger than librdkafka's queue waits in `publish` while
    deliveries complete, and loses nothing."""
    topic = topic_factory("published", partitions=3)
    config = {} if queue is None else {"queue.buffering.max.messages": queue}
    publisher = Publisher(kafka_bootstrap, **config)
    try:
        for i in range(2000):
            publisher.publish(topic, f"k-{i}".encode(), b"v", partition=i % 3)
        assert asyncio.run(publisher.delivered(30)) is True
        assert _count(kafka_bootstrap, topic) == 2000
    finally:
        assert publisher.close() == 0


def test_reports_are_served_while_the_loop_publishes_little(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """Fewer outputs than SERVE_EVERY, and no `delivered`: the poll thread serves their
    delivery reports once the loop has served none for a while."""
    topic = topic_factory("quiet", partitions=1)
    publisher = Publisher(kafka_bootstrap)
    try:
        for i in range(SERVE_EVERY - 1):
            publisher.publish(topic, f"k-{i}".encode(), b"v")
        deadline = time.monotonic() + 30
        while publisher.undelivered() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert publisher.undelivered() == 0
    finally:
        publisher.close()


def test_what_is_held_is_on_the_topic_once_delivered_confirms(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """A commit waits on `delivered`: it must first publish what a `Held` holds."""
    topic = topic_factory("held", partitions=2)
    publisher = Publisher(kafka_bootstrap)
    held = Held(topic, b"|".join)
    try:
        held.add(
            publisher, [(i % 2, f"k-{i}".encode(), b"v%d" % i) for i in range(10)], backlog=True
        )
        assert asyncio.run(publisher.delivered(30)) is True
        assert len(held) == 0 and _count(kafka_bootstrap, topic) == 2  # one per partition
        held.add(publisher, [(0, b"k-10", b"v10")], backlog=True)
    finally:
        assert publisher.close() == 0  # closing publishes it too
    assert _count(kafka_bootstrap, topic) == 3


def test_nothing_is_confirmed_while_the_broker_is_away() -> None:
    publisher = Publisher("127.0.0.1:1")  # nothing listens there
    try:
        publisher.publish("anywhere", b"k", b"v")
        assert asyncio.run(publisher.delivered(0.5)) is False
    finally:
        publisher.close(timeout=0)


def test_a_key_lands_where_key_partition_says(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """The join scores a session here when key_partition puts its customer on a partition
    this worker holds: that must be the partition the producer writes the key to."""
    topic = topic_factory("keyed", partitions=6)
    publisher = Publisher(kafka_bootstrap)
    keys = [f"user-{i}".encode() for i in range(300)] + [b"", "顾客-7".encode()]
    try:
        for key in keys:
            publisher.publish(topic, key, b"v")
        assert asyncio.run(publisher.delivered(30)) is True
    finally:
        publisher.close()
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": "keyed",
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    landed: dict[bytes, int | None] = {}
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(landed) < len(keys) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                landed[msg.key() or b""] = msg.partition()
    finally:
        consumer.close()
    assert len(landed) == len(keys)
    assert {k: key_partition(k, 6) for k in keys} == landed
    assert len(set(landed.values())) == 6  # the keys spread: the check covers every partition
