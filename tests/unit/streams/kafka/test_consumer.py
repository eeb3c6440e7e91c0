"""ExactConsumer commits only a run of processed offsets that starts at the committed one,
and only once the table writes buffered before the commit are delivered.

Each case also runs Faust's own rule, which commits past the unprocessed event: if Faust
ever stops doing that, these tests say so and streams/kafka/consumer.py can go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import cast

import faust
import pytest
from aiokafka import ConsumerRecord
from faust.exceptions import ProducerSendError
from faust.transport.consumer import RecordMap
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as FaustConsumer
from faust.types import TP, Message, RecordMetadata, TransportT
from faust.types.tuples import ConsumerMessage, FutureMessage

import streams.kafka.consumer
import streams.kafka.producer
from streams.kafka.consumer import (
    SEEK_COUNT,
    DeliveringProducer,
    ExactConsumer,
    ExactConsumerThread,
    ExactTransport,
    fetch_first,
)


class _App(faust.App):
    def _new_transport(self) -> TransportT:
        return ExactTransport(self.conf.broker_consumer, self)


# Nothing here connects: the consumer's bookkeeping is tested on its own.
app = _App("test-exact-consumer", broker="kafka://127.0.0.1:9", autodiscover=False)

TOPIC = TP("station.orders", 0)


@pytest.fixture
def consumer() -> Iterator[ExactConsumer]:
    c = app.consumer
    assert isinstance(c, ExactConsumer)
    yield c
    for table in (c._acked, c._acked_index, c._committed_offset, c._gap, c._read_offset):
        table.pop(TOPIC, None)


def _state(c: ExactConsumer, committed: int | None, acked: list[int]) -> None:
    c._committed_offset[TOPIC] = committed
    c._acked[TOPIC] = list(acked)
    c._acked_index[TOPIC] = set(acked)


@pytest.mark.parametrize(
    ("committed", "acked", "faust_commits"),
    [
        (None, [1, 2], 3),  # offset 0 of a never-committed partition still in flight
        (0, [1, 2], 3),  # committed 0 is read as "unknown"
        (5, [6, 7], 8),  # the acked run may start one past the committed offset
    ],
)
def test_an_unprocessed_head_is_never_committed_past(
    consumer: ExactConsumer, committed: int | None, acked: list[int], faust_commits: int
) -> None:
    _state(consumer, committed, acked)
    assert FaustConsumer._new_offset(consumer, TOPIC) == faust_commits
    _state(consumer, committed, acked)
    assert consumer._new_offset(TOPIC) is None
    assert consumer._acked[TOPIC] == acked  # kept until the head is processed


def test_a_run_from_the_committed_offset_is_committed(consumer: ExactConsumer) -> None:
    _state(consumer, 5, [3, 4, 5, 6, 7, 9])
    assert consumer._new_offset(TOPIC) == 8
    assert consumer._acked[TOPIC] == [9]
    _state(consumer, 0, [0, 1])
    assert consumer._new_offset(TOPIC) == 2


def _message(offset: int, generation: int) -> Message:
    return Message(
        TOPIC.topic,
        TOPIC.partition,
        offset,
        0.0,
        0,
        None,
        b"k",
        b"v",
        None,
        generation_id=generation,
    )


def test_an_event_skipped_or_done_during_a_rebalance_is_not_acked(
    consumer: ExactConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: True)  # no agents here
    _state(consumer, 0, [])
    app.consumer_generation_id = 7
    app.flow_control.resume()
    stale, fresh, stopped = _message(0, 6), _message(1, 7), _message(2, 7)
    consumer._unacked_messages |= {stale, fresh, stopped}
    assert consumer.ack(stale) is False
    assert consumer.ack(fresh) is True
    app.flow_control.suspend()  # a rebalance began: its seek fetches offset 2 again
    assert consumer.ack(stopped) is False
    app.flow_control.resume()
    assert consumer._acked[TOPIC] == [1] and not consumer._unacked_messages
    assert consumer._new_offset(TOPIC) is None  # offset 0 is fetched again, then committed


def test_a_seek_keeps_processed_events_and_offset_zero(
    consumer: ExactConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _state(consumer, None, [0, 1, 2])  # processed before the seek: done is done

    async def seek() -> dict[TP, int]:
        return {TOPIC: 0}

    monkeypatch.setattr(consumer, "seek_to_committed", seek)
    asyncio.run(consumer.perform_seek())
    assert consumer._committed_offset[TOPIC] == 0
    assert consumer._new_offset(TOPIC) == 3


def _fetched(offset: int, seeks: int) -> ConsumerMessage:
    record = ConsumerRecord(TOPIC.topic, TOPIC.partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())
    setattr(record, SEEK_COUNT, seeks)
    return cast(ExactConsumer, app.consumer)._to_message(TOPIC, record)


def test_records_fetched_before_the_latest_seek_are_not_delivered(
    consumer: ExactConsumer,
) -> None:
    thread = cast(ExactConsumerThread, consumer._thread)
    thread.seeks[TOPIC] = 1
    delivered = [consumer._fetched_since_last_seek(TOPIC, _fetched(o, 1)) for o in (99, 100)]
    consumer._read_offset[TOPIC] = 120  # the first fetch was delivered up to 120
    thread.seeks[TOPIC] = 2  # then a second seek took the partition back to 99
    delivered.append(consumer._fetched_since_last_seek(TOPIC, _fetched(121, 1)))
    assert consumer._read_offset[TOPIC] == 120
    delivered.append(consumer._fetched_since_last_seek(TOPIC, _fetched(99, 2)))
    assert consumer._read_offset[TOPIC] is None  # else Faust would drop 99 as read already
    consumer._read_offset[TOPIC] = 99
    delivered.append(consumer._fetched_since_last_seek(TOPIC, _fetched(100, 2)))
    assert consumer._read_offset[TOPIC] == 99
    assert delivered == [True, True, False, True, True]
    del thread.seeks[TOPIC]
    consumer._delivering.pop(TOPIC, None)


class Buffered:
    """What aiokafka holds fetched: records per partition, handed out in fetch order."""

    def __init__(self, records: dict[TP, list[int]]) -> None:
        self.records = records
        self.calls: list[tuple[set[TP], float | None, int | None]] = []

    async def __call__(self, tps: set[TP], wait: float | None, most: int | None) -> RecordMap:
        self.calls.append((set(tps), wait, most))
        out: dict[TP, list[int]] = {}
        for tp in [tp for tp in self.records if tp in tps]:
            room = None if most is None else most - sum(map(len, out.values()))
            if room == 0:
                break
            if self.records[tp][:room]:
                out[tp] = self.records[tp][:room]
                del self.records[tp][: len(out[tp])]
        return out


SESSIONS, REQUESTS = TP("station.sessions", 0), TP("scoring.requests", 0)
FIRST = frozenset({"scoring.requests"})


def test_the_internal_hop_is_served_before_a_backlog() -> None:
    fetch = Buffered({SESSIONS: list(range(1000)), REQUESTS: [7, 8]})
    got = asyncio.run(fetch_first(fetch, {SESSIONS, REQUESTS}, FIRST, 1.0, 500))
    assert got == {REQUESTS: [7, 8], SESSIONS: list(range(498))}
    # aiokafka's order alone would have handed out 500 sessions and no request
    fetch = Buffered({SESSIONS: list(range(1000)), REQUESTS: [7, 8]})
    assert asyncio.run(fetch({SESSIONS, REQUESTS}, 1.0, 500)) == {SESSIONS: list(range(500))}


def test_with_nothing_on_the_hop_every_partition_is_waited_on() -> None:
    fetch = Buffered({SESSIONS: [1, 2]})
    got = asyncio.run(fetch_first(fetch, {SESSIONS, REQUESTS}, FIRST, 1.0, 500))
    assert got == {SESSIONS: [1, 2]}
    assert fetch.calls[-1] == ({SESSIONS, REQUESTS}, 1.0, 500)  # a request would wake it


def test_a_full_batch_from_the_hop_leaves_the_rest_for_later() -> None:
    fetch = Buffered({SESSIONS: [1], REQUESTS: list(range(600))})
    got = asyncio.run(fetch_first(fetch, {SESSIONS, REQUESTS}, FIRST, 1.0, 500))
    assert got == {REQUESTS: list(range(500))} and len(fetch.calls) == 1


def _write(value: bytes) -> FutureMessage:
    """A table write as Faust buffers it (Table.send_changelog)."""
    return app.topic("t-history-changelog").as_future_message(key=b"u", value=value)


def _handed_on(producer: DeliveringProducer) -> None:
    """What the producer buffer's task does: take every write out to be sent."""
    while not producer.buffer.pending.empty():
        producer.buffer.pending.get_nowait()


