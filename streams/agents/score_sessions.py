"""score_sessions: scoring.requests (keyed by user_id) into the scoring stage.

Only the sessions joined on a worker that does not hold their customer's history come
this way (streams/pipeline.py); micro-batches of what is queued, up to SCORER_BATCH_MAX.
"""

from __future__ import annotations

import logging
from typing import Any

from mode import CrashingSupervisor

from streams import channels, pipeline
from streams.app import app
from streams.batching import batches
from streams.deadletters import CONTENT_ERRORS, send_dead_letter
from streams.settings import settings

log = logging.getLogger(__name__)


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.scoring_requests)
async def score_sessions(stream: Any) -> None:
    async for events in batches(stream, settings().scorer_batch_max):
        try:
            await pipeline.scoring.take(events)
        except CONTENT_ERRORS as exc:  # a batch that cannot be scored is kept, with why
            log.exception("scoring a batch of %d sessions failed", len(events))
            for event in events:
                await send_dead_letter(event, "processing_error", f"{type(exc).__name__}: {exc}")
