"""join_faces: sessions meet their faces (keyed by session_id), then go to scoring by user.

One stream carries station.sessions and station.faces, co-partitioned, so that
partition p of both is handled together. The rules are in
streams/rules/join_faces.py; this agent applies them, keeps the `pending` table, and sends
ready sessions to scoring.requests keyed by the resolved user (DESIGN steps 1-2).
What it scored lately is kept in memory and read back from scoring.recommendations on
every assignment (streams/kafka/outputs.py), so a replayed session or a late face never
yields a second recommendation.

A timer scores the sessions whose face wait is over (streams/rules/deadlines.py keeps the
deadlines of each partition in memory, rebuilt from the table after rebalances).
"""

from __future__ import annotations

from typing import Any, cast

from faust.types import EventT
from mode import CrashingSupervisor

from streams import channels, metrics
from streams.app import app
from streams.clock import now_ms, to_ms, written_ms
from streams.deadletters import decode_or_dead_letter, handle_or_dead_letter
from streams.kafka.outputs import ReadBack, RecentKeys, replay_start
from streams.records import Joined, Match, PendingEntry, ScoringRequest, Session
from streams.rules import join_faces as rules
from streams.rules.deadlines import DeadlineIndex
from streams.runtime import current
from streams.settings import settings
from streams.tables import pending, settled, writing_to

deadlines = DeadlineIndex(pending)
# Sessions sent to scoring lately. Recommendations are keyed by session_id too: partition
# p of that topic holds the outcome of partition p of this join.
scored = RecentKeys(channels.RECOMMENDATIONS, settings().scorer_dedup_window_s * 1000)
read_back = ReadBack()  # open once `scored` holds the owned partitions' tail


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.join_input)
async def join_faces(stream: Any) -> None:
    route = channels.by_topic({channels.SESSIONS: _on_session, channels.FACES: _on_face})

    async def handle(event: EventT) -> None:
        await read_back.wait()
        await route(event)

    async for event in stream.events():
        await handle_or_dead_letter("join_faces", event, handle)


def _count(outcome: str) -> None:
    if outcome != "waiting":
        metrics.FACE_JOIN.labels(outcome=outcome).inc()


async def _on_session(event: EventT) -> None:
    record = await decode_or_dead_letter(event, "SessionStarted")
    if record is None:
        return
    session_id = record["session_id"]
    metrics.HOP_RECEIVED.observe(max(0, now_ms() - written_ms(event)) / 1000)
    if session_id in scored:
        _count("duplicate")
        return
    session: Session = {"session_id": session_id, "station_id": record["station_id"],
                        "started_at_ms": to_ms(record["started_at"]),
                        "user_id": record["user_id"], "face": record["face"]}  # fmt: skip
    step = rules.on_session(pending.get(session_id), session, event.message.partition, now_ms(),
                           written_ms(event),
                           current().settings.scorer_face_wait_ms)  # fmt: skip
    await _apply(session_id, step, event.message.partition)


async def _on_face(event: EventT) -> None:
    record = await decode_or_dead_letter(event, "FaceDetected")
    if record is None:
        return
    session_id = record["session_id"]
    if session_id in scored:
        _count("late")
        return
    match: Match = {"matched_user_id": record["matched_user_id"],
                    "match_score": record["match_score"]}  # fmt: skip
    step = rules.on_face(pending.get(session_id), record["face"], match, event.message.partition,
                        now_ms(), written_ms(event),
                        current().settings.scorer_face_wait_ms)  # fmt: skip
    await _apply(session_id, step, event.message.partition)


@app.timer(interval=settings().scorer_tick_ms / 1000)
async def end_face_waits() -> None:
    """Score each session whose face wait is over, drop each face whose session never
    came (every SCORER_TICK_MS, for the partitions this worker owns)."""
    if not (settled() and read_back.is_open()):
        return  # partitions are moving: the index is rebuilt once they are settled
    now = now_ms()
    owned = {tp.partition for tp in app.assignor.assigned_actives()
             if tp.topic == channels.SESSIONS}  # fmt: skip
    for partition in sorted(owned):
        due = deadlines.due_entries(partition, now)
        if due:
            with writing_to(channels.SESSIONS, partition):
                for session_id, entry in due:
                    await _apply(session_id, rules.on_tick(cast(PendingEntry, entry), now),
                                 partition)  # fmt: skip


async def _apply(session_id: str, step: rules.Step, partition: int) -> None:
    _count(step.outcome)
    if step.entry is None:
        if pending.get(session_id) is not None:
            del pending[session_id]
        deadlines.keep(partition, session_id, None)
    elif step.outcome == "waiting":
        pending[session_id] = step.entry
        deadlines.keep(partition, session_id, step.entry)
    if step.ready is not None:
        # Send first, then remember: a crash in between repeats the request (the scorer
        # drops the repeat), where the other order could lose the session.
        _send_to_scoring(step.ready)
        scored.add(session_id, now_ms(), step.ready["event_ms"])


def _send_to_scoring(ready: Joined) -> None:
    session, match = ready["session"], ready["match"]
    user_id = rules.resolve_user(session["user_id"], match and match["matched_user_id"],
                                 match and match["match_score"],
                                 current().settings.scorer_match_threshold)  # fmt: skip
    request = ScoringRequest(
        session_id=session["session_id"], station_id=session["station_id"],
        started_at_ms=session["started_at_ms"], user_id=user_id, face=ready["face"],
        join=ready["join"], event_time_ms=ready["event_ms"],
    )  # fmt: skip
    key = (user_id or session["session_id"]).encode()
    current().publisher.publish(channels.SCORING_REQUESTS, key, request.to_bytes())


async def _forget_index(app: Any, *args: Any, **kwargs: Any) -> None:
    deadlines.forget_all()


async def _reload_published(app: Any, *args: Any, **kwargs: Any) -> None:
    read_back.close()
    try:
        deadlines.forget_all()
        owned = [tp.partition for tp in app.assignor.assigned_actives()
                 if tp.topic == channels.SESSIONS]  # fmt: skip
        rt = current()
        since = await replay_start(rt.bootstrap, rt.settings.scorer_app_id,
                                   {channels.SESSIONS: owned, channels.FACES: owned})  # fmt: skip
        await scored.reload(rt.bootstrap, owned, since)
    finally:
        read_back.open()


app.on_partitions_revoked.connect(_forget_index)  # type: ignore[arg-type]
app.on_partitions_assigned.connect(_reload_published)  # type: ignore[arg-type]
# Tables are recovered by now: an index a timer built from a table still recovering
# would miss the entries that came after.
app.on_rebalance_complete.connect(_forget_index)  # type: ignore[arg-type]
