"""join_faces: sessions meet their faces (keyed by session_id), then go to scoring by user.

One stream carries station.sessions, station.faces and the ticks of scoring.join-ticks,
co-partitioned, so that partition p of each is handled together. The rules are in
streams/join.py; this agent applies them, keeps the `pending` and `scored` tables, and
sends ready sessions to scoring.requests keyed by the resolved user (DESIGN steps 1-2).

A tick for partition p scores the sessions of p whose face wait is over. The deadlines
of each partition are indexed in memory (rebuilt from the `pending` table after every
rebalance), so that a tick does not read the whole table.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from faust.types import EventT
from mode import CrashingSupervisor

from streams import channels, join
from streams.app import app
from streams.deadletters import CONTENT_ERRORS, decode_or_dead_letter, send_dead_letter
from streams.runtime import current, now_ms, to_ms
from streams.settings import settings
from streams.tables import pending, scored

log = logging.getLogger(__name__)
JOIN_OUTCOMES: dict[str, int] = {}
# partition -> {session_id: deadline_ms}; partitions not in _indexed are rebuilt first.
_deadlines: dict[int, dict[str, int]] = {}
_indexed: set[int] = set()


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.join_input)
async def join_faces(stream: Any) -> None:
    async for event in stream.events():
        topic = event.message.topic
        try:
            if topic == channels.JOIN_TICKS:
                await _on_tick(event)
            elif topic == channels.SESSIONS:
                await _on_session(event)
            else:
                await _on_face(event)
        except CONTENT_ERRORS as exc:  # a bad event must not stop the join
            log.exception("join_faces failed on %s[%d]@%d", topic, event.message.partition,
                          event.message.offset)  # fmt: skip
            await send_dead_letter(event, "processing_error", f"{type(exc).__name__}: {exc}")


def _event_ms(event: EventT) -> int:
    """The Kafka timestamp of an event (the producer's clock), in epoch milliseconds."""
    return int(event.message.timestamp * 1000)


def _count(outcome: str) -> None:
    JOIN_OUTCOMES[outcome] = JOIN_OUTCOMES.get(outcome, 0) + 1


async def _on_session(event: EventT) -> None:
    record = await decode_or_dead_letter(event, "SessionStarted")
    if record is None:
        return
    session_id = record["session_id"]
    if scored.get(session_id) is not None:
        _count("duplicate")
        return
    session = {"session_id": session_id, "station_id": record["station_id"],
               "started_at_ms": to_ms(record["started_at"]), "user_id": record["user_id"],
               "face": record["face"]}  # fmt: skip
    step = join.on_session(pending.get(session_id), session, event.message.partition, now_ms(),
                           _event_ms(event),
                           current().settings.scorer_face_wait_ms)  # fmt: skip
    await _apply(session_id, step, event.message.partition)


async def _on_face(event: EventT) -> None:
    record = await decode_or_dead_letter(event, "FaceDetected")
    if record is None:
        return
    session_id = record["session_id"]
    if scored.get(session_id) is not None:
        _count("late")
        return
    match = {"matched_user_id": record["matched_user_id"], "match_score": record["match_score"]}
    step = join.on_face(pending.get(session_id), record["face"], match, event.message.partition,
                        now_ms(), _event_ms(event),
                        current().settings.scorer_face_wait_ms)  # fmt: skip
    await _apply(session_id, step, event.message.partition)


async def _on_tick(event: EventT) -> None:
    partition = event.message.partition
    tick = json.loads(event.message.value or b"{}")
    if tick.get("partition") != partition:
        return
    if partition not in _indexed:
        _rebuild_index(partition)
    now = now_ms()
    due = [sid for sid, deadline in _deadlines[partition].items() if deadline <= now]
    for session_id in due:
        entry = pending.get(session_id)
        if entry is None:
            _deadlines[partition].pop(session_id, None)
            continue
        await _apply(session_id, join.on_tick(entry, now), partition)


def _rebuild_index(partition: int) -> None:
    _deadlines[partition] = {
        key.decode() if isinstance(key, bytes) else key: entry["deadline_ms"]
        for key, entry in pending.items()
        if entry is not None and entry.get("partition") == partition
    }
    _indexed.add(partition)


async def _apply(session_id: str, step: join.Step, partition: int) -> None:
    _count(step.outcome)
    index = _deadlines.setdefault(partition, {})
    if step.entry is None:
        if pending.get(session_id) is not None:
            del pending[session_id]
        index.pop(session_id, None)
    elif step.outcome == "waiting":
        pending[session_id] = step.entry
        index[session_id] = step.entry["deadline_ms"]
    if step.ready is not None:
        scored[session_id] = now_ms()
        await _send_to_scoring(step.ready)


async def _send_to_scoring(ready: dict[str, Any]) -> None:
    session, match = ready["session"], ready["match"] or {}
    user_id = join.resolve_user(session["user_id"], match.get("matched_user_id"),
                                match.get("match_score"),
                                current().settings.scorer_match_threshold)  # fmt: skip
    request = channels.ScoringRequest(
        session_id=session["session_id"], station_id=session["station_id"],
        started_at_ms=session["started_at_ms"], user_id=user_id, face=ready["face"],
        join=ready["join"], event_time_ms=ready["event_ms"],
    )  # fmt: skip
    await channels.scoring_requests.send(key=user_id or session["session_id"], value=request)


async def _forget_index(app: Any, *args: Any, **kwargs: Any) -> None:
    """Partitions moved: rebuild each partition's deadlines from the table on its next tick."""
    _indexed.clear()
    _deadlines.clear()


app.on_partitions_revoked.connect(_forget_index)  # type: ignore[arg-type]
app.on_partitions_assigned.connect(_forget_index)  # type: ignore[arg-type]


@app.timer(interval=settings().scorer_tick_ms / 1000)
async def send_join_ticks() -> None:
    """Tick every partition of the join this worker owns (interval: SCORER_TICK_MS)."""
    now = now_ms()
    owned = {tp.partition for tp in app.assignor.assigned_actives()
             if tp.topic == channels.SESSIONS}  # fmt: skip
    for partition in sorted(owned):
        value = json.dumps({"partition": partition, "now_ms": now}).encode()
        await channels.join_ticks.send(key=str(partition).encode(), value=value,
                                       partition=partition)  # fmt: skip