def test_a_flush_returns_once_the_buffered_writes_are_delivered() -> None:
    async def run() -> list[object]:
        producer = cast(DeliveringProducer, _App("flush", broker="kafka://127.0.0.1:9").producer)
        first, later = _write(b"1"), _write(b"2")
        producer.send_soon(first)
        _handed_on(producer)  # Faust's own flush returns here: nothing left in its buffer
        flush = asyncio.create_task(producer.flush_delivered(timeout=5))
        await asyncio.sleep(0.05)
        producer.send_soon(later)  # buffered after the flush began: not waited for
        _handed_on(producer)
        seen: list[object] = [flush.done()]
        first.set_result(cast(RecordMetadata, None))
        seen += [await flush, later in producer._undelivered, first in producer._undelivered]
        seen.append(await producer.flush_delivered(timeout=0.05))  # `later` still on its way
        later.set_exception(RuntimeError("broker gone"))
        with pytest.raises(ProducerSendError, match=r"1 table writes failed.*broker gone"):
            await producer.flush_delivered(timeout=5)
        with pytest.raises(ProducerSendError):  # and every flush after it
            await producer.flush_delivered(timeout=5)
        return seen

    assert asyncio.run(run()) == [False, True, True, False, False]


def test_no_commit_while_a_table_write_is_undelivered(
    consumer: ExactConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams.kafka.producer, "DELIVERY_WAIT_S", 0.05)
    committed: list[Mapping[TP, int]] = []

    async def commit(offsets: Mapping[TP, int]) -> bool:
        committed.append(offsets)
        return True

    crashed: list[BaseException] = []

    async def crash(exc: BaseException) -> None:
        crashed.append(exc)

    monkeypatch.setattr(consumer, "_commit", commit)
    monkeypatch.setattr(consumer, "crash", crash)
    monkeypatch.setattr(consumer, "assignment", lambda: {TOPIC})

    async def run() -> list[bool]:
        producer = cast(DeliveringProducer, app.producer)
        write, lost = _write(b"order o-1 counted"), _write(b"order o-2 counted")
        producer.send_soon(write)
        _handed_on(producer)
        seen = [await consumer._commit_offsets({TOPIC: 3})]
        write.set_result(cast(RecordMetadata, None))
        seen.append(await consumer._commit_offsets({TOPIC: 3}))
        producer.send_soon(lost)
        _handed_on(producer)
        lost.set_exception(RuntimeError("record too large"))
        seen.append(await consumer._commit_offsets({TOPIC: 4}))
        producer._failed.clear()
        return seen

    assert asyncio.run(run()) == [False, True, False]
    assert committed == [{TOPIC: 3}]
    assert consumer._committed_offset[TOPIC] == 3
    assert [type(exc) for exc in crashed] == [ProducerSendError]  # the worker stops


