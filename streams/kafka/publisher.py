"""The scorer's outputs leave through librdkafka, not through Faust's producer.

A Faust `send` costs about 0.24 ms of CPU here (make bench: the Faust passthrough), more
than consuming the event that caused it; confluent-kafka's `produce` costs a few
microseconds. Recommendations, scoring requests, orders re-keyed by session and
conversions are therefore produced with one confluent-kafka producer per worker.

At least once still holds: the worker's consumer commits an offset only after every
output produced before the commit is delivered (`Publisher.delivered`, called by
streams/kafka/consumer.py), so a crash can repeat an output, never lose one. Outputs
held back for a while to share a message (streams/kafka/bundles.py, `Held`) are
published first, by the flushers `delivered` and `close` call. A delivery that fails for
good stops the worker, like a table write that fails.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from infra.kafka.client import producer_config
from schemas.errors import ScorerError

log = logging.getLogger(__name__)

#: How long a produce may wait in librdkafka for the broker (retrying) before it fails
#: for good: outages shorter than this are ridden out, a longer one stops the worker.
MESSAGE_TIMEOUT_MS = 300_000
#: How often `delivered` looks again while outputs are on their way.
WAIT_STEP_S = 0.002
#: Delivery reports are served on the event loop's thread, once every SERVE_EVERY outputs
#: and while `delivered` waits: a thread that served each report as it came took the GIL
#: from the loop thousands of times a second (about 1.5 µs of CPU an output, measured
#: apart; py-spy's 12% of the worker's samples for it overstated the cost). The thread
#: still serves reports and librdkafka's logs when the loop has served none for
#: IDLE_POLL_S (the loop publishes little).
SERVE_EVERY = 64
IDLE_POLL_S = 0.1


class DeliveryFailed(ScorerError):
    """An output could not be delivered: nothing processed may be committed any more."""


class Publisher:
    """One confluent-kafka producer for the worker's outputs, with delivery tracking."""

    def __init__(self, bootstrap: str, **config: Any) -> None:
        # librdkafka logs through Python logging, so that the worker's filter of repeated
        # lines (streams/logs.py) holds back its reconnect errors while the broker is away
        self._producer = Producer(
            producer_config(
                bootstrap,
                **{
                    "linger.ms": 1,
                    "message.timeout.ms": MESSAGE_TIMEOUT_MS,
                    "queue.buffering.max.messages": 500_000,
                    "logger": log,
                    **config,
                },
            )
        )
        self._produced = 0
        self._undelivered: set[int] = set()
        self._failed: list[str] = []
        self._served_at = time.monotonic()
        self._flushers: list[Callable[[], object]] = []
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="publisher-poll", daemon=True)
        self._poller.start()

    def publish(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        """Queue one output; a full queue (the broker is away) waits for room."""
        self._produced += 1
        seq = self._produced
        self._undelivered.add(seq)
        kwargs: dict[str, Any] = {"on_delivery": self._on_delivery(seq)}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, value, key, **kwargs)
                break
            except BufferError:
                self._serve(0.01)  # room comes back as deliveries complete
        if seq % SERVE_EVERY == 0:
            self._serve()

    def flush_before_waits(self, flush: Callable[[], object]) -> None:
        """Call `flush` (once registered) before each wait for deliveries and before
        closing: what it holds is published before any commit covers its input."""
        if flush not in self._flushers:
            self._flushers.append(flush)

    def _flush_held(self) -> None:
        for flush in self._flushers:
            flush()

    def _serve(self, timeout: float = 0.0) -> None:
        """Run the callbacks of the delivery reports (and logs) that have come."""
        self._served_at = time.monotonic()
        self._producer.poll(timeout)

    def _on_delivery(self, seq: int) -> Callable[[KafkaError | None, Message], None]:
        def done(error: KafkaError | None, message: Message) -> None:
            self._undelivered.discard(seq)
            if error is not None:
                self._failed.append(f"{message.topic()}: {error}")

        return done

    async def delivered(self, timeout: float) -> bool:
        """Wait up to `timeout` s until every output queued before the call is delivered;
        whether they all were. Raises DeliveryFailed once any output has failed."""
        self._flush_held()
        upto = self._produced
        deadline = time.monotonic() + timeout
        while True:
            if self._failed:
                raise DeliveryFailed(
                    f"{len(self._failed)} outputs not delivered, the first: {self._failed[0]}"
                )
            self._serve()
            pending = self._undelivered.copy()  # one step under the GIL: the poll thread edits it
            if not pending or min(pending) > upto:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(WAIT_STEP_S)

    def undelivered(self) -> int:
        """How many outputs have no delivery report yet."""
        return len(self._undelivered)

    def _poll(self) -> None:
        while not self._stop.wait(IDLE_POLL_S):
            if time.monotonic() - self._served_at >= IDLE_POLL_S:
                self._producer.poll(0)

    def close(self, timeout: float = 10.0) -> int:
        """Deliver what is queued (up to `timeout` s), stop; how many were left (dropped:
        their callbacks would otherwise keep the producer, and its reconnecting, alive)."""
        self._flush_held()
        left: int = self._producer.flush(timeout)
        self._stop.set()
        self._poller.join(timeout=1)
        if left:
            self._producer.purge()
            self._producer.flush(0)
        del self._producer  # librdkafka's threads end with it
        return left
