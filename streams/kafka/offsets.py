"""Where `ExactConsumer`'s partitions stand (streams/kafka/consumer.py): the acked offsets
it commits from, where it seeks a partition on every assignment, and which partitions it
seeks back to their committed offset.

`ExactConsumer` commits a partition only up to its first offset not acked. Should that
offset never be acked (its ack lost, or the event fetched but never handed to its stream)
the partition's commits stop there for good while the events after it are processed, and
nothing says so; the event itself may never be processed (a session without a
recommendation, an order missing from its customer's history). Seen so far: Faust's commit
takes the run of acks it commits before the commit is made, so a commit put off (outputs
not delivered in 15 s, as in every broker outage that long) or discarded mid-rebalance lost
them, which `put_back` now mends; and, cause not found, one SIGTERM failover run in 47 with
a faster delivery loop, after a rebalance.

A partition's events are processed in order, so its committed offset going unacked while
later offsets are acked lasts only until a rebalance's refused acks are fetched again.
When it lasts `REWIND_AFTER_S` the consumer seeks the partition back to its committed
offset, which fetches that event again with the ones after it (the agents' deduplication
absorbs those), counts the seek in scorer_consumer_rewinds_total and logs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

import aiokafka
from faust.types import TP

from streams import metrics
from streams.settings import settings

log = logging.getLogger(__name__)

#: How long a partition's committed offset may go unacked while later ones are acked.
REWIND_AFTER_S = 15.0
#: How often partitions are checked for it.
CHECK_EVERY_S = 5.0


def drop_below(acked: list[int], index: set[int], committed: int) -> None:
    """Forget the acked offsets below `committed` (in `acked` and its `index`)."""
    stale = [offset for offset in acked if offset < committed]
    if stale:
        acked[:] = [offset for offset in acked if offset >= committed]
        index.difference_update(stale)


def put_back(acked: list[int], index: set[int], offsets: Iterable[int]) -> None:
    """Ack `offsets` again: Faust's `_new_offset` takes a run of acks before its commit is
    made, and a commit not made must leave them for the next one."""
    missing = set(offsets) - index
    acked.extend(missing)
    acked.sort()
    index.update(missing)


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


def report_rewind(tp: TP, offset: int, after_s: float) -> None:
    """Log and count the seek of `tp` back to `offset` (labelled with the topic's name
    without SCORER_TOPIC_PREFIX, as every metric is)."""
    log.warning(
        "%s: offset %d not acked for %.0f s while later ones were: seeking back to it",
        tp,
        offset,
        after_s,
    )
    topic = tp.topic.removeprefix(settings().scorer_topic_prefix)
    metrics.CONSUMER_REWINDS.labels(topic=topic).inc()


class StuckHeads:
    """Since when each partition's committed offset has gone unacked while later offsets
    were acked, and which partitions have been so for `after_s`."""

    def __init__(self, after_s: float = REWIND_AFTER_S) -> None:
        self.after_s = after_s
        self._since: dict[TP, tuple[int, float]] = {}

    def due(self, heads: Mapping[TP, tuple[int | None, int | None]], now: float) -> dict[TP, int]:
        """The partitions to seek back, and where to, from each partition's committed
        offset and lowest acked offset at `now`. A partition sought back is due again
        `after_s` later if its committed offset has still not moved."""
        due: dict[TP, int] = {}
        for tp, (committed, head) in heads.items():
            if committed is None or head is None or head <= committed:
                self._since.pop(tp, None)
                continue
            held, since = self._since.get(tp, (None, now))
            if held != committed:
                self._since[tp] = (committed, now)
            elif now - since >= self.after_s:
                due[tp] = committed
                self._since[tp] = (committed, now)
        for tp in self._since.keys() - heads.keys():
            del self._since[tp]
        return due

    def clear(self) -> None:
        """Forget every partition: a rebalance seeks them all."""
        self._since.clear()
