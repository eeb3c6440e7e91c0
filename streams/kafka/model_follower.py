"""Every worker follows scoring.models: a plain consumer (no group) in its own thread.

The topic is compacted, one partition, keyed by role. At start the worker reads it to its
end before it serves (`kafka_io.read_announcements`, in streams/worker.py), so a restarted worker
serves what the others serve; this thread then follows it from the start (a record seen
twice changes nothing) and hands each announcement to `ModelSet.offer`, which loads the
version from the model store here, off the event loop, and queues it for the next batch.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from infra.kafka.client import reader_config
from model.production import lifecycle
from model.production.lifecycle import AnnouncementError
from schemas.codec import Codec, CodecError
from streams import metrics
from streams.serving import ModelSet

log = logging.getLogger(__name__)
POLL_S = 0.2


class ModelFollower:
    def __init__(self, bootstrap: str, codec: Codec, topic: str, models: ModelSet) -> None:
        self._codec = codec
        self._topic = topic
        self._models = models
        self._stop = threading.Event()
        self._consumer = Consumer(reader_config(bootstrap, logger=log))
        self._thread = threading.Thread(target=self._run, name="model-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        self._consumer.assign([TopicPartition(self._topic, 0, OFFSET_BEGINNING)])
        try:
            while not self._stop.is_set():
                msg = self._consumer.poll(POLL_S)
                value = None if msg is None or msg.error() else msg.value()
                if msg is None or value is None:
                    continue
                try:
                    announced = lifecycle.decode(self._codec, value)
                except (CodecError, AnnouncementError) as exc:
                    metrics.MODEL_LOAD_FAILURES.labels(role="unknown").inc()
                    log.error(
                        "skipping an unreadable announcement at %s offset %s: %s",
                        self._topic,
                        msg.offset(),
                        exc,
                    )
                    continue
                try:
                    self._models.offer(announced)
                except Exception:  # never let one announcement stop the following
                    metrics.MODEL_LOAD_FAILURES.labels(role=announced.role).inc()
                    log.exception("could not apply %s as %s", announced.version, announced.role)
        finally:
            self._consumer.close()
