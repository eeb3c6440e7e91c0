"""The face join's rules, as pure functions over one session's pending entry.

A session is ready to score as soon as it has its face (embedded in SessionStarted, or
a FaceDetected event), or when the face wait expires. A face that comes first waits for
its session within the same bound. Entries are plain dicts so that they can live in a
Faust table (JSON changelog); `None` means "no entry".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.records import Face, Joined, JoinOutcome, Match, PendingEntry, Session

Outcome = Literal[
    "embedded",  # the session carried its face
    "joined",  # the face came as its own event, before the wait expired
    "timed_out",  # no face in time: scored without one
    "late",  # a face for a session already scored
    "duplicate",  # a session or face seen before
    "waiting",  # stored, waiting for the other half
    "orphan_face",  # a face whose session never came in time
]


@dataclass(frozen=True)
class Step:
    """What one event does: the entry to keep (None: delete), a request to score, why."""

    entry: PendingEntry | None
    ready: Joined | None
    outcome: Outcome


def resolve_user(
    user_id: str | None, matched_user_id: str | None, match_score: float | None, threshold: float
) -> str | None:
    """The customer: the id given at the counter, else a face-library match that counts."""
    if user_id:
        return user_id
    if matched_user_id and match_score is not None and match_score >= threshold:
        return matched_user_id
    return None


def on_session(
    entry: PendingEntry | None,
    session: Session,
    partition: int,
    now_ms: int,
    event_ms: int,
    wait_ms: int,
) -> Step:
    """A SessionStarted (with started_at in ms) arrives."""
    if entry is not None and entry.get("session") is not None:
        return Step(entry, None, "duplicate")
    if session.get("face") is not None:
        ready = _ready(session, session["face"], None, "embedded", event_ms)
        return Step(None, ready, "embedded")
    if entry is not None and entry.get("face") is not None:
        ready = _ready(session, entry["face"], entry.get("match"), "joined", event_ms)
        return Step(None, ready, "joined")
    fresh: PendingEntry = {
        "session": session,
        "face": None,
        "match": None,
        "partition": partition,
        "deadline_ms": now_ms + wait_ms,
        "event_ms": event_ms + wait_ms,
    }
    return Step(fresh, None, "waiting")


def on_face(
    entry: PendingEntry | None,
    face: Face,
    match: Match | None,
    partition: int,
    now_ms: int,
    event_ms: int,
    wait_ms: int,
) -> Step:
    """A FaceDetected arrives (the caller has checked that its session is not scored)."""
    if entry is None:
        fresh: PendingEntry = {
            "session": None,
            "face": face,
            "match": match,
            "partition": partition,
            "deadline_ms": now_ms + wait_ms,
            "event_ms": event_ms,
        }
        return Step(fresh, None, "waiting")
    if entry.get("face") is not None:
        return Step(entry, None, "duplicate")
    session = entry["session"]
    assert session is not None  # an entry holds a session, a face, or both
    return Step(None, _ready(session, face, match, "joined", event_ms), "joined")


def on_tick(entry: PendingEntry, now_ms: int) -> Step:
    """The clock moved on: score a session whose wait is over, drop a stale face."""
    if now_ms < entry["deadline_ms"]:
        return Step(entry, None, "waiting")
    session = entry["session"]
    if session is None:
        return Step(None, None, "orphan_face")
    ready = _ready(session, None, None, "timed_out", entry["event_ms"])
    return Step(None, ready, "timed_out")


def _ready(
    session: Session,
    face: Face | None,
    match: Match | None,
    join: JoinOutcome,
    event_ms: int,
) -> Joined:
    return {"session": session, "face": face, "match": match, "join": join, "event_ms": event_ms}
