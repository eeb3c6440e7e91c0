"""Profitability over time: a class (high, medium, low) per customer and month, from the
RFM of a trailing window, by k-means (k = 3).

For the window of `length` months ending at month t: recency is the months since the last
month with a purchase day in the window (`length` when there is none), frequency the
purchase days, monetary the spend. Each is log1p-transformed and standardised over that
window's customers. Clusters are ranked by the value of their centroid (frequency plus
monetary minus recency, in standard units) and named high, medium, low in that order, so a
name means the same in every window; each window's k-means starts from the last window's
centroids, so that the clusters move with the customers rather than being found afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

CLASSES = ("high", "medium", "low")
WINDOW = 3


def grids(months: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(purchase days, spend), each (customers, months), from one row per customer and
    month (customer_id 0..n-1, month 0..m-1, purchase_days, spend)."""
    n, m = int(months["customer_id"].max()) + 1, int(months["month"].max()) + 1
    if len(months) != n * m:
        raise ValueError(f"{len(months)} rows for {n} customers and {m} months: one each is needed")
    ordered = months.sort_values(["customer_id", "month"], kind="stable")
    days = ordered["purchase_days"].to_numpy(float).reshape(n, m)
    return days, ordered["spend"].to_numpy(float).reshape(n, m)


def window_rfm(days: np.ndarray, spend: np.ndarray, end: int, length: int) -> np.ndarray:
    """(customers, 3): recency, frequency, monetary over months end-length+1 .. end."""
    if not 1 <= length <= end + 1:
        raise ValueError(f"a window of {length} months cannot end at month {end}")
    d, s = days[:, end - length + 1 : end + 1], spend[:, end - length + 1 : end + 1]
    bought = d > 0
    last = np.where(bought.any(axis=1), length - 1 - np.argmax(bought[:, ::-1], axis=1), -1)
    recency = np.where(last >= 0, length - 1 - last, length)
    return np.column_stack([recency, d.sum(axis=1), s.sum(axis=1)]).astype(float)


@dataclass(frozen=True)
class WindowClasses:
    """One window's clusters: the scaling and the centroids, high first."""

    mean: np.ndarray
    scale: np.ndarray
    centroids: np.ndarray  # (3, 3) in this window's standard units

    @classmethod
    def fit(
        cls, rfm: np.ndarray, seed: int = 0, start: WindowClasses | None = None
    ) -> WindowClasses:
        raw = np.log1p(rfm)
        mean, scale = raw.mean(axis=0), raw.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        z = (raw - mean) / scale
        if start is None:
            km = KMeans(n_clusters=len(CLASSES), n_init=10, random_state=seed).fit(z)
        else:  # the last window's centroids, in this window's units
            init = (start.centroids * start.scale + start.mean - mean) / scale
            km = KMeans(n_clusters=len(CLASSES), init=init, n_init=1).fit(z)
        centres = km.cluster_centers_
        order = np.argsort(-(centres[:, 1] + centres[:, 2] - centres[:, 0]), kind="stable")
        return cls(mean, scale, centres[order])

    def assign(self, rfm: np.ndarray) -> np.ndarray:
        """Each customer's class: 0 high, 1 medium, 2 low (the nearest centroid)."""
        z = (np.log1p(rfm) - self.mean) / self.scale
        return np.asarray(((z[:, None, :] - self.centroids[None]) ** 2).sum(axis=2).argmin(axis=1))


def classes_over_time(
    days: np.ndarray, spend: np.ndarray, window: int = WINDOW, seed: int = 0
) -> tuple[np.ndarray, list[WindowClasses]]:
    """Each customer's class in every month from the first full window on: (customers,
    months - window + 1), and each window's clusters."""
    fitted: list[WindowClasses] = []
    labels = []
    for end in range(window - 1, days.shape[1]):
        rfm = window_rfm(days, spend, end, window)
        fitted.append(WindowClasses.fit(rfm, seed, fitted[-1] if fitted else None))
        labels.append(fitted[-1].assign(rfm))
    return np.column_stack(labels), fitted


def shares_by_length(
    days: np.ndarray, spend: np.ndarray, lengths: list[int], seed: int = 0
) -> pd.DataFrame:
    """The share of customers in each class for windows of each length, all ending at the
    last month: are the classes' shares stable as windows lengthen?"""
    end, rows = days.shape[1] - 1, []
    for length in lengths:
        rfm = window_rfm(days, spend, end, length)
        counts = np.bincount(WindowClasses.fit(rfm, seed).assign(rfm), minlength=len(CLASSES))
        rows.append({"months": length, **dict(zip(CLASSES, counts / len(rfm), strict=True))})
    return pd.DataFrame(rows)
