"""Log loss against outcomes: how well a model's probabilities foretold what a decided
session did (the class of its first order, or No Buy), for the version that served it
and, on the sessions a shadow scored too, for the shadow beside it.

A waiting recommendation keeps its five probabilities packed in 20 bytes. A shadow's
result waits in `Shadows` for its session's outcome, or finds it decided already.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Mapping
from typing import Any

from model.mlp.features import CLASSES, purchase_class

#: Smallest probability a loss is taken of (a certain miss costs -ln 1e-15, about 34.5).
FLOOR = 1e-15
_PACKED = struct.Struct(f"<{len(CLASSES)}f")
_BUYS = {name: i for i, name in enumerate(CLASSES) if name != "NO_BUY"}


def probabilities(recommendation: Mapping[str, Any]) -> bytes:
    """A Recommendation's probabilities in CLASSES order, packed."""
    p = [0.0] * len(CLASSES)
    p[CLASSES.index("NO_BUY")] = recommendation["p_no_buy"]
    for ranked in recommendation["ranking"]:
        p[_BUYS[ranked["lottery_type"]]] = ranked["probability"]
    return _PACKED.pack(*p)


def outcome_label(outcome: str, purchased_type: str | None) -> int:
    """The class index a decided session fell in."""
    if outcome == "NO_PURCHASE" or purchased_type is None:
        return CLASSES.index("NO_BUY")
    return CLASSES.index(purchase_class(purchased_type))


def log_loss(packed: bytes, label: int) -> float:
    return -math.log(max(_PACKED.unpack(packed)[label], FLOOR))


def served_loss(entry: dict[str, Any], outcome: str) -> tuple[int, float]:
    """A decided conversion entry's class, and the log loss of what it was served."""
    order = entry.get("order")
    label = outcome_label(outcome, order["lottery_type"] if order else None)
    return label, log_loss(entry["rec"]["p"], label)


class Shadows:
    """Shadow results (packed probabilities) by session, until taken or older than
    `keep_ms`."""

    def __init__(self, keep_ms: int) -> None:
        self.keep_ms = keep_ms
        self._held: dict[str, bytes] = {}
        self._order: deque[tuple[int, str]] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, key: str, packed: bytes, now_ms: int) -> None:
        self._held[key] = packed
        self._order.append((now_ms, key))

    def take(self, key: str) -> bytes | None:
        return self._held.pop(key, None)

    def expire(self, now_ms: int) -> None:
        while self._order and self._order[0][0] <= now_ms - self.keep_ms:
            self._held.pop(self._order.popleft()[1], None)

    def clear(self) -> None:
        self._held.clear()
        self._order.clear()