def test_a_commit_put_off_leaves_its_acks_for_the_next_one(
    consumer: ExactConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust takes the run of acks it commits before the commit is made; one put off (its
    outputs undelivered, as in a broker outage) must leave them, or the partition's commits
    stop there for good."""
    monkeypatch.setattr(streams.kafka.producer, "DELIVERY_WAIT_S", 0.05)
    committed: list[Mapping[TP, int]] = []

    async def commit(offsets: Mapping[TP, int]) -> bool:
        committed.append(offsets)
        return True

    monkeypatch.setattr(consumer, "_commit", commit)
    monkeypatch.setattr(consumer, "assignment", lambda: {TOPIC})
    _state(consumer, 5, [5, 6, 7, 9])

    async def run() -> list[object]:
        producer = cast(DeliveringProducer, app.producer)
        write = _write(b"order o-3 counted")
        producer.send_soon(write)
        _handed_on(producer)
        seen: list[object] = [await consumer._commit_tps([TOPIC], start_new_transaction=False)]
        seen.append(list(consumer._acked[TOPIC]))
        write.set_result(cast(RecordMetadata, None))
        seen.append(await consumer._commit_tps([TOPIC], start_new_transaction=False))
        return seen

    assert asyncio.run(run()) == [False, [5, 6, 7, 9], True]
    assert committed == [{TOPIC: 8}]
    assert consumer._committed_offset[TOPIC] == 8
    assert consumer._acked[TOPIC] == [9] and consumer._acked_index[TOPIC] == {9}


def test_a_commit_discarded_for_a_partition_not_assigned_leaves_its_acks(
    consumer: ExactConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust discards a commit for partitions not assigned at that moment (mid-rebalance),
    after taking its acks: they stay for when the partition is assigned again."""
    monkeypatch.setattr(consumer, "assignment", lambda: set())
    _state(consumer, 5, [5, 6, 7, 9])
    assert asyncio.run(consumer._commit_tps([TOPIC], start_new_transaction=False)) is False
    assert consumer._acked[TOPIC] == [5, 6, 7, 9] and consumer._committed_offset[TOPIC] == 5
    assert consumer._new_offset(TOPIC) == 8


def test_fetched_stream_records_carry_their_partitions_seek_count(
    consumer: ExactConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = cast(ExactConsumerThread, consumer._thread)
    changelog = TP("scorer-user-history-changelog", 0)
    batch = {
        tp: [ConsumerRecord(tp.topic, tp.partition, 5, 0, 0, b"k", b"v", None, 1, 1, ())]
        for tp in (TOPIC, changelog)
    }

    async def aiokafka_fetch(*args: object) -> RecordMap:
        return batch

    monkeypatch.setattr(AIOKafkaConsumerThread, "_fetch_records", aiokafka_fetch)
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: tp == changelog)
    thread.seeks[TOPIC] = 3
    records = asyncio.run(thread._fetch_records(None, {TOPIC, changelog}))
    assert getattr(records[TOPIC][0], SEEK_COUNT) == 3
    assert not hasattr(records[changelog][0], SEEK_COUNT)  # Faust positions changelogs
    del thread.seeks[TOPIC]
