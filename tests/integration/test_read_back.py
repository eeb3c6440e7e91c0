"""Where a new owner's read-back begins, on the real broker: a window before the oldest
input its group has not committed, so that an output published long before the window
that ends now is still recognised when its input is handed again (a worker starved of
CPU and killed before it committed, seen in make soak)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from infra.kafka.client import client_config
from infra.kafka.cluster import BrokerError
from infra.kafka.reading import first_unconsumed_ms, read_tail
from streams.kafka.outputs import RecentKeys, replay_start

HOUR_MS = 3_600_000


def _write(producer: Producer, topic: str, partition: int, key: str, at_ms: int) -> None:
    producer.produce(topic, key=key.encode(), value=b"x", partition=partition, timestamp=at_ms)


def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer(
        client_config(bootstrap, **{"group.id": group, "enable.auto.commit": False})
    )
    try:
        consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
        )
    finally:
        consumer.close()


def test_the_oldest_uncommitted_input_is_found(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    producer_factory: Callable[..., Producer],
    group_factory: Callable[[str], str],
) -> None:
    group = group_factory("group")
    topic = topic_factory("inputs", partitions=2)
    producer = producer_factory()
    now = int(time.time() * 1000)
    for i, at in enumerate((now - 3000, now - 2000, now - 1000)):
        _write(producer, topic, 0, f"a-{i}", at)
    for i, at in enumerate((now - 2500, now - 1500)):
        _write(producer, topic, 1, f"b-{i}", at)
    producer.flush(10)

    wanted = {topic: [0, 1]}
    assert first_unconsumed_ms(kafka_bootstrap, group, wanted) == now - 3000  # no commit
    _commit(kafka_bootstrap, group, topic, {0: 2, 1: 1})
    assert first_unconsumed_ms(kafka_bootstrap, group, wanted) == now - 1500
    _commit(kafka_bootstrap, group, topic, {1: 2})  # partition 1 committed to its end
    assert first_unconsumed_ms(kafka_bootstrap, group, wanted) == now - 1000
    assert first_unconsumed_ms(kafka_bootstrap, group, {topic: [1]}) is None
    _commit(kafka_bootstrap, group, topic, {0: 3})
    assert first_unconsumed_ms(kafka_bootstrap, group, wanted) is None


def test_an_output_older_than_the_window_is_recognised_when_its_input_comes_again(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    producer_factory: Callable[..., Producer],
    group_factory: Callable[[str], str],
) -> None:
    """The last owner read input 1 an hour ago, published its output, and died before it
    committed: the new owner is handed input 1 again, and must know the output is out."""
    group = group_factory("group")
    inputs, outputs = topic_factory("inputs"), topic_factory("outputs", partitions=3)
    producer = producer_factory()
    hour_ago = int(time.time() * 1000) - HOUR_MS
    for i in range(3):
        _write(producer, inputs, 0, f"s-{i}", hour_ago + i * 1000)
    _write(producer, outputs, 1, "s-0", hour_ago + 500)  # its input was committed
    _write(producer, outputs, 2, "s-1", hour_ago + 1500)  # handed again
    producer.flush(10)
    _commit(kafka_bootstrap, group, inputs, {0: 1})

    since = asyncio.run(replay_start(kafka_bootstrap, group, {inputs: [0]}))
    assert since == hour_ago + 1000
    keys = RecentKeys(outputs, window_ms=60_000)
    asyncio.run(keys.reload(kafka_bootstrap, None, since))
    assert "s-1" in keys and "s-0" in keys  # a window before: s-0 is read back too

    from_now = RecentKeys(outputs, window_ms=60_000)  # a window from now, as before
    asyncio.run(from_now.reload(kafka_bootstrap, None, int(time.time() * 1000)))
    assert "s-1" not in from_now and len(from_now) == 0


def test_a_broker_that_cannot_say_leaves_the_window_from_now() -> None:
    before = int(time.time() * 1000)
    since = asyncio.run(replay_start("127.0.0.1:1", "any-group", {"nowhere": [0]}, timeout_s=2))
    assert before <= since <= int(time.time() * 1000)


def test_a_read_back_the_broker_cannot_answer_is_refused_with_the_reason() -> None:
    with pytest.raises(BrokerError, match="cannot find where to read 'nowhere'"):
        read_tail("127.0.0.1:1", "nowhere", [0], 0, timeout_s=2)


def test_what_is_read_back_is_remembered_for_the_window_from_the_reload(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    producer_factory: Callable[..., Producer],
) -> None:
    """An agent handed a partition it reaches last: an input on another partition that
    is not behind must not make it forget what was read back for the lagging one."""
    outputs = topic_factory("outputs")
    producer = producer_factory()
    now = int(time.time() * 1000)
    _write(producer, outputs, 0, "old", now - HOUR_MS)
    producer.flush(10)
    keys = RecentKeys(outputs, window_ms=60_000)
    asyncio.run(keys.reload(kafka_bootstrap, None, now - HOUR_MS + 1000))
    keys.add("fresh", now + 1000, read_ms=now + 990)  # caught up on another partition
    assert "old" in keys
    keys.expire(now + 50_000)
    assert "old" in keys
    keys.expire(int(time.time() * 1000) + 61_000)
    assert "old" not in keys and "fresh" not in keys
