"""The station registry: every worker holds all of `station.registry` in memory.

The topic is small and compacted, so a plain consumer (no group) reads it from the
start in a background thread and keeps the latest Station per station_id. An invalid
record is skipped and counted; the scorer treats a station it does not know as bad input.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from schemas.codec import Codec, CodecError
from streams.topics import REGISTRY

log = logging.getLogger(__name__)


class StationRegistry:
    """station_id -> {"city", "station_type"}, kept current from the registry topic."""

    def __init__(self, bootstrap: str, codec: Codec, topic: str = REGISTRY.name) -> None:
        self._codec = codec
        self._topic = topic
        self._stations: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self.invalid = 0
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                                   "enable.auto.commit": False, "log_level": 3})  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="station-registry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_loaded(self, timeout: float) -> bool:
        """True once everything that was in the topic at start has been read."""
        return self._caught_up.wait(timeout)

    @property
    def loaded(self) -> bool:
        return self._caught_up.is_set()

    def get(self, station_id: str) -> dict[str, str] | None:
        with self._lock:
            return self._stations.get(station_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._stations)

    def _run(self) -> None:
        _, high = self._consumer.get_watermark_offsets(TopicPartition(self._topic, 0), timeout=30)
        self._consumer.assign([TopicPartition(self._topic, 0, OFFSET_BEGINNING)])
        if high <= 0:
            self._caught_up.set()
        try:
            while not self._stop.is_set():
                msg = self._consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                self._apply(msg.key(), msg.value())
                if (msg.offset() or 0) + 1 >= high:
                    self._caught_up.set()
        finally:
            self._consumer.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        station_id = (key or b"").decode(errors="replace")
        if value is None:  # a tombstone removes the station
            with self._lock:
                self._stations.pop(station_id, None)
            return
        try:
            record: dict[str, Any] = self._codec.decode(value, expect="Station")
        except CodecError as exc:
            self.invalid += 1
            log.warning("skipping invalid registry record for %r: %s", station_id, exc)
            return
        with self._lock:
            self._stations[record["station_id"]] = {
                "city": record["city"],
                "station_type": record["station_type"],
            }
