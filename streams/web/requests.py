"""What a POST /score body and its `explain` query must be, checked where they are first
read: in the web front (streams/web/front.py), so that a hostile body never reaches the
worker, and again in the worker's view (streams/web/views.py). Imports no model and no
Faust."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp.web import HTTPRequestEntityTooLarge
from pydantic import ValidationError

from schemas.codec import Codec, CodecError
from schemas.errors import ScorerError
from schemas.http import ScoreRequest
from streams.clock import to_ms
from streams.rules.inputs import implausible_time
from streams.settings import Settings

MAX_BODY_BYTES = 8 * 1024  # a session with a face is under 1 KB
#: What aiohttp reads of any body before it answers 413 (the front's and the worker's).
CLIENT_MAX_SIZE = 64 * 1024


class BadRequest(ScorerError):
    """The request body is not a session the scorer can score; says what is wrong."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _Readable(Protocol):
    async def read(self) -> bytes: ...


async def body_of(request: _Readable) -> bytes:
    """The body, or BadRequest (413) past the application's client_max_size: an aiohttp
    request, or Faust's view of one."""
    try:
        return await request.read()
    except HTTPRequestEntityTooLarge as exc:  # past client_max_size
        raise BadRequest(
            f"the body is over 64 KB, at most {MAX_BODY_BYTES} bytes", status=413
        ) from exc


EXPLAIN = {"true": True, "1": True, "false": False, "0": False}


def explain_of(query: Any) -> bool:
    """POST /score?explain=true: whether to explain the top pick (BadRequest otherwise)."""
    text = query.get("explain", "false")
    if text.lower() not in EXPLAIN:
        raise BadRequest(f"explain={text!r}: it must be true or false")
    return EXPLAIN[text.lower()]


def parse_session(body: bytes, now: int, conf: Settings, codec: Codec) -> dict[str, Any]:
    """A scoring request's session, held to what the stream holds a SessionStarted to:
    the ScoreRequest body (schemas/http.py), then the Avro schema's types and ranges, the
    codec's size limits and the plausible time window of the Kafka path."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"the body is {len(body)} bytes, at most {MAX_BODY_BYTES}", status=413)
    try:
        request = ScoreRequest.model_validate_json(body or b"null", strict=True)
    except ValidationError as exc:
        raise BadRequest(_described(exc)) from exc
    started = now if request.started_at is None else request.started_at
    session: dict[str, Any] = {
        "session_id": request.session_id or "http",
        "station_id": request.station_id,
        "started_at": started,
        "user_id": request.user_id,
        "face": request.face,
    }
    problem = implausible_time(session, "SessionStarted", conf, now)
    if problem is not None:
        raise BadRequest(problem)
    try:  # what a station's event goes through: its limits apply on decode
        session = codec.decode(codec.encode("SessionStarted", session), expect="SessionStarted")
    except CodecError as exc:
        raise BadRequest(str(exc)) from exc
    return {**session, "started_at": to_ms(session["started_at"])}  # decoded as a datetime


def _described(exc: ValidationError) -> str:
    """ScoreRequest's complaints in a sentence each, naming the field."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "json_invalid":
            problems.append(f"the body is not JSON: {error['ctx'].get('error', error['msg'])}")
        elif error["type"] == "model_type":
            problems.append("the body must be a JSON object with station_id, started_at, face")
        elif error["type"] == "extra_forbidden":
            problems.append(f"unknown field {where}")
        elif error["type"] == "missing":
            problems.append(f"{where} is missing")
        else:
            problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)
