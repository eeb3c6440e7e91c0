"""join_faces: station.sessions and station.faces (keyed by session_id) into the join.

Micro-batches of what is queued, up to SCORER_BATCH_MAX (streams/batching.py); a full
batch means the stream has a backlog. A timer ends the face waits that ran out.
"""

from __future__ import annotations

from typing import Any

from mode import CrashingSupervisor

from streams import channels, pipeline
from streams.app import app
from streams.batching import batches
from streams.deadletters import crash_on_bug
from streams.settings import settings


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.join_input)
async def join_faces(stream: Any) -> None:
    most = settings().scorer_batch_max
    async for events in batches(stream, most):
        with crash_on_bug("join_faces"):
            await pipeline.join.take(events, backlog=len(events) >= most)


@app.timer(interval=settings().scorer_tick_ms / 1000)
async def end_face_waits() -> None:
    """Every SCORER_TICK_MS: the sessions whose face wait is over go on unjoined."""
    with crash_on_bug("join_faces"):
        await pipeline.join.end_waits()
