"""A Faust Kafka consumer whose offset commits never pass an event that was not processed,
and which hands out the scorer's internal hops before its inputs.

Faust 0.15's consumer can commit past an event in three ways (read in its source and
aiokafka's); an order missing from its user's history after a rebalance was seen here:

- aiokafka's `seek_to_committed` seeks only to committed offsets above 0. A partition with
  no commit yet (or a commit at 0) keeps whatever fetch position it had, so events the
  worker prefetched there before the rebalance, and dropped, are never fetched again.
- Events a stream drops because they were fetched in an older generation (or while flow
  was stopped) are acked like processed ones; once the partition's committed offset is
  forgotten (every revoke forgets it) those acks are committed.
- `_new_offset` lets the acked run start one offset past the committed one, and checks
  nothing at all when the committed offset is unknown or 0.

`ExactConsumer` seeks every stream partition to an explicit offset (the committed one, else
the beginning of the log), drops acks recorded before that seek or fetched in an older
generation, and commits only a run of acked offsets that starts exactly at the committed
offset. The cost is redelivery of a few events after a rebalance, which the scorer's
deduplication absorbs (streams/tables.py).

`fetch_first` gives the app's `first_topics` (scoring.requests, scoring.session-orders)
their records before the rest: see its docstring and README, Performance.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import aiokafka
from faust.transport.consumer import RecordMap
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

log = logging.getLogger(__name__)


async def seek_exactly(
    consumer: aiokafka.AIOKafkaConsumer, skip: Callable[[TP], bool] = lambda tp: False
) -> dict[TP, int | None]:
    """Seek every assigned partition to its committed offset, or to the start of its log
    when it has none (or 0), unlike `seek_to_committed`, which leaves those where they are.

    Partitions `skip` names (changelogs, which Faust positions itself) are left alone.
    """
    offsets: dict[TP, int | None] = dict(await consumer.seek_to_committed())
    unseeked = [tp for tp, offset in offsets.items() if not offset and not skip(tp)]
    if unseeked:
        starts = await consumer.beginning_offsets(unseeked)
        for tp in unseeked:
            offset = max(offsets[tp] or 0, starts[tp])
            log.debug("%s[%d]: no commit past the log start, fetching from %d",
                      tp.topic, tp.partition, offset)  # fmt: skip
            consumer.seek(tp, offset)
            offsets[tp] = offset
    return offsets


Fetch = Callable[[set[TP], float | None, int | None], Awaitable[RecordMap]]


async def fetch_first(
    fetch: Fetch,
    partitions: set[TP],
    first_topics: frozenset[str],
    timeout: float | None,
    max_records: int | None,
) -> RecordMap:
    """Records of `first_topics` first, then the other partitions' up to `max_records`.

    aiokafka drains buffered partitions in the order they were fetched, so a backlog on an
    input topic starves the scorer's own downstream topic for seconds at a time.
    """
    first = {tp for tp in partitions or () if tp.topic in first_topics}
    if not first:
        return await fetch(partitions, timeout, max_records)
    records = dict(await fetch(first, 0, max_records))
    if not records:  # nothing waiting there: wait for whichever partition gets records
        return await fetch(partitions, timeout, max_records)
    left = None if max_records is None else max_records - sum(map(len, records.values()))
    if left is None or left > 0:
        records.update(await fetch(partitions - first, 0, left))
    return records


class ExactConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Runs the aiokafka consumer; seeks partitions without a usable commit explicitly, and
    hands out records of the consumer's `first_topics` before any other."""

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> RecordMap:
        async def fetch(tps: set[TP], wait: float | None, most: int | None) -> RecordMap:
            return await super(ExactConsumerThread, self)._fetch_records(consumer, tps, wait,
                                                                          most)  # fmt: skip

        first_topics = cast(ExactConsumer, self.consumer).first_topics
        return await fetch_first(fetch, active_partitions, first_topics, timeout, max_records)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_exactly)

    async def _seek_exactly(self) -> Mapping[TP, int | None]:
        return await seek_exactly(self._ensure_consumer(), self.consumer._is_changelog_tp)


class ExactConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with commits that never skip an unprocessed event, and
    records of `first_topics` (the scorer's internal hops) handed out first."""

    @property
    def first_topics(self) -> frozenset[str]:
        """Topics whose records every fetch hands out before the others' (set by the app)."""
        topics: frozenset[str] = getattr(self.app, "first_topics", frozenset())
        return topics

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ExactConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        offsets = await self.seek_to_committed()
        for tp, offset in offsets.items():
            self._forget_acks(tp)
            self._read_offset[tp] = offset if offset else None
            self._committed_offset[tp] = offset  # 0 stays 0: it is a real position

    def ack(self, message: Message) -> bool:
        if message.generation_id != self.app.consumer_generation_id and not message.acked:
            # Fetched before the latest assignment: the seek that followed it fetches the
            # event again if it was not committed, so this ack must not count.
            message.acked = True
            self._unacked_messages.discard(message)
            return False
        return super().ack(message)

    def _new_offset(self, tp: TP) -> int | None:
        committed = self._committed_offset[tp]
        acked = self._acked[tp]
        if committed is None or not acked:
            return None  # position unknown until the next seek, or nothing new
        self._drop_acked_below(tp, committed)
        head = min([*acked, *(gap.begin for gap in self._gap[tp])], default=None)
        if head != committed:
            return None  # the event at the committed offset is not processed yet
        offset: int | None = super()._new_offset(tp)
        return offset

    def _drop_acked_below(self, tp: TP, committed: int) -> None:
        acked = self._acked[tp]
        stale = [offset for offset in acked if offset < committed]
        if stale:
            acked[:] = [offset for offset in acked if offset >= committed]
            self._acked_index[tp].difference_update(stale)

    def _forget_acks(self, tp: TP) -> None:
        self._acked.pop(tp, None)
        self._acked_index.pop(tp, None)
        self._gap.pop(tp, None)


class ExactTransport(faust_aiokafka.Transport):
    """The aiokafka transport with `ExactConsumer`."""

    Consumer = ExactConsumer
