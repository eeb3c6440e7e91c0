"""A Faust Kafka consumer whose offset commits never pass an event that was not processed
or whose table writes are not in their changelogs yet, and which hands out the scorer's
internal hops before its inputs.

Faust 0.15's own consumer can commit past events that were never processed around a
rebalance, and stop a partition's commits for good after a put-off commit; the cases are
listed in docs/development/decisions.md, 2.

`ExactConsumer` seeks every stream partition to an explicit offset (the committed one, else
the start of the log) in one step with counting the seek (streams/kafka/offsets.py); each
fetched record carries its partition's seek count, so records fetched before a later seek
are not handed out, and the first one fetched after it resets the read offset. Acks from
events skipped or finished while the flow was stopped do not count; acks of processed
events stay across a seek. Commits take only a run of acked offsets that starts exactly at
the committed offset, and a commit not made gives its run back; a partition whose run an
offset never acked holds up is sought back to it. The cost is redelivery of a few events,
which the agents' deduplication absorbs (streams/tables.py). Commits also wait until every
table write and output produced before them is delivered (streams/kafka/producer.py,
streams/kafka/publisher.py).

Its thread hands out the app's `first_topics` (the internal hops) first (fetching.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast
from weakref import WeakKeyDictionary

import aiokafka
from faust.exceptions import ProducerSendError
from faust.transport.consumer import RecordMap
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage
from mode import Service

from streams.kafka import offsets as positions
from streams.kafka import producer as delivery
from streams.kafka.draining import drain_messages
from streams.kafka.fetching import fetch_first
from streams.kafka.producer import DeliveringProducer
from streams.kafka.publisher import DeliveryFailed

log = logging.getLogger(__name__)


#: Where a fetched record keeps how many seeks its partition had when it was fetched.
SEEK_COUNT = "_exact_seek_count"


class ExactConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Runs the aiokafka consumer: seeks stream partitions explicitly, marks each fetched
    record with its partition's seek count, hands out the consumer's `first_topics` first."""

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
            records = await super(ExactConsumerThread, self)._fetch_records(
                consumer, tps, wait, most
            )
            # records that follow the current position: no seek can run before this
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
        consumer, skip = self._ensure_consumer(), self.consumer._is_changelog_tp
        return await positions.seek_exactly(consumer, skip, self._sought)

    def _sought(self, tp: TP) -> None:
        self.seeks[tp] = self.seeks.get(tp, 0) + 1

    async def rewind(self, tp: TP, offset: int) -> None:
        """Seek `tp` back to `offset` (unless revoked meanwhile), counted like every seek."""

        async def seek() -> None:
            if tp in (consumer := self._ensure_consumer()).assignment():
                consumer.seek(tp, offset)
                self._sought(tp)

        await self.call_thread(seek)


class ExactConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with commits that never skip an unprocessed event,
    records of `first_topics` (the scorer's internal hops) handed out first, and one
    rebalance guard per fetch (streams/kafka/draining.py)."""

    _drain_messages = drain_messages

    @property
    def first_topics(self) -> frozenset[str]:
        """Topics whose records every fetch hands out before the others' (set by the app)."""
        topics: frozenset[str] = getattr(self.app, "first_topics", frozenset())
        return topics

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seek_counts: WeakKeyDictionary[Message, int] = WeakKeyDictionary()
        self._delivering: dict[TP, int] = {}
        self._stuck = positions.StuckHeads()

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ExactConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def lag(self, tp: TP) -> int | None:
        """Records of `tp` not committed, from the last fetch's highwater; None while unknown."""
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
        if committed is None or not self._acked[tp]:
            return None  # position unknown until the next seek, or nothing new
        if self._head(tp) != committed:
            return None  # the event at the committed offset is not processed yet
        return cast(int | None, super()._new_offset(tp))

    def _head(self, tp: TP) -> int | None:
        """The lowest offset of `tp` processed (or skipped as a gap) from the committed one."""
        committed = self._committed_offset.get(tp)
        if committed is None:
            return None
        positions.drop_below(self._acked[tp], self._acked_index[tp], committed)
        return min([*self._acked[tp], *(gap.begin for gap in self._gap[tp])], default=None)

    @Service.timer(positions.CHECK_EVERY_S)
    async def _rewind_stuck_partitions(self) -> None:
        """Seek back each partition held up by an offset never acked (offsets.py)."""
        if self.app.rebalancing or not self.flow_active:
            self._stuck.clear()
            return
        heads = {tp: (self._committed_offset.get(tp), self._head(tp)) for tp in list(self._acked)}
        for tp, offset in self._stuck.due(heads, time.monotonic()).items():
            positions.report_rewind(tp, offset, self._stuck.after_s)
            await cast(ExactConsumerThread, self._thread).rewind(tp, offset)

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
            log.warning(
                "outputs or table writes not delivered in %.0f s: commit put off for %s",
                delivery.DELIVERY_WAIT_S,
                sorted(offsets),
            )
        done = delivered and await super()._commit_offsets(offsets, start_new_transaction)
        for tp, offset in offsets.items():  # Faust took their acks; not committed, they stay
            if (committed := self._committed_offset.get(tp)) is not None and committed < offset:
                positions.put_back(self._acked[tp], self._acked_index[tp], range(committed, offset))
        return cast(bool, done)

    async def on_stop(self) -> None:
        await super().on_stop()
        # The last commit is made; what was processed after it must still reach the
        # changelogs and output topics before the group hands its partitions on.
        await delivery.all_delivered(cast(DeliveringProducer, self.app.producer))


class ExactTransport(faust_aiokafka.Transport):
    """The aiokafka transport with `ExactConsumer` and `DeliveringProducer`."""

    Consumer = ExactConsumer
    Producer = DeliveringProducer
