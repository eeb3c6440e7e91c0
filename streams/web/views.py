"""The worker's web views: scoring over HTTP (the seed's door), user history, health.

- POST /score: a session as JSON (station_id, started_at in epoch ms or omitted for now,
  user_id or null, face as FaceAttributes or null) -> the ranked lottery types; at most
  SCORER_HTTP_SCORE_RATE a second (429 past it), held to the Kafka path's checks (400).
- GET /users/{user_id}: history and RFM of a user; routed to the worker that owns it.
- GET /metrics: Prometheus metrics (streams/metrics.py).
- GET /healthz: the process answers. GET /readyz: the broker answers, partitions
  assigned, tables recovered, the station registry loaded.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from aiohttp.web import HTTPRequestEntityTooLarge
from faust.web import Request, Response, View
from prometheus_client import generate_latest
from pydantic import ValidationError

from model.customers import history
from schemas.codec import CodecError
from schemas.errors import ScorerError
from schemas.http import ScoreRequest
from streams import metrics
from streams.app import app
from streams.kafka.registry import RegistryUnavailable
from streams.rules.inputs import implausible_time
from streams.rules.score_sessions import score_rows, session_row
from streams.clock import now_ms, to_ms
from streams.runtime import current
from streams.settings import settings
from streams.tables import user_history
from streams.web import access
from streams.web.limits import Admission


class BadRequest(ScorerError):
    """The request body is not a session the scorer can score; says what is wrong."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


MAX_BODY_BYTES = 8 * 1024  # a session with a face is under 1 KB
access.install(app.web.web_app)  # type: ignore[attr-defined]  # the aiohttp driver's
_admission = Admission(settings().scorer_http_score_rate, settings().scorer_http_score_burst)


@app.page("/score")
class ScoreView(View):
    async def post(self, request: Request) -> Response:
        wait = _admission.enter()
        if wait is not None:
            metrics.HTTP_SCORE.labels("429").inc()
            return self.json({"error": "too many scoring requests: this worker takes "
                              f"{_admission.rate:g} a second (SCORER_HTTP_SCORE_RATE), "
                              f"{_admission.burst} at once"}, status=429,
                             headers={"Retry-After": str(max(1, math.ceil(wait)))})  # fmt: skip
        try:
            response = await self._score(request)
        finally:
            _admission.leave()
        metrics.HTTP_SCORE.labels(str(response.status)).inc()
        return response

    async def _score(self, request: Request) -> Response:
        try:
            session = parse_session(await _body(request), now_ms())
            station = await current().registry.lookup(session["station_id"])
            if station is None:
                raise BadRequest(f"station_id {session['station_id']!r} is not in the registry")
        except BadRequest as exc:
            return self.json({"error": str(exc)}, status=exc.status)
        except RegistryUnavailable as exc:
            return self.json({"error": str(exc)}, status=503)
        user = session["user_id"]
        summary = await _user_summary(self, user) if user else None
        row = session_row(session["started_at"], session["face"], station, summary)
        live = current().models.serving().live  # HTTP scoring is the live model's
        result = score_rows(live, [row])[0]
        return self.json({**result, "user_id": user, "is_new_user": summary is None,
                          "model_version": live.version})  # fmt: skip


async def _body(request: Request) -> bytes:
    try:
        return await request.read()
    except HTTPRequestEntityTooLarge as exc:  # past the app's client_max_size
        raise BadRequest(f"the body is over 64 KB, at most {MAX_BODY_BYTES} bytes",
                         status=413) from exc  # fmt: skip


def parse_session(body: bytes, now: int) -> dict[str, Any]:
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
    session: dict[str, Any] = {"session_id": request.session_id or "http",
                               "station_id": request.station_id, "started_at": started,
                               "user_id": request.user_id, "face": request.face}  # fmt: skip
    problem = implausible_time(session, "SessionStarted", current().settings, now)
    if problem is not None:
        raise BadRequest(problem)
    codec = current().codec
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


async def _user_summary(view: View, user_id: str) -> dict[str, Any] | None:
    """The user's history summary, from this worker or the one that owns the user."""
    try:
        owner = str(app.router.key_store(user_history.name, user_id))
        mine = str(app.conf.canonical_url)
    except KeyError:
        owner = mine = ""
    if owner.rstrip("/") == mine.rstrip("/"):
        return history.summary(user_history.get(user_id))
    url = f"{owner.rstrip('/')}/users/{quote(user_id, safe='')}"
    async with app.http_client.get(url, headers=access.headers()) as response:
        if response.status == 404:
            return None
        response.raise_for_status()
        body = await response.json()
        return body["history"]


@app.page("/users/{user_id}")
@app.table_route(table=user_history, match_info="user_id")
async def user_view(web: Any, request: Request, user_id: str) -> Response:
    summary = history.summary(user_history.get(user_id))
    if summary is None:
        return web.json({"error": f"no orders known for user {user_id!r}"}, status=404)
    return web.json({"user_id": user_id, "history": summary})


@app.page("/metrics")
async def prometheus_metrics(web: Any, request: Request) -> Response:
    # aiohttp refuses a charset in content_type; the exposition format is UTF-8 anyway.
    return web.bytes(generate_latest(metrics.REGISTRY), content_type="text/plain; version=0.0.4")


@app.page("/healthz")
async def healthz(web: Any, request: Request) -> Response:
    return web.json({"status": "ok"})


@app.page("/readyz")
async def readyz(web: Any, request: Request) -> Response:
    checks = readiness()
    return web.json({"ready": all(checks.values()), **checks},
                    status=200 if all(checks.values()) else 503)  # fmt: skip


def _tables(app: Any) -> Any:
    """The app's table manager (its recovery service is not in Faust's type stubs)."""
    return app.tables


def readiness() -> dict[str, bool]:
    return {
        "broker_reachable": current().probe.reachable,
        "registry_loaded": current().registry.loaded,
        "partitions_assigned": bool(app.assignor.assigned_actives()),
        "tables_recovered": _tables(app).recovery.completed.is_set(),
        "not_rebalancing": not app.rebalancing,
    }
