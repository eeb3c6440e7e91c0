"""The inputs a worker served lately, counted per category for their PSI
(model/production/drift.py).

Counts are kept in a ring of time buckets, so a window slides at a bucket's grain and
costs a (buckets x categories) array, whatever the rate. Session time is the exception:
live sessions happen now, so any window shorter than a day sees only its own hours and
its PSI against the whole day trained on would always be high. Its counts slide over a
day, and its PSI is exported only once a full day has been served.
"""

from __future__ import annotations

import numpy as np

from model.production import drift

DAY_S = 86_400
HOUR = "hour"


class SlidingCounts:
    """Category counts over the last `span_s` seconds, in `buckets` buckets."""

    def __init__(self, span_s: float, buckets: int) -> None:
        self.bucket_s = span_s / buckets
        self._counts = np.zeros((buckets, drift.N_CATEGORIES))
        self._slot = np.full(buckets, -1, dtype=np.int64)  # which bucket number each holds
        self.first_at: float | None = None

    def add(self, counts: np.ndarray, now: float) -> None:
        number = int(now // self.bucket_s)
        i = number % len(self._slot)
        if self._slot[i] != number:
            self._slot[i], self._counts[i] = number, 0.0
        self._counts[i] += counts
        if self.first_at is None:
            self.first_at = now

    def total(self, now: float) -> np.ndarray:
        newest = int(now // self.bucket_s)
        live = self._slot > newest - len(self._slot)
        return np.asarray(self._counts[live].sum(axis=0))

    def covers(self, span_s: float, now: float) -> bool:
        return self.first_at is not None and now - self.first_at >= span_s


class DriftMonitor:
    """PSI per input of the sessions served, against the live model's training shares."""

    def __init__(self, window_s: float, min_sessions: int) -> None:
        self.min_sessions = min_sessions
        self.recent = SlidingCounts(window_s, 15)
        self.daily = SlidingCounts(DAY_S, 24)

    def add(self, x: np.ndarray, now: float) -> None:
        if len(x) == 0:
            return
        counts = drift.category_counts(x)
        self.recent.add(counts, now)
        self.daily.add(counts, now)

    def sessions(self, now: float) -> float:
        """Sessions in the (recent) window."""
        return _sessions(self.recent.total(now))

    def psi(self, trained: dict[str, list[float]], now: float) -> dict[str, float]:
        """Each input's PSI over its window; an input whose window holds fewer than
        `min_sessions` sessions (or, for session time, less than a day) is left out."""
        out = {}
        recent = self.recent.total(now)
        if _sessions(recent) >= self.min_sessions:
            out = {k: v for k, v in drift.psi(trained, recent).items() if k != HOUR}
        daily = self.daily.total(now)
        if self.daily.covers(DAY_S, now) and _sessions(daily) >= self.min_sessions:
            hour = drift.psi(trained, daily).get(HOUR)
            if hour is not None:
                out[HOUR] = hour
        return out


def _sessions(counts: np.ndarray) -> float:
    """Every input's categories add up to the session count: the first input's do."""
    return float(counts[: drift.INPUTS[0].categories].sum())
