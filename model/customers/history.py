"""The user history (docs/concepts/architecture.md, State), as pure functions over a JSON-able dict.

Kept per user_id in a Faust table: first and last purchase, distinct purchase days,
order count, total spend, counts per lottery type, station type and city, the recent
orders, and what it takes to count every order once; for the outlook
(model/outlook/live.py), purchase days and spend in each of the last
OUTLOOK_MONTHS calendar months and the orders in each (lottery type, station type, hour
band) cell. Derived on read: frequently
bought type, home city, usual station type and RFM (recency = days between first and
last purchase, frequency = repeat purchase days, monetary = mean spend per purchase day).

An entry is bounded by design, whatever the customer's lifetime or a producer does:
- a redelivered Kafka record is known by its position: a user's orders are all in one
  partition, read in offset order, so an offset at or below the last one recorded is a
  repeat;
- an order published again (a new record, the same order_id) is known by its id. Ids
  are kept for the orders placed within `horizon_ms` of the user's latest order, and at
  most REMEMBERED_ORDER_IDS of them. Below the oldest forgotten one (`floor_ms`) an id can
  no longer be checked, so such an order is refused rather than risk counting it twice
  ("outside_horizon", a dead letter with its reason): a user's orders must reach the
  scorer in about time order, no more than the horizon apart;
- purchase days before the floor are final (no order can add one) and kept as a count;
- months: the newest OUTLOOK_MONTHS; cells: at most the 120 of model/outlook/journeys.py.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import numpy as np

from model.mlp.features import HUBEI_UTC_OFFSET_H
from model.outlook.journeys import CELLS, hour_band

_Ms = TypeVar("_Ms", int, np.ndarray)  # one time or an array of them
RECENT_ORDERS = 10
REMEMBERED_ORDER_IDS = 1000
DAY_MS = 86_400_000
OUTLOOK_MONTHS = 18  # as many as the outlook is trained on (model/outlook/next_class.py)
CELL_INDEX = {cell: str(k) for k, cell in enumerate(CELLS)}
#: How far before a user's latest order an order id is still remembered (SCORER_ORDER_DEDUP_DAYS).
DEDUP_HORIZON_MS = 30 * DAY_MS

#: What add_order did: counted it, knew it already, or could not tell and refused it.
Added = Literal["recorded", "repeated", "outside_horizon"]


def local_day(epoch_ms: _Ms) -> _Ms:
    """Day number in Hubei time, so that purchase days follow the stations' calendar."""
    return (epoch_ms + HUBEI_UTC_OFFSET_H * 3_600_000) // DAY_MS


def local_month(epoch_ms: int) -> int:
    """Calendar month number in Hubei time: year x 12 + month - 1."""
    d = datetime.fromtimestamp(epoch_ms / 1000 + HUBEI_UTC_OFFSET_H * 3600, UTC)
    return d.year * 12 + d.month - 1


def month_name(month: int) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def empty() -> dict[str, Any]:
    return {
        "first_ms": None,
        "last_ms": None,
        "days": [],
        "older_days": 0,
        "orders": 0,
        "spend_fen": 0,
        "by_type": {},
        "by_station_type": {},
        "by_city": {},
        "recent": [],
        "order_ids": [],
        "floor_ms": None,
        "position": None,
        "months": [],
        "cells": {},
    }


