"""Customer lifetime value: BG/NBD's purchases to come times Gamma-Gamma's spend,
month by month, discounted (time unit: days)."""

from __future__ import annotations

from typing import Any

import numpy as np

from model.customers import bgnbd, gamma_gamma

DAYS_PER_MONTH = 365.25 / 12


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
    x, t_x, T = (np.asarray(v, dtype=float)[None, :] for v in (x, t_x, T))
    ends = DAYS_PER_MONTH * np.arange(1, months + 1, dtype=float)[:, None]
    cumulative = bgnbd.expected_purchases(purchases, ends, x, t_x, T)
    per_month = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1 + monthly_discount) ** -np.arange(1, months + 1, dtype=float)
    return np.asarray(gamma_gamma.expected_spend(spend, n, zbar) * (discount @ per_month))
