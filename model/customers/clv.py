"""Customer lifetime value: BG/NBD's purchases to come times Gamma-Gamma's spend,
month by month, discounted (time unit: days)."""

from __future__ import annotations

from typing import Any

import numpy as np

from model.customers import bgnbd, gamma_gamma

DAYS_PER_MONTH = 365.25 / 12


def horizons(months: int) -> np.ndarray:
    """The ends of the next `months` months, in days, as a column (one row per month)."""
    return DAYS_PER_MONTH * np.arange(1, months + 1, dtype=float)[:, None]


def clv(
    purchases: bgnbd.BgNbd,
    spend: gamma_gamma.GammaGamma,
    x: Any,
    t_x: Any,
    T: Any,
    n: Any,
    zbar: Any,
    months: int = 12,
    monthly_discount: float = 0.01,
) -> np.ndarray:
    """Value of each customer's next `months`: the expected purchases of each month times
    the expected spend per purchase, month m discounted by (1 + monthly_discount)^m."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    cumulative = bgnbd.expected_purchases(purchases, horizons(months), x, t_x, T)
    return discounted(cumulative, gamma_gamma.expected_spend(spend, n, zbar), monthly_discount)


def discounted(cumulative: np.ndarray, spend: np.ndarray, monthly_discount: float) -> np.ndarray:
    """CLV from the expected purchases up to each month's end (one row per month)."""
    per_month = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1 + monthly_discount) ** -np.arange(1, len(cumulative) + 1, dtype=float)
    return np.asarray(spend * (discount @ per_month))
