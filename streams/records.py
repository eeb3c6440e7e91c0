"""The scorer's own records between its agents, typed, with their wire form.

Read back by the scorer's code rather than Faust's deserialiser, so that a value that is
not one goes to the dead letters instead of stopping the agent that reads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from schemas.codec import InvalidDatum


@dataclass(frozen=True, slots=True)
class ScoringRequest:
    """A session ready to score, re-keyed by user (internal topic scoring.requests, JSON)."""

    session_id: str
    station_id: str
    started_at_ms: int
    user_id: str | None
    face: dict[str, Any] | None
    join: str  # embedded | joined | timed_out
    event_time_ms: int

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, value: bytes | None) -> ScoringRequest:
        """The request in `value`; InvalidDatum (a dead letter's reason) when it is not one."""
        try:
            data = json.loads(value or b"")
            request = cls(**data)
        except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeError are both
            raise InvalidDatum(f"not a ScoringRequest: {exc}") from exc
        if not (isinstance(request.session_id, str) and isinstance(request.station_id, str)
                and isinstance(request.started_at_ms, int)
                and isinstance(request.event_time_ms, int)
                and isinstance(request.user_id, str | None)
                and isinstance(request.face, dict | None)):  # fmt: skip
            raise InvalidDatum(f"not a ScoringRequest: a field has the wrong type in {data!r:.200}")
        return request
