"""Input drift: how far the inputs served are from the inputs trained on (docs/concepts/model.md).

The 31 encoded columns make 10 inputs: each one-hot group (beauty, hour, city, frequent
type, purchase days, station type) is one categorical input whose categories are its
columns plus "none of them" (a city outside the three, a station of type "other"); each
single column (laugh, neutral and positive emotion, new user) is a 0/1 input. The
artifact keeps each input's category shares over the training rows; the worker counts
the same categories over the sessions it served and exports the population stability
index per input,

    PSI = sum over categories of (served - trained) * ln(served / trained),

shares floored at FLOOR so that an empty category gives a large, finite value. Rules
of thumb: under 0.1 no shift, 0.1-0.25 a moderate one, 0.25 and over a shift to act on.
"""

from __future__ import annotations

import numpy as np

from model.mlp.features import FEATURE_NAMES, INPUTS

FLOOR = 1e-4


#: Where each input's categories start in the flat count vector.
_OFFSETS = np.cumsum([0, *(i.categories for i in INPUTS)])
N_CATEGORIES = int(_OFFSETS[-1])


def _counting() -> tuple[np.ndarray, np.ndarray]:
    """counts = column sums @ TO_CATEGORIES + rows * NONE: a column counts for its own
    category and against its input's "none of them"."""
    to_categories = np.zeros((len(FEATURE_NAMES), N_CATEGORIES))
    none = np.zeros(N_CATEGORIES)
    for k, item in enumerate(INPUTS):
        last = _OFFSETS[k] + len(item.columns)
        for j, column in enumerate(item.columns):
            to_categories[column, _OFFSETS[k] + j] = 1.0
            to_categories[column, last] = -1.0
        none[last] = 1.0
    return to_categories, none


_TO_CATEGORIES, _NONE = _counting()


def category_counts(x: np.ndarray) -> np.ndarray:
    """Rows of encoded inputs (n, 31) to the count of every input's categories, flat (one
    small product per batch: it runs on the scorer's hot path)."""
    return np.asarray(x.sum(axis=0, dtype=np.float64) @ _TO_CATEGORIES + len(x) * _NONE)


def shares(counts: np.ndarray) -> dict[str, list[float]]:
    """Flat category counts to each input's category shares (what the artifact keeps)."""
    out = {}
    for k, item in enumerate(INPUTS):
        part = counts[_OFFSETS[k] : _OFFSETS[k + 1]]
        total = part.sum()
        out[item.name] = [float(v / total) if total else 0.0 for v in part]
    return out


def psi(trained: dict[str, list[float]], served_counts: np.ndarray) -> dict[str, float]:
    """PSI of every input the artifact has the training shares of."""
    served = shares(served_counts)
    out = {}
    for item in INPUTS:
        expected = trained.get(item.name)
        if expected is None or len(expected) != item.categories:
            continue
        e = np.maximum(np.asarray(expected, dtype=np.float64), FLOOR)
        a = np.maximum(np.asarray(served[item.name], dtype=np.float64), FLOOR)
        out[item.name] = float(((a - e) * np.log(a / e)).sum())
    return out
