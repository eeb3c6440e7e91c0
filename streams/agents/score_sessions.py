"""score_sessions: micro-batches of ready sessions through the MLP (keyed by user_id).

Each batch is one forward pass (DESIGN step 3); the user history table is read here,
never written (record_orders owns it). The batch is bounded in size and in wait
(SCORER_BATCH_MAX, SCORER_BATCH_WAIT_MS).
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import EventT
from mode import CrashingSupervisor

from model.customers import history
from schemas import topics
from schemas.codec import CodecError
from streams import channels, metrics
from streams.app import app
from streams.deadletters import CONTENT_ERRORS, send_dead_letter
from streams.records import ScoringRequest
from streams.rules.score_sessions import recommendation, score_rows, session_row
from streams.runtime import current, now_ms
from streams.settings import settings
from streams.tables import RECENT_PER_KEY, recommended, user_history, writing_for

log = logging.getLogger(__name__)


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.scoring_requests)
async def score_sessions(stream: Any) -> None:
    conf = settings()
    within = conf.scorer_batch_wait_ms / 1000
    async for events in stream.take_events(conf.scorer_batch_max, within=within):
        try:
            await score_batch(events)
        except CONTENT_ERRORS as exc:  # a batch that cannot be scored is kept, with why
            log.exception("scoring a batch of %d sessions failed", len(events))
            for event in events:
                await send_dead_letter(event, "processing_error", f"{type(exc).__name__}: {exc}")


async def score_batch(events: list[EventT]) -> None:
    """Score a batch in one forward pass and publish a Recommendation per new session."""
    rt = current()
    seen: dict[str, list[str]] = {}
    rows, kept = [], []
    metrics.EVENTS.labels(topic=topics.SCORING_REQUESTS.name).inc(len(events))
    for event in events:
        try:
            request = ScoringRequest.from_bytes(event.message.value)
        except CodecError as exc:
            await send_dead_letter(event, exc.reason, str(exc))
            continue
        key = (event.key or b"").decode(errors="replace")
        done = seen.setdefault(key, list(recommended.get(key) or []))
        if request.session_id in done:
            continue  # replayed after a restart: recommended already
        station = await rt.registry.lookup(request.station_id)
        if station is None:  # removed from the registry since the join accepted it
            await send_dead_letter(
                event, "unknown_station", f"station {request.station_id!r} left the registry"
            )
            continue
        user = request.user_id
        summary = history.summary(user_history.get(user)) if user else None
        rows.append(session_row(request.started_at_ms, request.face, station, summary))
        kept.append((event, request, key))
        done.append(request.session_id)
    if not rows:
        return
    with metrics.INFERENCE.time():
        results = score_rows(rt.predictor, rows)
    metrics.BATCH_SIZE.observe(len(rows))
    scored_at = now_ms()
    for (event, request, key), ranked in zip(kept, results, strict=True):
        record = recommendation(request, ranked, rt.predictor.version, scored_at)
        value = rt.codec.encode("Recommendation", record)
        await channels.recommendations.send(key=request.session_id.encode(), value=value)
        # Publish first, then remember: a crash in between can repeat a recommendation,
        # never lose one (the failover tests count both).
        with writing_for(event):
            recommended[key] = seen[key][-RECENT_PER_KEY:]
        published = now_ms()
        metrics.LATENCY.observe(max(0, published - request.event_time_ms) / 1000)
        metrics.RECOMMENDATIONS.labels(top_pick=record["top_pick"]).inc()
        metrics.SESSIONS_SCORED.labels(new_user=str(record["is_new_user"]).lower()).inc()
