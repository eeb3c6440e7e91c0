"""How fetched records reach the streams: Faust's delivery loop with one rebalance guard per
fetch instead of one per record.

Faust's `Consumer._drain_messages` races every record's delivery against `suspend_flow`
(set when a rebalance stops the flow) with `Service.wait_first`, so that a delivery blocked
on flow control gives way and the loop gets back to its fetch, which seeks. Each race costs
four tasks, an `asyncio.wait` and three cancellations, a fifth of what a consumed event
costs in the worker (docs/development/benchmarks.md). Here one race
covers every record of a fetch, and what each record goes through is unchanged: the read
offset test, gaps, commits every `broker_commit_every` acks, a yield to the loop every 100
records. A rebalance cancels the delivery where it blocks, as before; the records of the
fetch not delivered yet are fetched again after the seek (streams/kafka/consumer.py).

Delivered this fast, records fill a stream's buffer, and Faust holds its partition back
until the buffer drains; a fetch long-polling 1 s on the other partitions did not see it
resume, and the main thread sat idle 30% of the time. A fetch waits at most 50 ms while a
partition is held back.

A fetch lost after a rebalance (seen once, cause not found: docs/development/decisions.md,
2) is fetched again by streams/kafka/offsets.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.types import TP, Message
from mode import Service, ServiceT

#: Records delivered between two yields to the event loop (Faust's own figure).
YIELD_EVERY = 100
#: The longest a fetch waits for records (Faust's figure), and while a partition is held
#: back for its stream's full buffer.
FETCH_WAIT_S = 1.0
HELD_BACK_FETCH_WAIT_S = 0.05

Fetched = AsyncIterator[tuple[TP, Message]]


async def drain_messages(consumer: Consumer, fetcher: ServiceT) -> None:
    """Fetch and deliver records until the consumer or `fetcher` stops (Faust's loop)."""
    consumer_stopped = cast(Service, consumer)._stopped.is_set
    fetcher_stopped = cast(Service, fetcher)._stopped.is_set
    diag = consumer.diag
    try:
        while not (consumer_stopped() or fetcher_stopped()):
            diag.set_flag(CONSUMER_FETCHING)
            # A partition held back because its stream's buffer filled resumes once the
            # buffer drains, which a fetch waiting on the other partitions does not see.
            held_back = bool(consumer._buffered_partitions)
            wait = HELD_BACK_FETCH_WAIT_S if held_back else FETCH_WAIT_S
            fetched = cast(Fetched, consumer.getmany(timeout=wait))
            await consumer.sleep(0)  # getmany may return at once, again and again
            if not consumer.should_stop:
                await _deliver_fetch(consumer, fetched)
            diag.unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            consumer.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            consumer.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        consumer.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        diag.unset_flag(CONSUMER_FETCHING)


async def _deliver_fetch(consumer: Consumer, fetched: Fetched) -> None:
    """Deliver one fetch under a single race against a rebalance, committing when due."""
    # The fetch runs here, outside the race: a suspended flow does not cut it.
    first = await anext(fetched, None)
    while first is not None:
        delivery = _deliver(consumer, first, fetched)
        outcome = await consumer.wait_first(delivery, consumer.suspend_flow.wait())
        if outcome.stopped or delivery not in outcome.done:
            return  # stopping, or a rebalance: the rest is fetched again
        # the record that found a commit due, or None: the fetch is delivered
        first = outcome.results[outcome.done.index(delivery)]
        if first is not None:
            consumer._n_acked = 0  # a commit is due: made outside the race
            await consumer.commit()


async def _deliver(
    consumer: Consumer, item: tuple[TP, Message], fetched: Fetched
) -> tuple[TP, Message] | None:
    """Hand `item` and the rest of `fetched` to the streams; stop early at a record that
    finds a commit due (returned, not delivered yet), else return None at the end."""
    callback = consumer.callback
    read_offset: Any = consumer._read_offset
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    commit_every = consumer._commit_every
    since_yield = 0
    next_item: tuple[TP, Message] | None = item
    while next_item is not None:
        tp, message = next_item
        since_yield += 1
        if since_yield > YIELD_EVERY:
            await asyncio.sleep(0)
            since_yield = 0
        offset, last = message.offset, read_offset[tp]
        if last is None or offset >= last:
            if offset - (last or 0) > 1 and last and acks_enabled_for(message.topic):
                await consumer._add_gap(tp, last + 1, offset)
            if commit_every is not None and consumer._n_acked >= commit_every:
                return next_item
            await callback(message)
            read_offset[tp] = offset
        next_item = await anext(fetched, None)
    return None
