"""The broker probe says "unreachable" once no broker has answered for a while."""

from __future__ import annotations

import socket
import time

from streams.kafka.probe import BrokerProbe


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once the socket is closed


def test_no_broker_means_unreachable_after_the_stale_time() -> None:
    probe = BrokerProbe(f"127.0.0.1:{_closed_port()}", "any", interval_s=0.1, stale_s=0.5)
    assert probe.reachable  # a worker starts as reachable: it has just talked to the broker
    probe.start()
    try:
        deadline = time.monotonic() + 10
        while probe.reachable and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not probe.reachable
    finally:
        probe.stop()
