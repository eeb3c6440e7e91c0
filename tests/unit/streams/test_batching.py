"""A batch is what has been delivered and not read yet, at most `most` events, and its
events are acknowledged only once the agent has handled the whole batch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from streams.batching import batches


class Deliveries:
    """A stream's part that batches() uses, delivering its events in the given groups (as
    fetches hand them to the stream's queue)."""

    def __init__(self, groups: list[list[int]]) -> None:
        self.groups = groups
        self.queued: list[int] = []
        self.acked: list[int] = []
        self.channel = SimpleNamespace(queue=SimpleNamespace(empty=lambda: not self.queued))

    def noack(self) -> Deliveries:
        return self

    async def events(self) -> AsyncIterator[int]:
        for group in self.groups:
            self.queued = list(group)
            while self.queued:
                yield self.queued.pop(0)

    async def ack(self, event: int) -> None:
        self.acked.append(event)


def handled(stream: Deliveries, most: int, fail_at: int | None = None) -> list[list[int]]:
    """The batches an agent gets, with what was acked when it got each one checked."""
    seen: list[list[int]] = []

    async def agent() -> None:
        async for batch in batches(cast(Any, stream), most):
            assert stream.acked == [e for earlier in seen for e in earlier]
            seen.append(list(cast(list[int], batch)))
            if len(seen) == fail_at:
                raise RuntimeError("the agent failed")

    asyncio.run(agent())
    return seen


def test_a_batch_is_what_was_queued_up_to_most() -> None:
    stream = Deliveries([[1], [2, 3, 4, 5, 6], [7]])
    assert handled(stream, most=3) == [[1], [2, 3, 4], [5, 6], [7]]
    assert stream.acked == [1, 2, 3, 4, 5, 6, 7]  # the last one when the agent asked for more


def test_one_event_at_a_time_when_each_comes_alone() -> None:
    assert handled(Deliveries([[1], [2], [3]]), most=256) == [[1], [2], [3]]


def test_a_batch_the_agent_failed_on_is_not_acknowledged() -> None:
    stream = Deliveries([[1, 2], [3, 4], [5]])
    with pytest.raises(RuntimeError, match="the agent failed"):
        handled(stream, most=10, fail_at=2)
    assert stream.acked == [1, 2]
