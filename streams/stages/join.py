"""Join: sessions meet their faces (keyed by session_id).

Sessions and faces come as one co-partitioned stream, so partition p of both is handled
together. The rules are in streams/rules/join_faces.py; this stage applies them, keeps
the `pending` table and, in memory, the deadlines of each partition (rebuilt after a
rebalance) and the sessions it lately took to be scored. Those are read back from
scoring.recommendations on every assignment (streams/kafka/outputs.py), so a replayed
session or a late face never yields a second recommendation.

What is ready goes to `hand_on` (streams/pipeline.py), with when its batch was read and
whether the stream has a backlog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import cast, get_args

from faust.types import EventT

from streams import channels, metrics
from streams.app import app
from streams.assignment import owned
from streams.clock import now_ms, to_ms, written_ms
from streams.deadletters import decode_or_dead_letter, handle_or_dead_letter
from streams.kafka.outputs import ReadBack, RecentKeys, replay_start
from streams.records import Joined, Match, PendingEntry, Session
from streams.rules import join_faces as rules
from streams.rules.deadlines import DeadlineIndex
from streams.runtime import current
from streams.tables import pending, settled, writing_to

#: What a join hands on: the ready sessions, when their batch was read, and whether the
#: stream has a backlog (None: as its last batch said).
HandOn = Callable[[list[Joined], int, bool | None], Awaitable[None]]

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


class FaceJoin:
    """Steps 1 and 2 of a session's path: its face joined, then handed on."""

    def __init__(self, hand_on: HandOn, dedup_window_ms: int) -> None:
        self.hand_on = hand_on
        self.deadlines = DeadlineIndex(pending)
        # Sessions taken to be scored lately. Recommendations are keyed by session_id
        # too: partition p of that topic holds the outcome of partition p of this join.
        self.scored = RecentKeys(channels.RECOMMENDATIONS, dedup_window_ms)
        self.read_back = ReadBack()  # open once `scored` holds the owned partitions' tail

    async def take(self, events: list[EventT], backlog: bool) -> None:
        """Join a micro-batch of sessions and faces and hand on what is ready."""
        ready: list[Joined] = []
        route = channels.by_topic(
            {
                channels.SESSIONS: partial(self._on_session, ready=ready),
                channels.FACES: partial(self._on_face, ready=ready),
            }
        )
        read_at = now_ms()
        for event in events:
            await self.read_back.wait()
            if event.message.generation_id != app.consumer_generation_id:
                continue  # fetched before the latest assignment: it is handed again
            with writing_to(event.message.topic, event.message.partition):  # its pending
                await handle_or_dead_letter("join_faces", event, route)
        await self.hand_on(ready, read_at, backlog)

    async def _on_session(self, event: EventT, ready: list[Joined]) -> None:
        record = await decode_or_dead_letter(event, "SessionStarted")
        if record is None:
            return
        session_id = record["session_id"]
        metrics.HOP_RECEIVED.observe(max(0, now_ms() - written_ms(event)) / 1000)
        if session_id in self.scored:
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
        self._apply(session_id, step, event.message.partition, ready, stored is not None)

    async def _on_face(self, event: EventT, ready: list[Joined]) -> None:
        record = await decode_or_dead_letter(event, "FaceDetected")
        if record is None:
            return
        session_id = record["session_id"]
        if session_id in self.scored:
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
        self._apply(session_id, step, event.message.partition, ready, stored is not None)

    async def end_waits(self) -> None:
        """Hand on each session whose face wait is over, drop each face whose session
        never came, in the partitions this worker owns."""
        if not (settled() and self.read_back.is_open()):
            return  # partitions are moving: the index is rebuilt once they are settled
        now = now_ms()
        ready: list[Joined] = []
        for partition in sorted(owned(channels.SESSIONS)):
            due = self.deadlines.due_entries(partition, now)
            if due:
                with writing_to(channels.SESSIONS, partition):
                    for session_id, entry in due:
                        step = rules.on_tick(cast(PendingEntry, entry), now)
                        self._apply(session_id, step, partition, ready, stored=True)
        await self.hand_on(ready, now, None)  # and what was held too long goes

    def _apply(
        self, session_id: str, step: rules.Step, partition: int, ready: list[Joined], stored: bool
    ) -> None:
        """Keep or delete the session's pending entry (`stored`: it had one, as read
        before the step: a session with its face embedded costs no second read) and take
        it to be scored when it is ready."""
        _count(step.outcome)
        if step.entry is None:
            if stored and pending.get(session_id) is not None:
                del pending[session_id]
            self.deadlines.keep(partition, session_id, None)
        elif step.outcome == "waiting":
            pending[session_id] = step.entry
            self.deadlines.keep(partition, session_id, step.entry)
        if step.ready is not None:
            # Remembered now, so that a copy later in the batch is a duplicate; the
            # batch's events are acknowledged only once it is scored or sent on.
            ready.append(step.ready)
            self.scored.add(session_id, now_ms(), step.ready["event_ms"])

    def forget_deadlines(self) -> None:
        """Drop the deadline index; the timer rebuilds it from the table once settled."""
        self.deadlines.forget_all()

    async def rebuild(self) -> None:
        """What this worker took to be scored in the partitions it now owns, read back."""
        self.deadlines.forget_all()
        partitions = sorted(owned(channels.SESSIONS))
        rt = current()
        since = await replay_start(
            rt.bootstrap,
            rt.settings.scorer_app_id,
            {channels.SESSIONS: partitions, channels.FACES: partitions},
        )
        await self.scored.reload(rt.bootstrap, partitions, since)
