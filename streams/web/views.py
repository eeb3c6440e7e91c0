"""The worker's web views: scoring over HTTP (the seed's door), user history, health.

They are served on the worker's Unix socket and reached through the web front, a process
of its own on SCORER_WEB_PORT (streams/web/front.py), which checks the token, the body and
the rate before a request costs the stream's event loop anything.

- POST /score: a session as JSON (station_id, started_at in epoch ms or omitted for now,
  user_id or null, face as FaceAttributes or null) -> the ranked lottery types, held to
  the Kafka path's checks (400; streams/web/requests.py). With ?explain=true, also what
  pushed the top pick, input by input (model/mlp/explain.py).
- GET /users/{user_id}: history and RFM of a user; routed to the worker that owns it.
- GET /metrics: Prometheus metrics (streams/metrics.py).
- GET /healthz: the process answers. GET /readyz: the broker answers, partitions
  assigned, tables recovered, the station registry loaded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from faust.web import Request, Response, View
from prometheus_client import generate_latest

from model.customers import history
from streams import metrics
from streams.app import app
from streams.clock import now_ms
from streams.kafka.registry import RegistryUnavailable
from streams.rules.score_sessions import score_rows, session_row
from streams.runtime import current
from streams.tables import user_history
from streams.web import access
from streams.web.requests import BadRequest, body_of, explain_of, parse_session

access.install(app.web.web_app)  # type: ignore[attr-defined]  # the aiohttp driver's


@app.page("/score")
class ScoreView(View):
    async def post(self, request: Request) -> Response:
        rt = current()
        try:
            explain = explain_of(request.query)
            session = parse_session(await body_of(request), now_ms(), rt.settings, rt.codec)
            station = await rt.registry.lookup(session["station_id"])
            if station is None:
                raise BadRequest(f"station_id {session['station_id']!r} is not in the registry")
        except BadRequest as exc:
            return self.json({"error": str(exc)}, status=exc.status)
        except RegistryUnavailable as exc:
            return self.json({"error": str(exc)}, status=503)
        user = session["user_id"]
        summary = await _user_summary(self, user) if user else None
        row = session_row(session["started_at"], session["face"], station, summary)
        live = rt.models.serving().live  # HTTP scoring is the live model's
        result = score_rows(live, [row])[0]
        if explain:
            result["explanation"] = live.explain([row])[0]
        return self.json(
            {
                **result,
                "user_id": user,
                "is_new_user": summary is None,
                "model_version": live.version,
            }
        )


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
    return web.json(
        {"ready": all(checks.values()), **checks}, status=200 if all(checks.values()) else 503
    )


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
