"""ExactConsumer commits only a run of processed offsets that starts at the committed one.

Each case also runs Faust's own rule, which commits past the unprocessed event: if Faust
ever stops doing that, these tests say so and streams/consumer.py can go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import faust
import pytest
from faust.transport.consumer import RecordMap
from faust.transport.drivers.aiokafka import Consumer as FaustConsumer
from faust.types import TP, Message, TransportT

from streams.consumer import ExactConsumer, ExactTransport, fetch_first


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
    return Message(TOPIC.topic, TOPIC.partition, offset, 0.0, 0, None, b"k", b"v", None,
                   generation_id=generation)  # fmt: skip


def test_an_event_of_an_older_generation_is_not_acked(
    consumer: ExactConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: True)  # no agents here
    _state(consumer, 0, [])
    app.consumer_generation_id = 7
    stale, fresh = _message(0, 6), _message(1, 7)
    consumer._unacked_messages |= {stale, fresh}
    assert consumer.ack(stale) is False
    assert consumer.ack(fresh) is True
    assert consumer._acked[TOPIC] == [1] and not consumer._unacked_messages
    assert consumer._new_offset(TOPIC) is None  # offset 0 is fetched again, then committed


def test_a_seek_forgets_acks_and_keeps_offset_zero(
    consumer: ExactConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _state(consumer, None, [0, 1, 2])  # acked while the partition was being revoked

    async def seek() -> dict[TP, int]:
        return {TOPIC: 0}

    monkeypatch.setattr(consumer, "seek_to_committed", seek)
    asyncio.run(consumer.perform_seek())
    assert consumer._committed_offset[TOPIC] == 0
    assert consumer._acked[TOPIC] == []
    assert consumer._new_offset(TOPIC) is None


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
