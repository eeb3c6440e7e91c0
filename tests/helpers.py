"""Small helpers the Kafka tests share."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Message


def consume_n(consumer: Consumer, n: int, timeout: float = 30.0) -> list[Message]:
    """Poll until n messages arrived (or timeout); errors fail the test."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(messages) < n and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        messages.append(msg)
    return messages
