"""Micro-batches of a stream's events as they come: what is queued, not what a timer lets in.

Faust's `take_events(n, within)` hands out a batch every `within` seconds (or at n events),
so every event waited for the timer before its agent read it: with the scorer's 5 ms, 2.5
ms on average at any rate. Here a batch ends when the stream's queue is empty (nothing
more has been delivered) or when it holds `most` events. At a low rate each event is
handled as soon as it is delivered; under load the queue fills while a batch is handled,
and the next batch takes what came meanwhile, up to `most`.

The events of a batch are acknowledged when the agent asks for the next batch, after it
handled them all; an agent that raises leaves its batch unacknowledged (the worker stops,
and whoever takes the partitions reads it again). An event that Faust skips (fetched
before the latest assignment) is acknowledged by Faust and never handed out; a batch left
open because such an event was still queued ends with the next event delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from faust.channels import Channel
from faust.streams import Stream
from faust.types import EventT


async def batches(stream: Stream, most: int) -> AsyncIterator[list[EventT]]:
    """The stream's events in batches of what is queued, at most `most` each."""
    manual = stream.noack()
    queued = cast(Channel, manual.channel).queue  # what has been delivered, not read yet
    batch: list[EventT] = []
    async for event in manual.events():
        batch.append(event)
        if len(batch) >= most or queued.empty():
            yield batch
            for done in batch:
                await manual.ack(done)
            batch = []
