"""Which records a fetch hands out first: the scorer's internal hops before its inputs.

The worker's own agents feed scoring.requests, scoring.session-orders and
scoring.recommendations-to-track; draining them first bounds the work in flight, so that
a backlog on station.sessions cannot starve scoring (docs/development/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from faust.transport.consumer import RecordMap
from faust.types import TP

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
