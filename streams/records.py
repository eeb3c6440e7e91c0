"""The shapes a session takes on its way from bytes to a Recommendation, each once.

`Session` (decoded SessionStarted, times in ms) waits in the join's `PendingEntry` for
its `Face`, becomes a `Joined` session, is re-keyed by user as a `ScoringRequest` (the
scorer's own record on scoring.requests), and is published as a `Recommendation`
(recommendation.v1.avsc). The TypedDicts cost nothing at run time (they are the dicts
the tables' JSON changelogs hold); mypy checks every use.

ScoringRequest is read back by the scorer's code rather than Faust's deserialiser, so
that a value that is not one goes to the dead letters instead of stopping the agent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypedDict, get_args

from schemas.codec import InvalidDatum, SchemaSet

#: FaceAttributes of face_detected.v1.avsc, as decoded (beauty, expression, emotion, ...).
Face = dict[str, Any]
JoinOutcome = Literal["embedded", "joined", "timed_out"]


class Session(TypedDict):
    """A SessionStarted as the join keeps it."""

    session_id: str
    station_id: str
    started_at_ms: int
    user_id: str | None
    face: Face | None


class Match(TypedDict):
    """The face-library search outcome of a FaceDetected."""

    matched_user_id: str | None
    match_score: float | None


class PendingEntry(TypedDict):
    """One session, or one face, waiting for its other half (table pending-sessions)."""

    session: Session | None
    face: Face | None
    match: Match | None
    partition: int
    deadline_ms: int
    event_ms: int  # event time of the completed session, if the wait expires


class Joined(TypedDict):
    """A session ready to score, with its face (or none) and why it is ready."""

    session: Session
    face: Face | None
    match: Match | None
    join: JoinOutcome
    event_ms: int


class Ranked(TypedDict):
    lottery_type: str
    probability: float


class Recommendation(TypedDict):
    """recommendation.v2.avsc, as the scorer encodes it."""

    session_id: str
    station_id: str
    user_id: str | None
    is_new_user: bool
    ranking: list[Ranked]
    p_no_buy: float
    top_pick: str
    model_version: str
    imputed_face: bool
    imputed_history: bool
    event_time: int
    scored_at: int
    segment: str | None
    clv_fen: float | None


@dataclass(frozen=True, slots=True)
class ScoringRequest:
    """A session ready to score, re-keyed by user (internal topic scoring.requests, JSON;
    a message holds one, or a bundle of those for one partition: streams/kafka/bundles.py)."""

    session_id: str
    station_id: str
    started_at_ms: int
    user_id: str | None
    face: dict[str, Any] | None
    join: str  # embedded | joined | timed_out
    event_time_ms: int

    def key(self) -> bytes:
        """Its key on scoring.requests: the resolved user, else (a new customer) the session."""
        return (self.user_id or self.session_id).encode()

    def to_bytes(self) -> bytes:
        fields = {
            "session_id": self.session_id,
            "station_id": self.station_id,
            "started_at_ms": self.started_at_ms,
            "user_id": self.user_id,
            "face": self.face,
            "join": self.join,
            "event_time_ms": self.event_time_ms,
        }
        return json.dumps(fields, separators=(",", ":")).encode()

    @classmethod
    def all_from_bytes(cls, value: bytes | None) -> list[ScoringRequest]:
        """The requests of one message of scoring.requests: one (a JSON object) or a bundle
        of them (a JSON array, `bundle`); InvalidDatum (a dead letter's reason) when any of
        them is not one."""
        data = _loaded(value)
        if isinstance(data, list) and data:
            return [cls._of(item) for item in data]
        return [cls._of(data)]

    @staticmethod
    def bundle(values: list[bytes]) -> bytes:
        """Requests (`to_bytes`) as one message: a JSON array, or the request alone."""
        return values[0] if len(values) == 1 else b"[" + b",".join(values) + b"]"

    @classmethod
    def _of(cls, data: Any) -> ScoringRequest:
        try:
            request = cls(**data)
        except TypeError as exc:
            raise InvalidDatum(f"not a ScoringRequest: {exc}") from exc
        if not (
            isinstance(request.session_id, str)
            and isinstance(request.station_id, str)
            and _is_long(request.started_at_ms)
            and _is_long(request.event_time_ms)
            and isinstance(request.user_id, str | None)
            and isinstance(request.face, dict | None)
            and request.join in get_args(JoinOutcome)
        ):
            raise InvalidDatum(f"not a ScoringRequest: a field has the wrong type in {data!r:.200}")
        if request.face is not None:
            _check_face(request.face)
        return request


def _is_long(value: Any) -> bool:
    """An int an Avro long holds (event times go on into a Recommendation)."""
    return isinstance(value, int) and -(2**63) <= value < 2**63


@lru_cache(maxsize=1)
def _face_rules() -> tuple[tuple[float, float], frozenset[str], frozenset[str]]:
    """What FaceAttributes (as the current SessionStarted declares it) allows of the three
    parts of a face that scoring reads: beauty's range, the expression and emotion types."""
    schemas = SchemaSet()
    raw = schemas.current(schemas.full_name("SessionStarted")).raw
    face = next(f for f in raw["fields"] if f["name"] == "face")
    fields = {f["name"]: f for f in next(t for t in face["type"] if isinstance(t, dict))["fields"]}

    def symbols(name: str) -> frozenset[str]:
        kind = next(f for f in fields[name]["type"]["fields"] if f["name"] == "type")
        return frozenset(kind["type"]["symbols"])

    low, high = fields["beauty"]["x-range"]
    return (float(low), float(high)), symbols("expression"), symbols("emotion")


def _check_face(face: dict[str, Any]) -> None:
    """What scoring reads of a request's face (streams/rules/score_sessions.py,
    session_row: the beauty and the expression and emotion types) is what the join
    decoded; any other is refused here, where the request is read, so that the scorer's
    code never meets one. A hand check of those three: fastavro's validation of the whole
    record cost 9 µs a request on the hop between workers."""
    (low, high), expressions, emotions = _face_rules()
    beauty, expression, emotion = face.get("beauty"), face.get("expression"), face.get("emotion")
    if not (
        isinstance(beauty, int | float)
        and not isinstance(beauty, bool)
        and low <= beauty <= high  # NaN too is refused here
        and isinstance(expression, dict)
        and expression.get("type") in expressions
        and isinstance(emotion, dict)
        and emotion.get("type") in emotions
    ):
        raise InvalidDatum(
            "not a ScoringRequest: its face has no beauty within "
            f"{low:g}..{high:g}, or no expression or emotion type FaceAttributes knows"
        )


def _loaded(value: bytes | None) -> Any:
    try:
        return json.loads(value or b"")
    except ValueError as exc:  # JSONDecodeError and UnicodeError are both
        raise InvalidDatum(f"not a ScoringRequest: {exc}") from exc
