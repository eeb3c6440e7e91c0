"""Timers that keep a quiet worker current: what a flowing stream would otherwise do
between its batches."""

from __future__ import annotations

from streams import pipeline
from streams.app import app
from streams.clock import now_ms
from streams.runtime import current

#: The dedup keys of each stage, each dropped once past its window.
KEPT = (pipeline.join.scored, pipeline.scoring.recommended, pipeline.tracking.published)


@app.timer(interval=1.0)
async def swap_models_when_idle() -> None:
    """A worker without sessions to score swaps an announced model in here, so that
    scorer_model_info is right even when idle (between batches, on the event loop)."""
    current().models.serving()


@app.timer(interval=5.0)
async def forget_expired_keys() -> None:
    """The dedup keys past their window go on a quiet worker too (each add drops them
    while sessions flow)."""
    now = now_ms()
    for keys in KEPT:
        keys.expire(now)
