"""RFM per customer, in the seed's definition (docs/concepts/customers.md), as arrays.

- recency: days between the first and the last purchase (BG/NBD's t_x);
- frequency: repeat purchase days, distinct local days after the first (BG/NBD's x);
- monetary: mean spend per purchase day, in fen (Gamma-Gamma's zbar over n = days);
- age: days from the first purchase to `now` (BG/NBD's T);
- days since the last purchase, what segmentation calls recency.

Built from a table of orders (offline) or from the stream's history summaries
(model/customers/history.py): both give the same figures for the same orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.customers.history import DAY_MS, local_day


@dataclass(frozen=True)
class Rfm:
    """One entry per customer; purchase times in epoch milliseconds."""

    purchase_days: np.ndarray
    first_ms: np.ndarray
    last_ms: np.ndarray
    spend_fen: np.ndarray
    now_ms: np.ndarray

    @property
    def frequency(self) -> np.ndarray:
        return self.purchase_days - 1

    @property
    def recency_days(self) -> np.ndarray:
        return (self.last_ms - self.first_ms) / DAY_MS

    @property
    def age_days(self) -> np.ndarray:
        return (self.now_ms - self.first_ms) / DAY_MS

    @property
    def days_since_last(self) -> np.ndarray:
        return (self.now_ms - self.last_ms) / DAY_MS

    @property
    def monetary(self) -> np.ndarray:
        return self.spend_fen / self.purchase_days

    def __len__(self) -> int:
        return len(self.purchase_days)

    def take(self, index: Any) -> Rfm:
        """The customers at `index` (an integer array or a mask)."""
        return Rfm(*(np.asarray(v)[index] for v in self._columns()))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (self.purchase_days, self.first_ms, self.last_ms, self.spend_fen, self.now_ms)


def from_orders(orders: pd.DataFrame, now_ms: int) -> tuple[pd.Index, Rfm]:
    """Customers (the index, sorted) and their RFM from orders with user_id,
    placed_at_ms and amount (fen), as of `now_ms`. Orders after `now_ms` are ignored."""
    missing = {"user_id", "placed_at_ms", "amount"} - set(orders.columns)
    if missing:
        raise ValueError(f"orders lack column(s) {', '.join(sorted(missing))}")
    seen = orders[orders["placed_at_ms"] <= now_ms]
    at = seen["placed_at_ms"].to_numpy(np.int64)
    frame = pd.DataFrame(
        {
            "user_id": seen["user_id"].to_numpy(),
            "at": at,
            "day": local_day(at),
            "amount": seen["amount"].to_numpy(np.int64),
        }
    )
    grouped = frame.groupby("user_id", sort=True)
    per_user = grouped.agg(
        first=("at", "min"), last=("at", "max"), spend=("amount", "sum"), days=("day", "nunique")
    )
    rfm = Rfm(
        per_user["days"].to_numpy(np.int64),
        per_user["first"].to_numpy(np.int64),
        per_user["last"].to_numpy(np.int64),
        per_user["spend"].to_numpy(np.int64),
        np.full(len(per_user), now_ms, dtype=np.int64),
    )
    return per_user.index, rfm


def from_summaries(summaries: Sequence[dict[str, Any]], now_ms: Sequence[int] | int) -> Rfm:
    """RFM of customers from their history.summary(), as of `now_ms` (one for all or one each;
    never before their last purchase)."""

    def column(key: str) -> np.ndarray:
        return np.array([s[key] for s in summaries], dtype=np.int64)

    last = column("last_purchase_ms")
    now = np.maximum(np.broadcast_to(np.asarray(now_ms, dtype=np.int64), last.shape), last)
    return Rfm(
        column("total_purchase_days"), column("first_purchase_ms"), last, column("spend_fen"), now
    )
