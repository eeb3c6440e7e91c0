"""The face join's rules, one event at a time."""

from __future__ import annotations

from streams.records import Face, Match, Session
from streams.rules import join_faces as join

SESSION: Session = {
    "session_id": "s1",
    "station_id": "st",
    "started_at_ms": 1_000,
    "user_id": None,
    "face": None,
}
FACE: Face = {"beauty": 50.0}


def test_embedded_face_is_ready_at_once() -> None:
    step = join.on_session(None, {**SESSION, "face": FACE}, 2, now_ms=5, event_ms=7, wait_ms=1500)
    assert step.outcome == "embedded" and step.entry is None
    assert step.ready is not None and step.ready["face"] == FACE and step.ready["event_ms"] == 7


def test_session_waits_then_its_face_joins() -> None:
    wait = join.on_session(None, SESSION, 2, now_ms=100, event_ms=90, wait_ms=1500)
    assert wait.outcome == "waiting" and wait.ready is None
    assert wait.entry is not None and wait.entry["deadline_ms"] == 1600
    match: Match = {"matched_user_id": "u1", "match_score": 90.0}
    joined = join.on_face(wait.entry, FACE, match, 2, now_ms=400, event_ms=380, wait_ms=1500)
    assert joined.outcome == "joined" and joined.entry is None
    assert joined.ready is not None and joined.ready["match"] == match
    assert joined.ready["event_ms"] == 380


def test_face_first_waits_for_its_session() -> None:
    wait = join.on_face(None, FACE, None, 1, now_ms=100, event_ms=100, wait_ms=1500)
    assert wait.outcome == "waiting" and wait.entry is not None
    joined = join.on_session(wait.entry, SESSION, 1, now_ms=300, event_ms=290, wait_ms=1500)
    assert joined.outcome == "joined" and joined.ready is not None
    assert joined.ready["face"] == FACE


def test_wait_expires_to_a_faceless_score_and_a_stale_face_is_dropped() -> None:
    wait = join.on_session(None, SESSION, 0, now_ms=100, event_ms=100, wait_ms=1500)
    assert wait.entry is not None
    assert join.on_tick(wait.entry, now_ms=1599).outcome == "waiting"
    expired = join.on_tick(wait.entry, now_ms=1600)
    assert expired.outcome == "timed_out" and expired.ready is not None
    assert expired.ready["face"] is None and expired.ready["event_ms"] == 1600
    orphan = join.on_face(None, FACE, None, 0, now_ms=0, event_ms=0, wait_ms=1500)
    assert orphan.entry is not None
    dropped = join.on_tick(orphan.entry, now_ms=2000)
    assert dropped.outcome == "orphan_face" and dropped.entry is None and dropped.ready is None


def test_duplicates_while_waiting_change_nothing() -> None:
    wait = join.on_session(None, SESSION, 0, now_ms=100, event_ms=100, wait_ms=1500)
    again = join.on_session(wait.entry, SESSION, 0, now_ms=200, event_ms=200, wait_ms=1500)
    assert again.outcome == "duplicate" and again.entry == wait.entry and again.ready is None
    face_first = join.on_face(None, FACE, None, 0, now_ms=0, event_ms=0, wait_ms=1500)
    twice = join.on_face(face_first.entry, FACE, None, 0, now_ms=10, event_ms=10, wait_ms=1500)
    assert twice.outcome == "duplicate" and twice.ready is None


def test_identity_prefers_the_counter_then_a_strong_match() -> None:
    assert join.resolve_user("u1", "u2", 99.0, 80) == "u1"
    assert join.resolve_user(None, "u2", 80.0, 80) == "u2"
    assert join.resolve_user(None, "u2", 79.9, 80) is None
    assert join.resolve_user(None, None, None, 80) is None
