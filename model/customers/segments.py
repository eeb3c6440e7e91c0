"""RFM scores and the named segments of the common R/F map.

Scores are quintiles, 1 to 5, against cut points fitted on a population (the 20th, 40th,
60th and 80th percentiles), so that one customer in the stream is scored exactly as the
whole population offline: R from days since the last purchase (recent scores high), F
from repeat purchase days and M from spend per purchase day (more scores high). A value
tied with cut points takes the lowest score they allow (for R, the highest), so the many
customers with no repeat purchase share F = 1.

The segments are the common map over R and F (M is shown beside it, not used):

    F:      1              2              3              4            5
    R 5  New            Potential      Potential      Champions    Champions
    R 4  Promising      Potential      Potential      Loyal        Loyal
    R 3  About To Sleep About To Sleep Need Attention Loyal        Loyal
    R 2  Hibernating    Hibernating    At Risk        At Risk      Can't Lose Them
    R 1  Lost           Hibernating    At Risk        At Risk      Can't Lose Them

("Potential" is Potential Loyalist.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model.customers.rfm import Rfm

SEGMENTS = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About To Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)
_C, _L, _P, _N, _PR, _NA, _AS, _AR, _CL, _H, _LO = range(len(SEGMENTS))
#: _MAP[r - 1][f - 1], R and F scores from 1 to 5.
_MAP = np.array(
    [
        [_LO, _H, _AR, _AR, _CL],
        [_H, _H, _AR, _AR, _CL],
        [_AS, _AS, _NA, _L, _L],
        [_PR, _P, _P, _L, _L],
        [_N, _P, _P, _C, _C],
    ]
)
QUANTILES = (0.2, 0.4, 0.6, 0.8)


@dataclass(frozen=True)
class Quintiles:
    """Cut points of the three measures, fitted on a population."""

    days_since_last: tuple[float, ...]
    frequency: tuple[float, ...]
    monetary: tuple[float, ...]

    @classmethod
    def fit(cls, rfm: Rfm) -> Quintiles:
        if len(rfm) == 0:
            raise ValueError("quintiles need at least one customer")

        def cuts(values: np.ndarray) -> tuple[float, ...]:
            return tuple(float(v) for v in np.quantile(values, QUANTILES))

        return cls(cuts(rfm.days_since_last), cuts(rfm.frequency), cuts(rfm.monetary))

    def as_dict(self) -> dict[str, list[float]]:
        return {
            "days_since_last": list(self.days_since_last),
            "frequency": list(self.frequency),
            "monetary": list(self.monetary),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Quintiles:
        values = {
            k: tuple(float(v) for v in data[k])
            for k in ("days_since_last", "frequency", "monetary")
        }
        for key, cut in values.items():
            if len(cut) != len(QUANTILES) or list(cut) != sorted(cut):
                raise ValueError(f"{key}: {len(QUANTILES)} ascending cut points expected")
        return cls(**values)

    def scores(self, rfm: Rfm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R, F and M scores, 1 to 5 each."""
        r = 5 - np.searchsorted(self.days_since_last, rfm.days_since_last, side="left")
        f = 1 + np.searchsorted(self.frequency, rfm.frequency, side="left")
        m = 1 + np.searchsorted(self.monetary, rfm.monetary, side="left")
        return r.astype(int), f.astype(int), m.astype(int)


def segments(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    """The segment name of each customer from their R and F scores."""
    return np.asarray(SEGMENTS, dtype=object)[_MAP[np.asarray(r) - 1, np.asarray(f) - 1]]
