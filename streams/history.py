"""The user history of DESIGN section 5, as pure functions over a JSON-able dict.

Kept per user_id in a Faust table: first and last purchase, distinct purchase days,
order count, total spend, counts per lottery type, station type and city, the recent
orders, and the ids of recent orders so that a redelivered order counts once. Derived
on read: frequently bought type, home city, usual station type and RFM (recency = days
between first and last purchase, frequency = repeat purchase days, monetary = mean
spend per purchase day).
"""

from __future__ import annotations

from typing import Any

from model.features import HUBEI_UTC_OFFSET_H

RECENT_ORDERS = 10
REMEMBERED_ORDER_IDS = 1000
DAY_MS = 86_400_000


def local_day(epoch_ms: int) -> int:
    """Day number in Hubei time, so that purchase days follow the stations' calendar."""
    return (epoch_ms + HUBEI_UTC_OFFSET_H * 3_600_000) // DAY_MS


def empty() -> dict[str, Any]:
    return {"first_ms": None, "last_ms": None, "days": [], "orders": 0, "spend_fen": 0,
            "by_type": {}, "by_station_type": {}, "by_city": {}, "recent": [],
            "order_ids": []}  # fmt: skip


def add_order(
    history: dict[str, Any] | None, order: dict[str, Any], city: str, station_type: str
) -> tuple[dict[str, Any], bool]:
    """The history with the order counted, and whether it was new (False: a redelivery)."""
    h = empty() if history is None else history
    if order["order_id"] in h["order_ids"]:
        return h, False
    h = {**h}
    at = int(order["placed_at_ms"])
    h["first_ms"] = at if h["first_ms"] is None else min(h["first_ms"], at)
    h["last_ms"] = at if h["last_ms"] is None else max(h["last_ms"], at)
    day = local_day(at)
    if day not in h["days"]:
        h["days"] = sorted([*h["days"], day])
    h["orders"] += 1
    h["spend_fen"] += int(order["amount"])
    h["by_type"] = _bump(h["by_type"], order["lottery_type"])
    h["by_station_type"] = _bump(h["by_station_type"], station_type)
    h["by_city"] = _bump(h["by_city"], city)
    item = {"order_id": order["order_id"], "lottery_type": order["lottery_type"],
            "amount": int(order["amount"]), "placed_at_ms": at}  # fmt: skip
    h["recent"] = sorted([*h["recent"], item], key=lambda o: o["placed_at_ms"])[-RECENT_ORDERS:]
    h["order_ids"] = [*h["order_ids"], order["order_id"]][-REMEMBERED_ORDER_IDS:]
    return h, True


def _bump(counts: dict[str, int], key: str) -> dict[str, int]:
    return {**counts, key: counts.get(key, 0) + 1}


def _most(counts: dict[str, int]) -> str | None:
    """The most frequent key; ties go to the alphabetically first, so replays agree."""
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None


def summary(history: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the features and the /users view need; None for a user without orders."""
    if not history or not history["orders"]:
        return None
    days = len(history["days"])
    return {
        "total_purchase_days": days,
        "frequent_type": _most(history["by_type"]),
        "home_city": _most(history["by_city"]),
        "usual_station_type": _most(history["by_station_type"]),
        "orders": history["orders"],
        "spend_fen": history["spend_fen"],
        "first_purchase_ms": history["first_ms"],
        "last_purchase_ms": history["last_ms"],
        "rfm": {
            "recency_days": (history["last_ms"] - history["first_ms"]) / DAY_MS,
            "frequency": days - 1,
            "monetary_fen": history["spend_fen"] / days,
        },
        "by_type": history["by_type"],
        "by_station_type": history["by_station_type"],
        "by_city": history["by_city"],
        "recent_orders": history["recent"],
    }
