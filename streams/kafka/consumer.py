"""A Faust Kafka consumer whose offset commits never pass an event that was not processed
or whose table writes are not in their changelogs yet, and which hands out the scorer's
internal hops before its inputs.

Faust 0.15's consumer can lose or skip events around a rebalance in four ways (read in its
source and aiokafka's); orders missing from their users' histories and sessions never
recommended were seen here after a SIGTERM:

- aiokafka's `seek_to_committed` seeks only to committed offsets above 0. A partition with
  no commit yet (or a commit at 0) keeps whatever fetch position it had, so events the
  worker prefetched there before the rebalance, and dropped, are never fetched again.
- Events a stream drops because they were fetched in an older generation, or while a
  rebalance stopped the flow, are acked like processed ones; once the partition's committed
  offset is forgotten (every revoke forgets it) those acks are committed.
- `_new_offset` lets the acked run start one offset past the committed one, and checks
  nothing at all when the committed offset is unknown or 0.
- A partition is sought while records fetched before the seek are still being handed out
  (each rebalance seeks twice, once while the flow is already running). The seek resets
  the acks of events already processed, and those records move Faust's read offset past
  the new position, so records the seek fetches again can be dropped as read already.
  Traced: offset 99 processed and acked, the second seek reset the ack, 99 was never
  handed out again, and the partition's commits stopped at 99 for good.

`ExactConsumer` seeks every stream partition to an explicit offset (the committed one, else
the beginning of the log) in one step with counting the seek; each fetched record carries
its partition's seek count, so records fetched before a later seek are not handed out, and
the first one fetched after it resets the read offset. Acks from events skipped or finished
while the flow was stopped do not count; acks of processed events stay across a seek.
Commits take only a run of acked offsets that starts exactly at the committed offset. The
cost is redelivery of a few events after a rebalance, which the scorer's deduplication
absorbs (streams/tables.py).

Commits also wait until every table write and every output produced before them is
delivered (streams/kafka/producer.py, streams/kafka/publisher.py).

Its thread hands out the app's `first_topics` (the internal hops: scoring.requests,
scoring.session-orders, scoring.recommendations-to-track) before the rest
(streams/kafka/fetching.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast
from weakref import WeakKeyDictionary

import aiokafka
from faust.exceptions import ProducerSendError
from faust.transport.consumer import RecordMap
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage

from streams.kafka import producer as delivery
from streams.kafka.fetching import fetch_first
from streams.kafka.producer import DeliveringProducer
from streams.kafka.publisher import DeliveryFailed

log = logging.getLogger(__name__)


async def seek_exactly(
    consumer: aiokafka.AIOKafkaConsumer,
    skip: Callable[[TP], bool] = lambda tp: False,
    on_seek: Callable[[TP], None] = lambda tp: None,
) -> dict[TP, int]:
    """Seek every assigned partition to its committed offset, or to the start of its log
    when it has none, unlike `seek_to_committed`, which leaves those where they are.

    Partitions `skip` names (changelogs, which Faust positions itself) are left alone. The
    seeks are made in one step, each followed by `on_seek`, so that no fetch can fall
    between a seek and what `on_seek` records of it.
    """
    tps = [TP(tp.topic, tp.partition) for tp in consumer.assignment() if not skip(tp)]
    committed = {tp: await consumer.committed(tp) for tp in tps}
    starts = await consumer.beginning_offsets(tps) if tps else {}
    offsets: dict[TP, int] = {}
    for tp in tps:
        offsets[tp] = max(committed[tp] or 0, starts[tp])
        consumer.seek(tp, offsets[tp])
        on_seek(tp)
    return offsets


#: Where a fetched record keeps how many seeks its partition had when it was fetched.
SEEK_COUNT = "_exact_seek_count"


class ExactConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Runs the aiokafka consumer; seeks every stream partition explicitly, marks what it
    fetches with its partition's seek count, and hands out records of the consumer's
    `first_topics` before any other."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Seeks made per stream partition, counted in this thread as they are made.
        self.seeks: dict[TP, int] = {}

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> RecordMap:
        is_changelog = self.consumer._is_changelog_tp

        async def fetch(tps: set[TP], wait: float | None, most: int | None) -> RecordMap:
            records = await super(ExactConsumerThread, self)._fetch_records(consumer, tps, wait,
                                                                             most)  # fmt: skip
            # aiokafka hands out only records that follow the current position, and no
            # seek can run between that and this
            for tp, batch in records.items():
                if not is_changelog(tp):
                    seeks = self.seeks.get(tp, 0)
                    for record in batch:
                        setattr(record, SEEK_COUNT, seeks)
            return records

        first_topics = cast(ExactConsumer, self.consumer).first_topics
        return await fetch_first(fetch, active_partitions, first_topics, timeout, max_records)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_exactly)

    async def _seek_exactly(self) -> Mapping[TP, int]:
        return await seek_exactly(self._ensure_consumer(), self.consumer._is_changelog_tp,
                                  self._sought)  # fmt: skip

    def _sought(self, tp: TP) -> None:
        self.seeks[tp] = self.seeks.get(tp, 0) + 1


class ExactConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with commits that never skip an unprocessed event, and
    records of `first_topics` (the scorer's internal hops) handed out first."""

    @property
    def first_topics(self) -> frozenset[str]:
        """Topics whose records every fetch hands out before the others' (set by the app)."""
        topics: frozenset[str] = getattr(self.app, "first_topics", frozenset())
        return topics

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seek_counts: WeakKeyDictionary[Message, int] = WeakKeyDictionary()
        self._delivering: dict[TP, int] = {}

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ExactConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def lag(self, tp: TP) -> int | None:
        """Records of `tp` not yet committed, from the highwater of the last fetch (no
        request to the broker); None while either is unknown."""
        high, committed = self.highwater(tp), self._committed_offset.get(tp)
        return None if high is None or committed is None else max(0, high - committed)

    def _to_message(self, tp: TP, record: Any) -> ConsumerMessage:
        message: ConsumerMessage = super()._to_message(tp, record)
        seeks = getattr(record, SEEK_COUNT, None)
        if seeks is not None:
            self._seek_counts[message] = seeks
        return message

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        async for tp, message in super().getmany(timeout):
            if self._fetched_since_last_seek(tp, message):
                yield tp, message

    def _fetched_since_last_seek(self, tp: TP, message: Message) -> bool:
        """False for a record fetched before its partition's latest seek: the seek fetches
        it again. The first record fetched after a seek also clears Faust's read offset,
        which records delivered from the older fetch may have moved past the new position
        (Faust drops any record below it)."""
        fetched_at = self._seek_counts.pop(message, None)
        if fetched_at is None:
            return True  # not a partition this consumer seeks (a changelog)
        if fetched_at < cast(ExactConsumerThread, self._thread).seeks.get(tp, 0):
            return False
        if self._delivering.get(tp) != fetched_at:
            self._delivering[tp] = fetched_at
            self._read_offset[tp] = None
        return True

    async def perform_seek(self) -> None:
        offsets = await self.seek_to_committed()
        for tp, offset in offsets.items():
            self._committed_offset[tp] = offset  # 0 stays 0: it is a real position

    def ack(self, message: Message) -> bool:
        if not message.acked and (
            message.generation_id != self.app.consumer_generation_id
            or not self.app.flow_control.is_active()
        ):
            # Skipped by its stream (fetched before the latest assignment, or while a
            # rebalance stopped the flow), or done while the flow was stopped: the seek
            # that follows fetches it again unless committed, so this ack must not count.
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

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        producer = cast(DeliveringProducer, self.app.producer)
        try:
            delivered = await delivery.all_delivered(producer)
        except (ProducerSendError, DeliveryFailed) as exc:
            await self.crash(exc)  # the worker stops; a restart rebuilds from changelogs
            return False
        if not delivered:
            log.warning("outputs or table writes not delivered in %.0f s: commit put off for %s",
                        delivery.DELIVERY_WAIT_S, sorted(offsets))  # fmt: skip
            return False
        done: bool = await super()._commit_offsets(offsets, start_new_transaction)
        return done

    async def on_stop(self) -> None:
        await super().on_stop()
        # The last commit is made; what was processed after it must still reach the
        # changelogs and output topics before the group hands its partitions on.
        await delivery.all_delivered(cast(DeliveringProducer, self.app.producer))

    def _drop_acked_below(self, tp: TP, committed: int) -> None:
        acked = self._acked[tp]
        stale = [offset for offset in acked if offset < committed]
        if stale:
            acked[:] = [offset for offset in acked if offset >= committed]
            self._acked_index[tp].difference_update(stale)


class ExactTransport(faust_aiokafka.Transport):
    """The aiokafka transport with `ExactConsumer` and `DeliveringProducer`."""

    Consumer = ExactConsumer
    Producer = DeliveringProducer
