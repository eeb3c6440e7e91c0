"""The CDNOW data (Fader, Hardie & Lee 2005), read from the Lifetimes 0.11.3 wheel that
the set-up fetches through pip (`make cdnow`): the package itself is archived and does
not import on current pandas, but its wheel carries the data files.

- `cdnow_customers_summary_with_transactions.csv`: the 2,357 customers of the 1/10 sample
  with x, t_x, T (weeks, calibration period of 39 weeks from 1997-01-01) and zbar (mean
  spend of the repeat purchases, dollars): what the published fits used;
- `CDNOW_sample.txt`: the same customers' purchases (id, sample id, date, CDs, dollars),
  from which model/customers/rfm.py must give the same x, t_x and T.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from schemas.errors import ScorerError

WHEEL = Path(".cache/cdnow/Lifetimes-0.11.3-py3-none-any.whl")
WHEEL_SHA256 = "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8"
SUMMARY = "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"
TRANSACTIONS = "lifetimes/datasets/CDNOW_sample.txt"
#: The end of the calibration period: T = 38.86 weeks for a first purchase on 1997-01-01.
CALIBRATION_END = pd.Timestamp("1997-09-30")
#: Published: FHL 2005 (BG/NBD), Fader & Hardie note 025 (Gamma-Gamma); E[Y(39) | 2, 30.43, 38.86].
PUBLISHED: dict[str, Any] = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4},
    "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
    "expected_purchases": 1.226,
}


class CdnowError(ScorerError):
    """The CDNOW files cannot be read; says where they were looked for."""


def _read(member: str, wheel: Path) -> bytes:
    if not wheel.is_file():
        raise CdnowError(f"{wheel} is missing: `make cdnow` fetches it through pip")
    data = wheel.read_bytes()
    if hashlib.sha256(data).hexdigest() != WHEEL_SHA256:
        raise CdnowError(f"{wheel} is not the Lifetimes 0.11.3 wheel (its SHA-256 differs)")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(member)


def summary(wheel: Path = WHEEL) -> pd.DataFrame:
    """The published summary: ID, x, t_x, T (weeks), zbar (dollars)."""
    return pd.read_csv(io.BytesIO(_read(SUMMARY, wheel)))


def transactions(wheel: Path = WHEEL) -> pd.DataFrame:
    """The sample's purchases as orders: user_id, placed_at_ms (the day's start, UTC+8
    as the stations' calendar counts days), amount (cents); calibration period only."""
    raw = pd.read_csv(
        io.BytesIO(_read(TRANSACTIONS, wheel)),
        sep=r"\s+",
        header=None,
        names=["id", "sample_id", "date", "cds", "dollars"],
        dtype={"date": str},
    )
    dates = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw = raw[dates <= CALIBRATION_END]
    ms = dates[dates <= CALIBRATION_END].to_numpy("datetime64[ms]").astype(np.int64) - 8 * 3_600_000
    return pd.DataFrame(
        {
            "user_id": raw["sample_id"].to_numpy(np.int64),
            "placed_at_ms": ms,
            "amount": np.rint(raw["dollars"].to_numpy() * 100).astype(np.int64),
        }
    )


def calibration_end_ms() -> int:
    """Where T is measured to: 1997-09-30, in the same day numbering as the purchases."""
    return (
        int(CALIBRATION_END.to_datetime64().astype("datetime64[ms]").astype(np.int64))
        - 8 * 3_600_000
    )
