"""Keeping the worker's log readable when something fails over and over.

While the broker is away, the Kafka clients log each reconnect attempt and each failed
request: about 97,000 lines (10 MB) in a 20 s outage were seen. `RepeatFilter` lets the
first few lines of each kind through in every window and then one line that says how many
of that kind it held back, so the log keeps every kind of problem and its count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

WINDOW_S = 30.0
BURST = 5
MOST_KINDS = 10_000


class RepeatFilter(logging.Filter):
    """At most `burst` records of one kind (logger and message template) per window."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window_s, self.burst, self.clock = window_s, burst, clock
        # kind -> [window start, records let through in it, records held back in it]
        self._kinds: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg))
        now = self.clock()
        seen = self._kinds.get(kind)
        if seen is None or now - seen[0] >= self.window_s:
            held = 0 if seen is None else int(seen[2])
            if len(self._kinds) >= MOST_KINDS:
                self._kinds.clear()
            self._kinds[kind] = [now, 1, 0]
            if held:
                record.msg = (
                    f"{record.msg} [{held} more like this held back in {self.window_s:g} s]"
                )
            return True
        if seen[1] < self.burst:
            seen[1] += 1
            return True
        seen[2] += 1
        return False


def limit_repeats(logger: logging.Logger, window_s: float = WINDOW_S, burst: int = BURST) -> None:
    """Put a RepeatFilter on each handler of `logger` that has none yet."""
    for handler in logger.handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter(window_s, burst))
