"""record_orders: station.orders (keyed by user_id) into the customers' histories and
profiles (streams/stages/orders.py), in micro-batches of what is queued."""

from __future__ import annotations

from typing import Any

from mode import CrashingSupervisor

from streams import channels
from streams.app import app
from streams.batching import batches
from streams.deadletters import crash_on_bug
from streams.settings import settings
from streams.stages import orders


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.orders)
async def record_orders(stream: Any) -> None:
    async for events in batches(stream, settings().scorer_batch_max):
        with crash_on_bug("record_orders"):
            await orders.record_batch(events)
