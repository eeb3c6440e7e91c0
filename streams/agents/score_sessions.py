"""score_sessions: scoring.requests (keyed by user_id) into the scoring stage.

Only the sessions joined on a worker that does not hold their customer's history come
this way (streams/pipeline.py); micro-batches of what is queued, up to SCORER_BATCH_MAX.
"""

from __future__ import annotations

from typing import Any

from mode import CrashingSupervisor

from streams import channels, pipeline
from streams.app import app
from streams.batching import batches
from streams.deadletters import crash_on_bug
from streams.settings import settings


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.scoring_requests)
async def score_sessions(stream: Any) -> None:
    async for events in batches(stream, settings().scorer_batch_max):
        with crash_on_bug("score_sessions"):
            await pipeline.scoring.take(events)
