"""Whether the broker answers, asked in a thread of its own (for /readyz).

The Faust consumer and producer retry quietly while the broker is away; nothing in them
says so to a load balancer. The probe asks for the metadata of one topic every
`interval_s`; the worker is reachable while the last answer is at most `stale_s` old.
A metadata request is all it sends (see streams/monitoring.py for the one that crashed).
"""

from __future__ import annotations

import threading
import time

from confluent_kafka import KafkaException, Producer

from infra.kafka.client import client_config


class BrokerProbe:
    """A background thread asking the cluster for one topic's metadata."""

    def __init__(
        self, bootstrap: str, topic: str, interval_s: float = 1.0, stale_s: float = 4.0
    ) -> None:
        self._client = Producer(
            client_config(bootstrap, **{"log_level": 0, "socket.timeout.ms": 2000})
        )
        self._topic, self.interval_s, self.stale_s = topic, interval_s, stale_s
        self._last_answer = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def reachable(self) -> bool:
        return time.monotonic() - self._last_answer <= self.stale_s

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                metadata = self._client.list_topics(self._topic, timeout=2)
            except KafkaException:
                continue
            if metadata.brokers:
                self._last_answer = time.monotonic()
