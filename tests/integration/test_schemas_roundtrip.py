"""Every schema's example record through the real broker and back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from schemas.codec import Codec
from schemas.examples import EXAMPLES
from tests.helpers import consume_n

pytestmark = pytest.mark.kafka


def test_every_schema_round_trips_through_kafka(
    topic_factory: Callable[..., str], producer_factory: Callable, consumer_factory: Callable
) -> None:
    codec = Codec()
    topic = topic_factory("roundtrip", partitions=3)
    producer = producer_factory()
    for name, record in sorted(EXAMPLES.items()):
        producer.produce(topic, key=name.encode(), value=codec.encode(name, record))
    assert producer.flush(10) == 0
    messages = consume_n(consumer_factory(topic), len(EXAMPLES))
    assert len(messages) == len(EXAMPLES)
    for msg in messages:
        name = (msg.key() or b"").decode()
        decoded = codec.decode(msg.value(), expect=name)
        expected = EXAMPLES[name]
        for field, value in expected.items():
            got = decoded[field]
            if isinstance(got, datetime):
                got = int(got.timestamp() * 1000)
            assert got == value, f"{name}.{field}"
