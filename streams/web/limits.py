"""How much HTTP scoring a worker takes: a token bucket with a cap on requests in flight.

The web front applies it (streams/web/front.py): a scoring request it admits is scored on
the event loop the stream runs on, so past SCORER_HTTP_SCORE_RATE a request is turned
away at once (429, with when to come back) rather than queued behind the stream's work.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Admitted scoring requests at the worker at a time; the front holds the others until
#: one is answered. The worker scores each on its stream's loop, and the 20 a burst let
#: in at once held the stream up for all 20 in a row.
WORKER_SCORES_AT_ONCE = 2


class Admission:
    """At most `rate` admissions a second on average, `burst` at once and in flight."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self.in_flight = 0

    def enter(self) -> float | None:
        """None when admitted (call `leave` when done), else the seconds until a try may
        succeed."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self.in_flight >= self.burst:
            return 1.0 / self.rate
        if self._tokens < 1.0:
            return (1.0 - self._tokens) / self.rate
        self._tokens -= 1.0
        self.in_flight += 1
        return None

    def leave(self) -> None:
        self.in_flight -= 1
