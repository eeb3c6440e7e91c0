"""Conversion rules, pure: does a recommended session end in an order within the window?

One entry per session_id holds the recommendation, an order that came first, and whether
the outcome is decided. The first order decides; an outcome is decided once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from model.mlp.features import purchase_class
from streams.clock import to_ms
from streams.rules.outcome_loss import probabilities


def kept_recommendation(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a waiting recommendation keeps (in memory for the window: the few distinct
    stations, picks and versions are shared strings)."""
    return {
        "session_id": record["session_id"],
        "station_id": sys.intern(record["station_id"]),
        "user_id": record["user_id"],
        "top_pick": sys.intern(record["top_pick"]),
        "model_version": sys.intern(record["model_version"]),
        "recommended_at_ms": to_ms(record["scored_at"]),
        "p": probabilities(record),
    }


def kept_order(record: Mapping[str, Any]) -> dict[str, Any]:
    """What an order waiting for its recommendation keeps."""
    return {
        "order_id": record["order_id"],
        "lottery_type": record["lottery_type"],
        "amount": record["amount"],
    }


def conversion(
    rec: dict[str, Any],
    order: dict[str, Any] | None,
    outcome: str,
    station: Mapping[str, str],
    decided_at_ms: int,
) -> dict[str, Any]:
    """The Conversion record (schemas/conversion.v1.avsc) of a decided session."""
    return {
        "session_id": rec["session_id"],
        "station_id": rec["station_id"],
        "user_id": rec["user_id"],
        "top_pick": rec["top_pick"],
        "outcome": outcome,
        "purchased_type": order["lottery_type"] if order else None,
        "amount": order["amount"] if order else None,
        "station_type": station["station_type"],
        "city": station["city"],
        "model_version": rec["model_version"],
        "recommended_at": rec["recommended_at_ms"],
        "decided_at": decided_at_ms,
    }


def outcome_of(top_pick: str, order: dict[str, Any] | None) -> str:
    if order is None:
        return "NO_PURCHASE"
    return (
        "CONVERTED_TOP_PICK"
        if purchase_class(order["lottery_type"]) == top_pick
        else "CONVERTED_OTHER"
    )


def on_recommendation(
    entry: dict[str, Any] | None, rec: dict[str, Any], partition: int, now_ms: int, window_ms: int
) -> tuple[dict[str, Any], str | None]:
    """The new entry, and the outcome when it is decided now (an order came first)."""
    if entry is not None and (entry.get("done") or entry.get("rec") is not None):
        return entry, None  # a replayed recommendation
    order = None if entry is None else entry.get("order")
    fresh = {
        "rec": rec,
        "order": order,
        "partition": partition,
        "deadline_ms": now_ms + window_ms,
        "done": False,
    }
    if order is not None:
        return {**fresh, "done": True, "deadline_ms": now_ms + 2 * window_ms}, outcome_of(
            rec["top_pick"], order
        )
    return fresh, None


def on_order(
    entry: dict[str, Any] | None,
    order: dict[str, Any],
    partition: int,
    now_ms: int,
    window_ms: int,
) -> tuple[dict[str, Any] | None, str | None]:
    """The new entry (None: unchanged), and the outcome when this order decides it."""
    if entry is None:  # the order came before its recommendation: keep it for a while
        return {
            "rec": None,
            "order": order,
            "partition": partition,
            "deadline_ms": now_ms + window_ms,
            "done": False,
        }, None
    if entry.get("done") or entry.get("order") is not None:
        return None, None  # decided already, or a second order: the first one counts
    if entry.get("rec") is None:
        return None, None
    decided = {**entry, "order": order, "done": True, "deadline_ms": now_ms + window_ms}
    return decided, outcome_of(entry["rec"]["top_pick"], order)


def on_tick(
    entry: dict[str, Any], now_ms: int, window_ms: int
) -> tuple[dict[str, Any] | None, str | None]:
    """At the deadline: no purchase for a waiting recommendation; forget anything else.

    Returns (entry to keep, or None to delete; the outcome decided now, if any)."""
    if now_ms < entry["deadline_ms"]:
        return entry, None
    if entry.get("rec") is not None and not entry.get("done"):
        return {**entry, "done": True, "deadline_ms": now_ms + window_ms}, "NO_PURCHASE"
    return None, None


def replay(
    written: list[tuple[int, int, str, str, dict[str, Any]]], window_ms: int
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """The entries a tracker holds after the given recommendations and orders, and the
    outcomes decided on the way, as (key, outcome).

    `written` holds (timestamp ms, partition, kind "rec" or "order", key, record) as read
    back from the topics, in any order: they are applied in the order they were written,
    each at its own time, and a waiting recommendation whose window closed before the
    next one is decided then, as the tracker's clock would have.
    """
    entries: dict[str, dict[str, Any]] = {}
    decided: list[tuple[str, str]] = []
    for at, partition, kind, key, record in sorted(written, key=lambda w: w[0]):
        entry = entries.get(key)
        if entry is not None and at >= entry["deadline_ms"]:
            kept, outcome = on_tick(entry, at, window_ms)
            if outcome is not None:
                decided.append((key, outcome))
            entry = kept
            if kept is None:
                del entries[key]
            else:
                entries[key] = kept
        new: dict[str, Any] | None
        if kind == "rec":
            new, outcome = on_recommendation(entry, record, partition, at, window_ms)
        else:
            changed, outcome = on_order(entry, record, partition, at, window_ms)
            new = entry if changed is None else changed
        if new is not None:
            entries[key] = new
        if outcome is not None:
            decided.append((key, outcome))
    return entries, decided
