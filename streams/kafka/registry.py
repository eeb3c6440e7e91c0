"""The station registry: every worker holds all of `station.registry` in memory.

The topic is small and compacted, so a plain consumer (no group) reads it from the
start in a background thread and keeps the latest Station per station_id. An invalid
record is skipped and counted; the scorer treats a station it does not know as bad input.

That thread reads the registry at its own pace, a fetch or two behind the topic, while
a station publishes its Station record just before its first events. An event must
therefore not be judged by what the thread happens to have read: `lookup` first reads
the registry up to the end it has now, and only a station still missing then is unknown
(its events go to the dead-letter topic). Judging by the thread alone was seen to
dead-letter a station's first orders, lost from their users' histories for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from infra.kafka.client import reader_config
from schemas.codec import Codec, CodecError
from schemas.errors import ScorerError
from schemas.topics import REGISTRY

log = logging.getLogger(__name__)

#: How long the consumer thread blocks in one poll: the most a `refresh` waits before the
#: thread looks at it.
POLL_S = 0.05
#: How long `refresh` waits for the registry's end before it gives up (by default).
REFRESH_TIMEOUT_S = 30.0
#: A station found missing after a refresh is taken as missing for this long, so that a
#: stream of events from one unregistered station costs one refresh a second, not one
#: per event.
UNKNOWN_FOR_S = 1.0


class RegistryUnavailable(ScorerError):
    """The registry could not be read up to its end in time (the broker is unreachable)."""


class StationRegistry:
    """station_id -> {"city", "station_type"}, kept current from the registry topic."""

    def __init__(
        self,
        bootstrap: str,
        codec: Codec,
        topic: str = REGISTRY.name,
        refresh_timeout_s: float = REFRESH_TIMEOUT_S,
    ) -> None:
        self._codec = codec
        self.refresh_timeout_s = refresh_timeout_s
        self._topic = topic
        self._stations: dict[str, dict[str, str]] = {}
        self._changed = threading.Condition()
        # Reads of the topic's end asked for (the first one at start) and served, the one
        # being worked towards as (request, end offset), and the next offset to read.
        self._asked = 1
        self._served = 0
        self._target: tuple[int, int] | None = None
        self._next_offset = 0
        self._unknown_at: dict[str, float] = {}
        # catch_up's callers: (request, their loop, the future to resolve once served).
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._stop = threading.Event()
        self.invalid = 0
        self.ends_read = 0  # reads of the topic's end, each serving every request before it
        # librdkafka's own lines go through `log`, so that the worker's log filter
        # (streams/logs.py) limits them while the broker is away.
        self._consumer = Consumer(reader_config(bootstrap, logger=log))
        self._thread = threading.Thread(target=self._run, name="station-registry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_loaded(self, timeout: float) -> bool:
        """True once everything that was in the topic at start has been read."""
        with self._changed:
            return self._changed.wait_for(lambda: self._served >= 1, timeout)

    @property
    def loaded(self) -> bool:
        with self._changed:
            return self._served >= 1

    def get(self, station_id: str) -> dict[str, str] | None:
        """The station as far as the registry has been read."""
        with self._changed:
            return self._stations.get(station_id)

    def __len__(self) -> int:
        with self._changed:
            return len(self._stations)

    async def lookup(self, station_id: str) -> dict[str, str] | None:
        """The station, or None when it is not in the registry even read to its end.

        A miss reads the registry up to the end it has at that moment (in a thread, the
        event loop goes on); raises RegistryUnavailable when that takes too long, which
        is the broker's fault, not the event's.
        """
        station = self.get(station_id)
        if station is not None:
            return station
        missing_since = self._unknown_at.get(station_id)
        if missing_since is not None and time.monotonic() - missing_since < UNKNOWN_FOR_S:
            return None
        await self.catch_up()
        station = self.get(station_id)
        if station is None:
            if len(self._unknown_at) > 10_000:
                self._unknown_at.clear()
            self._unknown_at[station_id] = time.monotonic()
        return station

    def refresh(self, timeout: float | None = None) -> None:
        """Return once every record the topic holds now has been read (blocking; raises
        RegistryUnavailable after `timeout`, by default `refresh_timeout_s`)."""
        timeout = self.refresh_timeout_s if timeout is None else timeout
        with self._changed:
            self._asked += 1
            request = self._asked
            if not self._changed.wait_for(lambda: self._served >= request, timeout):
                raise self._unavailable(timeout)

    async def catch_up(self) -> None:
        """`refresh` for the event loop, holding no thread while it waits.

        Every caller waiting at the moment the thread reads the topic's end is served by
        that one read, so a burst of misses (unknown stations) costs one or two reads of
        the end, not one each queued behind the others.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._changed:
            self._asked += 1
            waiter = (self._asked, loop, done)
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(done, self.refresh_timeout_s)
        except TimeoutError:
            raise self._unavailable(self.refresh_timeout_s) from None
        finally:
            with self._changed:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _unavailable(self, timeout: float) -> RegistryUnavailable:
        return RegistryUnavailable(
            f"the station registry {self._topic!r} could not be read to its end "
            f"in {timeout:g} s: is the Kafka broker reachable?"
        )

    def _run(self) -> None:
        partition = TopicPartition(self._topic, 0)
        self._consumer.assign([TopicPartition(self._topic, 0, OFFSET_BEGINNING)])
        try:
            while not self._stop.is_set():
                self._read_end_if_asked(partition)
                msg = self._consumer.poll(POLL_S)
                if msg is not None and not msg.error():
                    self._apply(msg.key(), msg.value())
                    self._next_offset = (msg.offset() or 0) + 1
                elif msg is None:  # past records that are not data (transaction markers)
                    position = self._consumer.position([partition])[0].offset
                    self._next_offset = max(self._next_offset, position)
                self._serve()
        finally:
            self._consumer.close()

    def _read_end_if_asked(self, partition: TopicPartition) -> None:
        """Note the topic's end for the latest request, unless it is noted already."""
        with self._changed:
            asked = self._asked
            if asked <= self._served or (self._target and self._target[0] == asked):
                return
        self.ends_read += 1
        try:
            start, end = self._consumer.get_watermark_offsets(partition, timeout=5, cached=False)
        except KafkaException as exc:  # asked again on the next turn; refresh times out
            log.warning("station registry: cannot read the end of %s: %s", self._topic, exc)
            return
        with self._changed:
            self._target = (asked, end)
            # Nothing below the log's start is left to read (compaction, retention).
            self._next_offset = max(self._next_offset, start)

    def _serve(self) -> None:
        """Wake the refreshes whose end has been read."""
        served: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        with self._changed:
            if self._target is not None and self._next_offset >= self._target[1]:
                self._served = self._target[0]
                self._target = None
                self._changed.notify_all()
                served = [w for w in self._waiters if w[0] <= self._served]
                self._waiters = [w for w in self._waiters if w[0] > self._served]
        for _, loop, done in served:
            with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits
                loop.call_soon_threadsafe(_resolve, done)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        station_id = (key or b"").decode(errors="replace")
        if value is None:  # a tombstone removes the station
            with self._changed:
                self._stations.pop(station_id, None)
            return
        try:
            record: dict[str, Any] = self._codec.decode(value, expect="Station")
        except CodecError as exc:
            self.invalid += 1
            log.warning("skipping invalid registry record for %r: %s", station_id, exc)
            return
        with self._changed:
            self._stations[record["station_id"]] = {
                "city": record["city"],
                "station_type": record["station_type"],
            }


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():  # not timed out meanwhile
        done.set_result(None)
