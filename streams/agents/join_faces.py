"""join_faces: sessions meet their faces (keyed by session_id), then are scored.

One stream carries station.sessions and station.faces, co-partitioned, so that partition
p of both is handled together, in micro-batches of what is queued (up to
SCORER_BATCH_MAX, streams/batching.py). The rules are in streams/rules/join_faces.py;
this agent applies them and keeps the `pending` table (docs/concepts/architecture.md, Topology,
steps 1-2). A ready
session whose customer's history this worker holds (the user's partition of user-history
is active here: every new customer's, whose key is the session's own, and all of them on
a single worker) is scored at once by score_sessions.score_ready, with no Kafka message
between; the others go to scoring.requests keyed by the resolved user, for the worker
that holds theirs (step 3), in bundles for one partition, held across batches
while a backlog drains (streams/kafka/bundles.py). A consumed Faust message costs more
CPU than the join itself. What it scored lately is kept in memory and read back from
scoring.recommendations on every assignment (streams/kafka/outputs.py), so a replayed
session or a late face never yields a second recommendation.

A timer scores the sessions whose face wait is over (streams/rules/deadlines.py keeps the
deadlines of each partition in memory, rebuilt from the table after rebalances).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, cast, get_args

from faust.types import EventT
from mode import CrashingSupervisor

from infra.kafka.client import key_partition
from streams import channels, metrics
from streams.agents import score_sessions
from streams.app import app
from streams.batching import batches
from streams.clock import now_ms, to_ms, written_ms
from streams.deadletters import CONTENT_ERRORS, decode_or_dead_letter, handle_or_dead_letter
from streams.kafka import bundles
from streams.kafka.outputs import ReadBack, RecentKeys, replay_start
from streams.records import Joined, Match, PendingEntry, ScoringRequest, Session
from streams.rules import join_faces as rules
from streams.rules.deadlines import DeadlineIndex
from streams.runtime import current
from streams.settings import settings
from streams.tables import pending, settled, writing_to

log = logging.getLogger(__name__)
deadlines = DeadlineIndex(pending)
# Sessions sent to scoring lately. Recommendations are keyed by session_id too: partition
# p of that topic holds the outcome of partition p of this join.
scored = RecentKeys(channels.RECOMMENDATIONS, settings().scorer_dedup_window_s * 1000)
read_back = ReadBack()  # open once `scored` holds the owned partitions' tail
# What is sent on to scoring.requests, held while a backlog drains (the batch was full).
sent_on = bundles.Held(channels.SCORING_REQUESTS, ScoringRequest.bundle)


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.join_input)
async def join_faces(stream: Any) -> None:
    most = settings().scorer_batch_max
    async for events in batches(stream, most):
        ready: list[Joined] = []
        route = channels.by_topic(
            {
                channels.SESSIONS: partial(_on_session, ready=ready),
                channels.FACES: partial(_on_face, ready=ready),
            }
        )
        read_at = now_ms()
        for event in events:
            await read_back.wait()
            if event.message.generation_id != app.consumer_generation_id:
                continue  # fetched before the latest assignment: it is handed again
            with writing_to(event.message.topic, event.message.partition):  # its pending
                await handle_or_dead_letter("join_faces", event, route)
        await _score_or_send(ready, read_at, backlog=len(events) >= most)


#: scorer_face_join_total's counter of each outcome (a labels() call costs microseconds).
_JOIN_COUNTS = {
    outcome: metrics.FACE_JOIN.labels(outcome=outcome)
    for outcome in get_args(rules.Outcome)
    if outcome != "waiting"
}


def _count(outcome: str) -> None:
    counter = _JOIN_COUNTS.get(outcome)
    if counter is not None:
        counter.inc()


async def _on_session(event: EventT, ready: list[Joined]) -> None:
    record = await decode_or_dead_letter(event, "SessionStarted")
    if record is None:
        return
    session_id = record["session_id"]
    metrics.HOP_RECEIVED.observe(max(0, now_ms() - written_ms(event)) / 1000)
    if session_id in scored:
        _count("duplicate")
        return
    session: Session = {
        "session_id": session_id,
        "station_id": record["station_id"],
        "started_at_ms": to_ms(record["started_at"]),
        "user_id": record["user_id"],
        "face": record["face"],
    }
    stored = pending.get(session_id)
    step = rules.on_session(
        stored,
        session,
        event.message.partition,
        now_ms(),
        written_ms(event),
        current().settings.scorer_face_wait_ms,
    )
    _apply(session_id, step, event.message.partition, ready, stored is not None)


async def _on_face(event: EventT, ready: list[Joined]) -> None:
    record = await decode_or_dead_letter(event, "FaceDetected")
    if record is None:
        return
    session_id = record["session_id"]
    if session_id in scored:
        _count("late")
        return
    match: Match = {
        "matched_user_id": record["matched_user_id"],
        "match_score": record["match_score"],
    }
    stored = pending.get(session_id)
    step = rules.on_face(
        stored,
        record["face"],
        match,
        event.message.partition,
        now_ms(),
        written_ms(event),
        current().settings.scorer_face_wait_ms,
    )
    _apply(session_id, step, event.message.partition, ready, stored is not None)


@app.timer(interval=settings().scorer_tick_ms / 1000)
async def end_face_waits() -> None:
    """Score each session whose face wait is over, drop each face whose session never
    came (every SCORER_TICK_MS, for the partitions this worker owns)."""
    if not (settled() and read_back.is_open()):
        return  # partitions are moving: the index is rebuilt once they are settled
    now = now_ms()
    owned = {
        tp.partition for tp in app.assignor.assigned_actives() if tp.topic == channels.SESSIONS
    }
    ready: list[Joined] = []
    for partition in sorted(owned):
        due = deadlines.due_entries(partition, now)
        if due:
            with writing_to(channels.SESSIONS, partition):
                for session_id, entry in due:
                    _apply(
                        session_id,
                        rules.on_tick(cast(PendingEntry, entry), now),
                        partition,
                        ready,
                        stored=True,
                    )
    await _score_or_send(ready, now, backlog=None)  # and what was held too long goes


def _apply(
    session_id: str, step: rules.Step, partition: int, ready: list[Joined], stored: bool
) -> None:
    """Keep or delete the session's pending entry (`stored`: it had one, as read before
    the step: a session with its face embedded costs no second read) and take it to be
    scored when it is ready."""
    _count(step.outcome)
    if step.entry is None:
        if stored and pending.get(session_id) is not None:
            del pending[session_id]
        deadlines.keep(partition, session_id, None)
    elif step.outcome == "waiting":
        pending[session_id] = step.entry
        deadlines.keep(partition, session_id, step.entry)
    if step.ready is not None:
        # Remembered now, so that a copy later in the batch is a duplicate; the batch's
        # events are acknowledged only once it is scored or sent (_score_or_send).
        ready.append(step.ready)
        scored.add(session_id, now_ms(), step.ready["event_ms"])


async def _score_or_send(ready: list[Joined], read_at: int, backlog: bool | None) -> None:
    """Score here the sessions whose customer's history this worker holds (one consumed
    message a session); send the others to scoring.requests, keyed by user, for the
    worker that holds theirs (held with those sent before while the join has a
    `backlog`; None: as its last batch said). A new customer's key is the session's own:
    here, since Faust assigns partition p of every co-partitioned topic to one worker."""
    if not ready:
        sent_on.add(current().publisher, (), backlog)
        return
    partitions = current().settings.scorer_partitions
    held = {
        tp.partition
        for tp in app.assignor.assigned_actives()
        if tp.topic == channels.SCORING_REQUESTS
    }
    here: list[score_sessions.Ready] = []
    away: list[score_sessions.Ready] = []
    for joined in ready:
        request = _request(joined)
        partition = key_partition(request.key(), partitions)
        item = score_sessions.Ready(request, partition, joined["event_ms"])
        (here if partition in held else away).append(item)
    if here:
        try:
            away += await score_sessions.score_ready(here, read_at)
        except CONTENT_ERRORS:  # the scorer's agent dead-letters what cannot be scored
            log.exception("scoring %d joined sessions failed; sent to scoring", len(here))
            away += here
    sent_on.add(
        current().publisher,
        [(item.partition, item.request.key(), item.request.to_bytes()) for item in away],
        backlog,
    )


def _request(ready: Joined) -> ScoringRequest:
    session, match = ready["session"], ready["match"]
    user_id = rules.resolve_user(
        session["user_id"],
        match and match["matched_user_id"],
        match and match["match_score"],
        current().settings.scorer_match_threshold,
    )
    return ScoringRequest(
        session_id=session["session_id"],
        station_id=session["station_id"],
        started_at_ms=session["started_at_ms"],
        user_id=user_id,
        face=ready["face"],
        join=ready["join"],
        event_time_ms=ready["event_ms"],
    )


async def _forget_index(app: Any, *args: Any, **kwargs: Any) -> None:
    deadlines.forget_all()


async def _reload_published(app: Any, *args: Any, **kwargs: Any) -> None:
    read_back.close()
    try:
        deadlines.forget_all()
        owned = [
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == channels.SESSIONS
        ]
        rt = current()
        since = await replay_start(
            rt.bootstrap,
            rt.settings.scorer_app_id,
            {channels.SESSIONS: owned, channels.FACES: owned},
        )
        await scored.reload(rt.bootstrap, owned, since)
    finally:
        read_back.open()


app.on_partitions_revoked.connect(_forget_index)  # type: ignore[arg-type]
app.on_partitions_assigned.connect(_reload_published)  # type: ignore[arg-type]
# Tables are recovered by now: an index a timer built from a table still recovering
# would miss the entries that came after.
app.on_rebalance_complete.connect(_forget_index)  # type: ignore[arg-type]
