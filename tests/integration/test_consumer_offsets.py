"""On the real broker: a partition without a commit is fetched again from its start after
a seek, where aiokafka's seek_to_committed would leave it past what was fetched."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Producer

from streams.consumer import seek_exactly

pytestmark = pytest.mark.kafka


async def _positions_after_reading_three(bootstrap: str, topic: str, group: str) -> list[int]:
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        consumer.assign([tp])
        for _ in range(3):
            await consumer.getone()
        seen = [await consumer.position(tp)]
        await consumer.seek_to_committed()
        seen.append(await consumer.position(tp))  # aiokafka: no commit, no seek
        offsets = await seek_exactly(consumer)
        seen += [offsets[tp], await consumer.position(tp), (await consumer.getone()).offset]
        await consumer.commit({tp: 0})
        await consumer.getone()
        offsets = await seek_exactly(consumer)
        seen += [offsets[tp], await consumer.position(tp)]
        return seen
    finally:
        await consumer.stop()


def test_a_partition_without_commit_is_read_again_from_its_start(
    kafka_bootstrap: str, topic_factory: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = topic_factory("seek")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(5):
        producer.produce(topic, key=b"k", value=str(i).encode(), partition=0)
    assert producer.flush(10) == 0
    seen = asyncio.run(_positions_after_reading_three(kafka_bootstrap, topic, unique_name("g")))
    assert seen[:2] == [3, 3]  # where seek_to_committed leaves a never-committed partition
    assert seen[2:5] == [0, 0, 0]  # seek_exactly: offsets, position, next event read
    assert seen[5:] == [0, 0]  # committed 0 is a position too