def add_order(
    history: dict[str, Any] | None,
    order: dict[str, Any],
    city: str,
    station_type: str,
    position: tuple[int, int] | None = None,
    horizon_ms: int = DEDUP_HORIZON_MS,
) -> tuple[dict[str, Any], Added]:
    """The history with the order counted, and what was done with it.

    `position` is the order's (partition, offset) on the orders topic, when it has one.
    """
    h = empty() if history is None else history
    at = int(order["placed_at_ms"])
    if position is not None and _read_before(h, position):
        return h, "repeated"
    if any(oid == order["order_id"] for _, oid in h["order_ids"]):
        return h, "repeated"
    if h["floor_ms"] is not None and at <= h["floor_ms"]:
        return h, "outside_horizon"
    h = {**h, "position": list(position) if position is not None else h["position"]}
    h["first_ms"] = at if h["first_ms"] is None else min(h["first_ms"], at)
    h["last_ms"] = at if h["last_ms"] is None else max(h["last_ms"], at)
    day = local_day(at)
    new_day = day not in h["days"]
    if new_day:
        h["days"] = sorted([*h["days"], day])
    h["orders"] += 1
    h["spend_fen"] += int(order["amount"])
    h["months"] = _add_to_month(h.get("months", []), local_month(at), new_day, int(order["amount"]))
    hour = (at // 3_600_000 + HUBEI_UTC_OFFSET_H) % 24
    cell = CELL_INDEX.get((order["lottery_type"], station_type, hour_band(hour)))
    if cell is not None:
        h["cells"] = _bump(h.get("cells", {}), cell)
    h["by_type"] = _bump(h["by_type"], order["lottery_type"])
    h["by_station_type"] = _bump(h["by_station_type"], station_type)
    h["by_city"] = _bump(h["by_city"], city)
    item = {
        "order_id": order["order_id"],
        "lottery_type": order["lottery_type"],
        "amount": int(order["amount"]),
        "placed_at_ms": at,
    }
    h["recent"] = sorted([*h["recent"], item], key=lambda o: o["placed_at_ms"])[-RECENT_ORDERS:]
    ids = list(h["order_ids"])
    bisect.insort(ids, [at, order["order_id"]])
    _forget_old_ids(h, ids, horizon_ms)
    return h, "recorded"


def _read_before(h: dict[str, Any], position: tuple[int, int]) -> bool:
    last = h.get("position")
    return last is not None and last[0] == position[0] and position[1] <= last[1]


def _forget_old_ids(h: dict[str, Any], ids: list[list[Any]], horizon_ms: int) -> None:
    """Keep the ids within the horizon (and at most REMEMBERED_ORDER_IDS); raise the floor
    to the newest order forgotten, ties included, and fold the days below it into a count."""
    cut = bisect.bisect_left(ids, [h["last_ms"] - horizon_ms])
    cut = max(cut, len(ids) - REMEMBERED_ORDER_IDS)
    if cut == 0:
        h["order_ids"] = ids
        return
    floor = ids[cut - 1][0]
    while cut < len(ids) and ids[cut][0] <= floor:
        cut += 1
    h["order_ids"] = ids[cut:]
    h["floor_ms"] = floor if h["floor_ms"] is None else max(h["floor_ms"], floor)
    floor_day = local_day(h["floor_ms"])
    h["older_days"] += sum(1 for d in h["days"] if d < floor_day)
    h["days"] = [d for d in h["days"] if d >= floor_day]


def _add_to_month(
    months: list[list[int]], month: int, new_day: bool, amount: int
) -> list[list[int]]:
    """[month, purchase days, spend in fen] of the newest OUTLOOK_MONTHS months, oldest
    first, with an order of `month` added (one older than those kept is left out)."""
    out = [list(m) for m in months]
    for row in out:
        if row[0] == month:
            row[1] += int(new_day)
            row[2] += amount
            return out
    out = sorted([*out, [month, int(new_day), amount]])
    newest = out[-1][0]
    return [row for row in out if row[0] > newest - OUTLOOK_MONTHS]


def _bump(counts: dict[str, int], key: str) -> dict[str, int]:
    return {**counts, key: counts.get(key, 0) + 1}


def _most(counts: dict[str, int]) -> str | None:
    """The most frequent key; ties go to the alphabetically first, so replays agree."""
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None


def summary(history: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the features and the /users view need; None for a user without orders."""
    if not history or not history["orders"]:
        return None
    days = history["older_days"] + len(history["days"])
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
        "months": history.get("months", []),
        "cells": history.get("cells", {}),
    }
