"""The worker's web views: scoring over HTTP (the seed's door), user history, health.

- POST /score: a session as JSON (station_id, started_at in epoch ms or omitted for now,
  user_id or null, face as FaceAttributes or null) -> the ranked lottery types.
- GET /users/{user_id}: history and RFM of a user; routed to the worker that owns it.
- GET /metrics: Prometheus metrics (streams/metrics.py).
- GET /healthz: the process answers. GET /readyz: the broker answers, partitions
  assigned, tables recovered, the station registry loaded.
"""

from __future__ import annotations

import json
from typing import Any

from faust.web import Request, Response, View
from prometheus_client import generate_latest

from model.customers import history
from schemas.codec import CodecError
from schemas.errors import ScorerError
from streams import metrics
from streams.app import app
from streams.kafka.registry import RegistryUnavailable
from streams.rules.score_sessions import score_rows, session_row
from streams.runtime import current, now_ms
from streams.tables import user_history


class BadRequest(ScorerError):
    """The request body is not a session the scorer can score; says what is wrong."""


@app.page("/score")
class ScoreView(View):
    async def post(self, request: Request) -> Response:
        try:
            session = parse_session(await request.read())
            station = await current().registry.lookup(session["station_id"])
            if station is None:
                raise BadRequest(f"station_id {session['station_id']!r} is not in the registry")
        except BadRequest as exc:
            return self.json({"error": str(exc)}, status=400)
        except RegistryUnavailable as exc:
            return self.json({"error": str(exc)}, status=503)
        user = session["user_id"]
        summary = await _user_summary(self, user) if user else None
        row = session_row(session["started_at"], session["face"], station, summary)
        live = current().models.serving().live  # HTTP scoring is the live model's
        result = score_rows(live, [row])[0]
        return self.json({**result, "user_id": user, "is_new_user": summary is None,
                          "model_version": live.version})  # fmt: skip


def parse_session(body: bytes) -> dict[str, Any]:
    """A scoring request's session, checked against the SessionStarted schema."""
    try:
        data = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object with station_id, started_at, face")
    unknown = set(data) - {"station_id", "started_at", "user_id", "face", "session_id"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    session = {"session_id": str(data.get("session_id", "http")),
               "station_id": data.get("station_id"),
               "started_at": data.get("started_at", now_ms()),
               "user_id": data.get("user_id"), "face": data.get("face")}  # fmt: skip
    try:
        current().codec.encode("SessionStarted", session)
    except CodecError as exc:
        raise BadRequest(str(exc)) from exc
    return session


async def _user_summary(view: View, user_id: str) -> dict[str, Any] | None:
    """The user's history summary, from this worker or the one that owns the user."""
    try:
        owner = str(app.router.key_store(user_history.name, user_id))
        mine = str(app.conf.canonical_url)
    except KeyError:
        owner = mine = ""
    if owner.rstrip("/") == mine.rstrip("/"):
        return history.summary(user_history.get(user_id))
    async with app.http_client.get(f"{owner.rstrip('/')}/users/{user_id}") as response:
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
