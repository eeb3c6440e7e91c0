"""track_conversions: recommendations scored elsewhere, orders by session and shadow
results (keyed by session_id) into the conversion tracker; a timer decides NO_PURCHASE
when a window closes."""

from __future__ import annotations

from typing import Any

from mode import CrashingSupervisor

from streams import channels, pipeline
from streams.app import app
from streams.deadletters import crash_on_bug
from streams.settings import settings


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.conversion_input)
async def track_conversions(stream: Any) -> None:
    async for event in stream.events():
        with crash_on_bug("track_conversions"):
            await pipeline.tracking.take(event)


@app.timer(interval=settings().scorer_tick_ms / 1000)
async def decide_due() -> None:
    """Every SCORER_TICK_MS: NO_PURCHASE for each recommendation whose window closed."""
    with crash_on_bug("track_conversions"):
        await pipeline.tracking.decide_due()
