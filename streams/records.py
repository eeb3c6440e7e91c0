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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypedDict, get_args

import fastavro
from fastavro.validation import ValidationError, validate

from schemas.codec import InvalidDatum, SchemaSet, check_ranges

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
def _face_schema() -> tuple[Any, Mapping[str, Any]]:
    """FaceAttributes as the current SessionStarted declares it: parsed, and as written."""
    schemas = SchemaSet()
    raw = schemas.current(schemas.full_name("SessionStarted")).raw
    face = next(f for f in raw["fields"] if f["name"] == "face")
    record = next(t for t in face["type"] if isinstance(t, dict))
    return fastavro.parse_schema({**record, "namespace": raw.get("namespace", "")}), record


def _check_face(face: dict[str, Any]) -> None:
    """A request's face is what the join decoded: any other shape is refused here, where
    the request is read, so that the scorer's code never meets one."""
    parsed, record = _face_schema()
    try:
        validate(face, parsed, raise_errors=True)
        check_ranges(record, face)
    except (ValidationError, InvalidDatum) as exc:
        raise InvalidDatum(
            f"not a ScoringRequest: its face is not a FaceAttributes: {exc}"
        ) from exc


def _loaded(value: bytes | None) -> Any:
    try:
        return json.loads(value or b"")
    except ValueError as exc:  # JSONDecodeError and UnicodeError are both
        raise InvalidDatum(f"not a ScoringRequest: {exc}") from exc
