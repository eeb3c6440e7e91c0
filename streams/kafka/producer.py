"""A Faust producer whose flush returns only once the table writes it buffered are on the
broker.

Table writes leave through Faust's producer buffer, whose flush gives up after 0.1 s without
progress and misses the write on its way out of the buffer: commits were seen going out with
table writes still undelivered, and a worker stopped with SIGTERM then left the group before
its last history writes reached the changelog, so the next owner recovered the table without
them while their orders counted as processed. `DeliveringProducer.flush` waits until every
write buffered before it is delivered, and `ExactConsumer` commits only once that holds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from faust.exceptions import ProducerSendError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import FutureMessage

from streams.runtime import installed

log = logging.getLogger(__name__)

#: How long a flush waits for buffered table writes before the commit is put off (the
#: events are then processed again: at least once).
DELIVERY_WAIT_S = 15.0


class DeliveringProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer whose flush waits until the buffered writes (table
    changelogs) are delivered, not only handed on, and fails once one of them failed."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._undelivered: set[FutureMessage] = set()
        self._failed: list[BaseException] = []

    def send_soon(self, fut: FutureMessage) -> None:
        self._undelivered.add(fut)
        fut.add_done_callback(self._on_done)
        super().send_soon(fut)

    def _on_done(self, fut: asyncio.Future[object]) -> None:
        self._undelivered.discard(cast(FutureMessage, fut))
        if fut.cancelled():
            self._failed.append(asyncio.CancelledError("table write cancelled"))
        elif fut.exception() is not None:
            self._failed.append(cast(BaseException, fut.exception()))

    async def flush(self) -> None:
        await self.flush_delivered()

    async def flush_delivered(self, timeout: float | None = None) -> bool:
        """Flush, then wait up to `timeout` s (DELIVERY_WAIT_S) until every write buffered
        before the call is delivered; whether they all were.

        Raises ProducerSendError once any buffered write has failed: its table's changelog
        lacks a change the table made, so nothing processed may be committed any more.
        """
        timeout = DELIVERY_WAIT_S if timeout is None else timeout
        waiting = set(self._undelivered)
        await super().flush()
        late: set[FutureMessage] = set()
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=timeout)
        if self._failed:
            raise ProducerSendError(
                f"{len(self._failed)} table writes failed, the first: {self._failed[0]!r}"
            )
        if late:
            log.warning(
                "%d of %d buffered writes not delivered in %.0f s", len(late), len(waiting), timeout
            )
        return not late


async def all_delivered(producer: DeliveringProducer) -> bool:
    """Wait until every output (streams/kafka/publisher.py) and then every table write
    queued before the call is delivered, up to DELIVERY_WAIT_S each; whether all were.
    Raises DeliveryFailed or ProducerSendError once one of them failed for good."""
    runtime = installed()  # None in unit tests of the consumer alone
    if runtime is not None and not await runtime.publisher.delivered(DELIVERY_WAIT_S):
        return False
    return await producer.flush_delivered()
