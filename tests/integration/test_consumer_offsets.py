"""On the real broker: a partition without a commit is fetched again from its start after
a seek, where aiokafka's seek_to_committed would leave it past what was fetched; a flush
returns only once every buffered table write is on the broker; and a record handed out but
never delivered is fetched again once it has held up its partition's commits."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KafkaTP
from faust.types import TP, TransportT

from streams.kafka.consumer import ExactTransport
from streams.kafka.offsets import seek_exactly
from streams.kafka.producer import DeliveringProducer

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


async def _positions_after_reading_three(bootstrap: str, topic: str, group: str) -> list[int]:
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        for _ in range(3):
            await consumer.getone()
        seen = [await consumer.position(tp)]
        await consumer.seek_to_committed()
        seen.append(await consumer.position(tp))  # aiokafka: no commit, no seek
        sought: list[TP] = []
        offsets = await seek_exactly(consumer, on_seek=sought.append)
        seen += [offsets[tp], await consumer.position(tp), (await consumer.getone()).offset]
        await consumer.commit({tp: 0})
        await consumer.getone()
        offsets = await seek_exactly(consumer, on_seek=sought.append)
        seen += [offsets[tp], await consumer.position(tp), sought == [tp, tp]]
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
    assert seen[5:] == [0, 0, True]  # committed 0 is a position too; each seek reported


class _App(faust.App):
    def _new_transport(self) -> TransportT:
        return ExactTransport(self.conf.broker_consumer, self)


async def _busy_loop() -> None:
    """The worker's event loop as it is under load: forward passes and feature encoding
    hold it for a while at a time."""
    while True:
        time.sleep(0.15)
        await asyncio.sleep(0.001)


async def _buffer_and_flush(bootstrap: str, topic: str, writes: int) -> tuple[bool, int]:
    app = _App(f"flush-{topic}", broker=f"kafka://{bootstrap}", autodiscover=False)
    producer = cast(DeliveringProducer, app.producer)
    await producer.start()
    busy = asyncio.create_task(_busy_loop())
    try:
        changelog = app.topic(topic, partitions=1)
        for i in range(writes):  # as Table.send_changelog does
            producer.send_soon(changelog.as_future_message(key=b"u", value=b"%d" % i, partition=0))
        delivered = await producer.flush_delivered()
        check = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{topic}"})
        try:  # what the next owner of the partition would recover up to, read at once
            _, highwater = check.get_watermark_offsets(KafkaTP(topic, 0), timeout=10)
        finally:
            check.close()
        return delivered, highwater
    finally:
        busy.cancel()
        await producer.stop()


def test_a_flush_leaves_every_buffered_table_write_on_the_broker(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("changelog")
    assert asyncio.run(_buffer_and_flush(kafka_bootstrap, topic, 50)) == (True, 50)


def _offsets_written(bootstrap: str, output: str, want: set[int], timeout: float) -> list[int]:
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"check-{output}", "enable.auto.commit": False}
    )
    reader.assign([KafkaTP(output, 0, 0)])
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    try:
        while not want <= set(seen) and time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is not None and message.error() is None:
                seen.append(int(cast(bytes, message.value())))
        return seen
    finally:
        reader.close()


def _committed(bootstrap: str, group: str, topic: str, want: int, timeout: float) -> int | None:
    check = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    deadline, offset = time.monotonic() + timeout, None
    try:
        while offset != want and time.monotonic() < deadline:
            offset = check.committed([KafkaTP(topic, 0)], timeout=10)[0].offset
            time.sleep(0.5)
        return offset
    finally:
        check.close()


def test_a_delivery_lost_after_its_fetch_is_fetched_again(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A record handed out but never delivered holds up its partition's commits while later
    records go on; the consumer seeks the partition back to it, once."""
    topic, output, group = topic_factory("lose"), topic_factory("offsets"), unique_name("g")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(20):
        producer.produce(topic, key=b"k", value=b"%d" % i, partition=0)
    assert producer.flush(10) == 0
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.losing_worker",
                kafka_bootstrap,
                topic,
                output,
                group,
                "7",
                str(tmp_path / "faust"),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            seen = _offsets_written(kafka_bootstrap, output, set(range(20)), timeout=90)
            committed = _committed(kafka_bootstrap, group, topic, 20, timeout=30)
        finally:
            worker.terminate()
            worker.wait(60)
    rewinds = [line for line in log.read_text().splitlines() if "seeking back" in line]
    assert set(seen) == set(range(20)), (sorted(seen), log.read_text()[-3000:])
    assert seen.count(7) == 1  # the lost record, processed once it was fetched again
    assert committed == 20
    assert len(rewinds) == 1 and "offset 7 " in rewinds[0], rewinds
