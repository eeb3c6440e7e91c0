"""What the scorer published lately, kept in memory and read back from its output topics.

Deduplication needs no table write per session: the output topics already record what
was published. A worker remembers the keys it published for SCORER_DEDUP_WINDOW_S, and
on every assignment reads the output topic back, so that what a worker killed without
notice published, and the next owner is handed again (everything after the last commit),
is recognised and dropped.

Both horizons follow the input, not the wall clock alone. The read-back begins a window
before the oldest input the new owner is handed again (the first record its group has
not committed), so a redelivery is recognised however late it comes: a worker starved of
CPU and killed twice before it committed was handed inputs 7 minutes old (seen in make
soak), older than the window read back from now. What it finds is remembered for the
window from the reload, and every key for the window beyond how far the agent is behind
its input, so that a copy queued in a backlog is still recognised when it is reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import ClassVar

from infra.kafka.cluster import BrokerError
from infra.kafka.reading import READ_TIMEOUT_S, first_unconsumed_ms, read_tail

log = logging.getLogger(__name__)


class RecentKeys:
    """Keys published to one output topic in the last `window_ms`.

    The keys in the order they were published are a deque beside the dict, not the dict's
    own order: a dict emptied from its front keeps the removed slots until it is resized,
    so finding its oldest key slows down as keys are held; the deque's front stays cheap.
    """

    def __init__(self, topic: str, window_ms: int) -> None:
        self.topic = topic
        self.window_ms = window_ms
        self._at: dict[str, int] = {}
        self._order: deque[tuple[int, str]] = deque()
        self._behind_ms = 0  # how far the agent was behind its input at the last add

    def __contains__(self, key: str) -> bool:
        return key in self._at

    def __len__(self) -> int:
        return len(self._at)

    def add(self, key: str, at_ms: int, read_ms: int | None = None) -> None:
        """Remember `key`, published at `at_ms` for an input its producer wrote at
        `read_ms` (None: for no input, a timer's decision), and forget what left the
        window."""
        if read_ms is not None:
            self._behind_ms = max(0, at_ms - read_ms)
        self._at[key] = at_ms
        self._order.append((at_ms, key))
        self.expire(at_ms)

    def expire(self, now_ms: int) -> None:
        """Forget the keys published before the window that ends at `now_ms`, less how
        far the agent is behind its input (a worker that publishes nothing more forgets
        them on its timer, streams/agents/upkeep.py)."""
        cutoff, order = now_ms - self._behind_ms - self.window_ms, self._order
        while order and order[0][0] < cutoff:
            at, old = order.popleft()
            if self._at.get(old) == at:  # else published again since: kept
                del self._at[old]

    async def reload(
        self, bootstrap: str, partitions: Iterable[int] | None, replay_from_ms: int
    ) -> None:
        """Replace what is remembered with the topic's `partitions` (None: all) from a
        window before `replay_from_ms`, the oldest input handed again (`replay_start`).

        What is read back is remembered for the window from now, not from when it was
        published: the inputs handed again can come long after the reload, on a partition
        the agent reaches last, while a fresh input on another says it is not behind (make
        soak: outcomes published 11 minutes before, read back, forgotten by the window
        from their publication, and decided again when their recommendation came)."""
        now = int(time.time() * 1000)
        tail = await asyncio.to_thread(
            read_tail, bootstrap, self.topic, partitions, replay_from_ms - self.window_ms
        )
        self._at = {w.key: now for w in tail}
        self._order = deque((now, key) for key in self._at)
        self._behind_ms = max(0, now - replay_from_ms)  # until the first add says otherwise


async def replay_start(
    bootstrap: str,
    group: str,
    inputs: Mapping[str, Iterable[int]],
    *,
    timeout_s: float = READ_TIMEOUT_S,
) -> int:
    """The producer time of the oldest of the `inputs` (topic -> partitions) that `group`
    has not committed, which a new owner is handed again; now when all are committed, or
    when the broker cannot say in `timeout_s` (the read-back then covers the window from
    now, logged)."""
    now = int(time.time() * 1000)
    try:
        first = await asyncio.to_thread(
            first_unconsumed_ms, bootstrap, group, inputs, timeout_s=timeout_s
        )
    except BrokerError as exc:
        log.warning("reading back a window from now: %s", exc)
        return now
    return now if first is None else min(first, now)


class ReadBack:
    """Open once what an agent reads back on an assignment (RecentKeys, a replayed state)
    is in memory: the agent waits on it before it acts on an event, and its timers do
    nothing while it is closed.

    Every gate closes at once when an assignment begins (`close_all`, called by the app
    before Faust's own handling, streams/app.py), and each opens when its agent's
    `on_partitions_assigned` handler is done. Faust calls those handlers one after the
    other in no set order, and can resume the streams (its table recovery done) before
    the last of them has started: a gate closed only by its own handler let an agent act
    meanwhile on a memory without the new partitions' tail, and publish what the
    partitions' last owner had published (seen in make soak: two conversion outcomes for
    a session). It does not close on revocation: Faust's revocation waits for the streams
    to drain, and a stream waiting on the gate would hold it up.
    """

    _all: ClassVar[list[ReadBack]] = []

    def __init__(self) -> None:
        self._open = asyncio.Event()
        ReadBack._all.append(self)

    @classmethod
    def close_all(cls) -> None:
        for gate in cls._all:
            gate.close()

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait(self) -> None:
        if not self._open.is_set():
            await self._open.wait()
