"""A batch is what has been delivered and not read yet, at most `most` events; its events
are acknowledged only once the agent has handled the whole batch; and a batch left open
on events that a rebalance dropped still ends. On a Faust stream of an in-memory channel
(its real queue, flow control and acknowledgement), no broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import faust
from faust.channels import Channel

from streams.batching import batches


def handled(
    groups: list[list[int]],
    most: int,
    fail_at: int | None = None,
    on_value: Callable[[faust.App, Any], None] | None = None,
) -> tuple[list[list[int]], list[int], BaseException | None]:
    """The batches an agent gets when `groups` are delivered one after another (each
    group queued at once, as a fetch hands it over, the next once the stream has read
    the last), checking at each batch that exactly the earlier batches were acknowledged;
    the values acknowledged once it has handled all or has failed; and how it failed.
    `on_value` sees each value as it is read; a flow it stops resumes before the next
    group once everything handed out is acknowledged, as after a rebalance."""
    seen: list[list[int]] = []
    events: list[Any] = []

    async def run() -> None:
        app = faust.App("t-batching", broker="kafka://127.0.0.1:1", store="memory://")
        app.flow_control.resume()
        channel = app.channel()
        stream = channel.stream()
        queued = cast(Channel, stream.channel).queue
        if on_value is not None:
            stream.add_processor(lambda value: on_value(app, value) or value)

        async def agent() -> None:
            async for batch in batches(stream, most):
                acked = [e.value for e in events if e.message.acked]
                assert acked == [v for earlier in seen for v in earlier]
                events.extend(batch)
                seen.append([cast(int, e.value) for e in batch])
                if len(seen) == fail_at:
                    raise RuntimeError("the agent failed")

        def settled() -> bool:  # all delivered was read, all handed out acknowledged
            return queued.empty() and all(e.message.acked for e in events)

        task = asyncio.create_task(agent())
        for group in groups:
            while not app.flow_control.is_active():  # stopped, as a rebalance stops it:
                if events and settled():  # it resumes once all handed out is acknowledged
                    app.flow_control.resume()
                await asyncio.sleep(0.001)
            for value in group:
                await channel.send(value=value)
            while not (task.done() or (events and settled())):  # or the bound below
                await asyncio.sleep(0.001)
        if task.done():
            failed.append(task.exception())
        task.cancel()

    failed: list[BaseException | None] = []
    asyncio.run(asyncio.wait_for(run(), 10))
    return seen, [e.value for e in events if e.message.acked], (failed or [None])[0]


def test_a_batch_is_what_was_queued_up_to_most() -> None:
    seen, acked, failed = handled([[1], [2, 3, 4, 5, 6], [7]], most=3)
    assert failed is None and seen == [[1], [2, 3, 4], [5, 6], [7]]
    assert acked == [1, 2, 3, 4, 5, 6, 7]  # the last one when the agent asked for more


def test_one_event_at_a_time_when_each_comes_alone() -> None:
    assert handled([[1], [2], [3]], most=256)[0] == [[1], [2], [3]]


def test_a_batch_the_agent_failed_on_is_not_acknowledged() -> None:
    seen, acked, failed = handled([[1, 2], [3, 4], [5]], most=10, fail_at=2)
    assert seen == [[1, 2], [3, 4]] and acked == [1, 2]
    assert isinstance(failed, RuntimeError) and str(failed) == "the agent failed"


def test_a_batch_open_on_events_a_rebalance_dropped_still_ends_and_is_acknowledged() -> None:
    # The flow stops (as a rebalance stops it) once 1 is read with 2 and 3 queued: Faust
    # drops 2 and 3 without handing them out, and nothing else comes until the batch
    # holding 1 is acknowledged. Then the flow resumes and 4 is delivered.
    def stop_after_one(app: faust.App, value: Any) -> None:
        if value == 1:
            app.flow_control.suspend()

    seen, acked, failed = handled([[1, 2, 3], [4]], most=10, on_value=stop_after_one)
    assert failed is None and seen == [[1], [4]] and acked == [1, 4]
