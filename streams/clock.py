"""Event times as the scorer counts them: epoch milliseconds (imports nothing heavy, so
that the web front, streams/web/front.py, can use it without loading a model)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def written_ms(event: Any) -> int:
    """The Kafka timestamp of a Faust event (its producer's clock), in epoch ms."""
    return int(event.message.timestamp * 1000)


def to_ms(value: datetime | int) -> int:
    """Epoch milliseconds of a decoded timestamp-millis field."""
    return value if isinstance(value, int) else int(value.timestamp() * 1000)
