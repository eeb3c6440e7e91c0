"""Micro-batches of a stream's events as they come: what is queued, not what a timer lets in.

Faust's `take_events(n, within)` hands out a batch every `within` seconds (or at n events),
so every event waited for the timer before its agent read it: with the scorer's 5 ms, 2.5
ms on average at any rate. Here a batch ends when the stream's queue is empty (nothing
more has been delivered) or when it holds `most` events. At a low rate each event is
handled as soon as it is delivered; under load the queue fills while a batch is handled,
and the next batch takes what came meanwhile, up to `most`.

The events of a batch are acknowledged when the agent asks for the next batch, after it
handled them all; an agent that raises leaves its batch unacknowledged (the worker stops,
and whoever takes the partitions reads it again).

A batch left open because events were queued may never see them: when a rebalance stops
the flow, Faust drops what is queued without handing it out, and then waits for every
event it did hand out to be acknowledged, the open batch's too. So a batch that has
been open for `NUDGE_S` wakes the stream with a marker put at the end of its queue, and
the marker ends the batch: the queued events, if still there, come before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

from faust.channels import Channel
from faust.streams import Stream
from faust.types import EventT, StreamT

# Longer than building a batch takes (an event costs about 30 µs to send and read through
# an in-memory Faust channel here, so 256 queued ones take under 10 ms), short beside the
# rebalance it unblocks.
NUDGE_S = 0.05


class _Nudge:
    """The marker that ends an open batch (a stream hands out what is not an event as is)."""


NUDGE = _Nudge()


async def batches(stream: StreamT, most: int) -> AsyncIterator[list[EventT]]:
    """The stream's events in batches of what is queued, at most `most` each."""
    manual = cast(Stream, stream).noack()
    queued = cast(Channel, manual.channel).queue  # what has been delivered, not read yet
    loop = asyncio.get_running_loop()
    batch: list[EventT] = []
    nudge: asyncio.TimerHandle | None = None

    def wake() -> None:
        nonlocal nudge
        nudge = None
        queued.force_put_nowait(NUDGE)  # past the queue's bound: the marker is never refused

    try:
        async for _ in manual:
            event = manual.current_event
            if event is not None:
                batch.append(event)
                if len(batch) < most and not queued.empty():
                    if nudge is None:
                        nudge = loop.call_later(NUDGE_S, wake)
                    continue
            if not batch:  # a marker after its batch had ended
                continue
            if nudge is not None:
                nudge.cancel()
                nudge = None
            yield batch
            for done in batch:
                await manual.ack(done)
            batch = []
    finally:
        if nudge is not None:
            nudge.cancel()
