"""The calibration/holdout check of BG/NBD: fit on the first months of orders, predict
each customer's purchases in the months after, and hold the prediction against what they
did, customer group by customer group (number of repeat purchase days while calibrating)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.customers import bgnbd
from model.customers.history import DAY_MS, local_day
from model.customers.rfm import from_orders

BUCKETS = 8  # 0, 1, ..., 6 and "7+" repeat purchase days in calibration


def holdout_table(
    orders: pd.DataFrame, calibration_end_ms: int, holdout_end_ms: int
) -> tuple[bgnbd.BgNbd, pd.DataFrame]:
    """The model fitted on orders up to calibration_end_ms, and per bucket: customers,
    mean purchase days actually made in the holdout, mean predicted."""
    users, rfm = from_orders(orders, calibration_end_ms)
    model = bgnbd.fit(rfm.frequency, rfm.recency_days, rfm.age_days)
    horizon = (holdout_end_ms - calibration_end_ms) / DAY_MS
    predicted = bgnbd.expected_purchases(
        model, horizon, rfm.frequency, rfm.recency_days, rfm.age_days
    )
    later = orders[
        (orders["placed_at_ms"] > calibration_end_ms) & (orders["placed_at_ms"] <= holdout_end_ms)
    ]
    days = pd.Series(local_day(later["placed_at_ms"].to_numpy(np.int64)), index=later.index)
    actual = days.groupby(later["user_id"]).nunique().reindex(users, fill_value=0).to_numpy()
    bucket = np.minimum(rfm.frequency, BUCKETS - 1)
    frame = pd.DataFrame({"bucket": bucket, "actual": actual, "predicted": predicted})
    table = (
        frame.groupby("bucket")
        .agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
        .reset_index()
    )
    table["repeat_days"] = [str(b) if b < BUCKETS - 1 else f"{b}+" for b in table["bucket"]]
    return model, table[["repeat_days", "customers", "actual", "predicted"]]


def plot(table: pd.DataFrame, path: str, title: str) -> None:
    """Actual against predicted holdout purchases per bucket, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(table["repeat_days"], table["actual"], "o-", label="actual")
    ax.plot(table["repeat_days"], table["predicted"], "s--", label="BG/NBD prediction")
    ax.set_xlabel("repeat purchase days in the calibration months")
    ax.set_ylabel("mean purchase days in the holdout months")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
