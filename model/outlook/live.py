"""The outlook applied to customers as the stream keeps them: next month's profitability
class and the loyalty score of each, from their user history (model/customers/history.py).

The artifact was trained on series of whole months (as many as its journeys had, at most
the OUTLOOK_MONTHS a history keeps); a customer's series here is as many complete
calendar months (Hubei time) before the month of the time asked about, months without
orders (before the first purchase too) as zeros, spend in yuan. The month in progress is
left out, as no month the models learnt from was partial: the class predicted is that of
the month the time falls in (`outlook_month`), from the months before it. Every window
of the series is classed by the artifact's own classes (the last training window's,
which stayed within a point of the others: see docs/concepts/customers.md, The outlook). The
purchase matrix counts orders per cell (the journeys have one order per purchase day).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from model.customers import history
from model.outlook import journeys, sequence
from model.outlook import next_class as outlook
from model.outlook.artifact import OutlookModel
from model.outlook.loyalty import history_features
from model.outlook.profitability import CLASSES, WINDOW, window_rfm

#: What `predict` gives each customer: the outlook fields of CustomerProfile v2.
FIELDS = (
    "outlook_month",
    "next_month_class",
    *(f"p_{c}" for c in CLASSES),
    "loyalty_score",
    "outlook_version",
)


def months_of(model: OutlookModel) -> int:
    """How many months the artifact's series are: those it was trained on."""
    return int(model.data.get("months", history.OUTLOOK_MONTHS))


def series(
    histories: Sequence[dict[str, Any]], as_of_ms: Sequence[int], months: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(purchase days, spend in yuan), each (customers, months), over the complete months
    before each one's time, and their purchase matrices (customers, cells)."""
    if not 1 <= months <= history.OUTLOOK_MONTHS:
        raise ValueError(f"a history keeps {history.OUTLOOK_MONTHS} months, not {months}")
    n = len(histories)
    days, spend = np.zeros((n, months)), np.zeros((n, months))
    counts = np.zeros((n, len(journeys.CELLS)))
    for i, (h, at) in enumerate(zip(histories, as_of_ms, strict=True)):
        first = history.local_month(int(at)) - months  # the month in column 0
        for month, d, fen in h.get("months", []):
            if first <= month < first + months:
                days[i, month - first] = d
                spend[i, month - first] = fen / 100
        for cell, count in h.get("cells", {}).items():
            counts[i, int(cell)] = count
    return days, spend, counts


def inputs(model: OutlookModel, days: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """The GRU's inputs (customers, months, 8): model/outlook/next_class.py's, with every
    window classed by the artifact's classes."""
    ends = range(WINDOW - 1, days.shape[1])
    labels = np.column_stack(
        [model.classes.assign(window_rfm(days, spend, t, WINDOW)) for t in ends]
    )
    x, _ = outlook.inputs(days, spend, labels, [model.classes] * len(ends))
    return x


def predict(
    model: OutlookModel, histories: Sequence[dict[str, Any]], as_of_ms: Sequence[int]
) -> list[dict[str, Any]]:
    """Each customer's outlook (FIELDS): the month it is for, the most likely class of
    that month and P(class), the loyalty score, and the artifact's version."""
    if not histories:
        return []
    days, spend, counts = series(histories, as_of_ms, months_of(model))
    p = sequence.predict_proba(model.network, inputs(model, days, spend))[:, -1]
    loyalty = model.loyalty.predict(counts, history_features(days, spend))
    out = []
    for i, at in enumerate(as_of_ms):
        out.append(
            {
                "outlook_month": history.month_name(history.local_month(int(at))),
                "next_month_class": CLASSES[int(p[i].argmax())],
                **{f"p_{c}": float(p[i, k]) for k, c in enumerate(CLASSES)},
                "loyalty_score": float(loyalty[i]),
                "outlook_version": model.version,
            }
        )
    return out
