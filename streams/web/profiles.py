"""The customer-profile search page (`/profiles`) and its JSON API.

- GET /profiles: search by user id (`?q=`), the segment mix, and a segment's customers
  (`?segment=Loyal&page=2`), highest CLV first; any worker answers, asking the others for
  their partitions' customers.
- GET /profiles/{user_id}: one customer's page: RFM and scores, segment and cluster,
  P(alive), expected purchases next month, CLV, the outlook (this month's class from the
  months before, the loyalty score), recent purchases, a purchase timeline and P(alive)
  over time. Routed to the worker that owns the customer, like /users.
- GET /api/profiles/{user_id}, /api/segments, /api/segments/{segment}: the same figures
  as JSON, which the page is rendered from (and its browser test reads back).

Figures are taken as of the request: a customer's recency and P(alive) move with time,
not only with their orders (customer.profiles holds them as of each customer's last order).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from faust.web import Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from model.customers import customer_model, history
from model.customers.segments import SEGMENTS
from schemas.errors import ScorerError
from streams.app import app
from streams.clock import now_ms
from streams.rules.customer_figures import profile_records
from streams.runtime import current
from streams.tables import user_history
from streams.web import access, charts

PAGE_SIZE, MOST_PAGE_SIZE, MOST_PAGES = 25, 100, 10_000
ASK_TIMEOUT = aiohttp.ClientTimeout(total=5)  # another worker's part of a segment page
LIST_TTL_S = 30.0  # how long a worker reuses the segment lists of its customers
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_templates.filters["ms_date"] = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).strftime(
    "%Y-%m-%d %H:%M"
)


class BadQuery(ScorerError):
    """A query parameter the page cannot use; says which."""


def customer(user_id: str, at_ms: int) -> dict[str, Any] | None:
    """Everything the customer's page shows, from this worker's history table."""
    summary = history.summary(user_history.get(user_id))
    if summary is None:
        return None
    model = current().customers
    profile = profile_records([user_id], [summary], model, [at_ms], current().outlook)[0]
    days: dict[int, int] = {}
    for order in summary["recent_orders"]:  # each purchase day once, at its first order
        days.setdefault(history.local_day(order["placed_at_ms"]), order["placed_at_ms"])
    times, alive = customer_model.alive_over_time(
        model,
        summary["first_purchase_ms"],
        summary["total_purchase_days"],
        sorted(days.values()),
        profile["updated_at"],
    )
    return {
        "user_id": user_id,
        "profile": profile,
        "recent_orders": summary["recent_orders"],
        "by_type": summary["by_type"],
        "home_city": summary["home_city"],
        "usual_station_type": summary["usual_station_type"],
        "alive_over_time": {"times_ms": times.tolist(), "p_alive": alive.round(6).tolist()},
    }


_lists: dict[str, Any] = {"at": -1e9, "rows": []}
_LISTED = (
    "user_id",
    "segment",
    "cluster",
    "clv_fen",
    "p_alive",
    "expected_purchases_30d",
    "orders",
)


def local_rows() -> list[dict[str, Any]]:
    """This worker's customers (active partitions) with segment, CLV and P(alive) as of
    now, highest CLV first; computed in one pass and kept LIST_TTL_S seconds."""
    if time.monotonic() - _lists["at"] < LIST_TTL_S:
        return list(_lists["rows"])
    users, summaries = [], []
    for key, value in user_history.items():
        summary = history.summary(value)
        if summary is not None:
            users.append(key.decode() if isinstance(key, bytes) else str(key))
            summaries.append(summary)
    rows = []
    if users:
        records = profile_records(users, summaries, current().customers, [now_ms()] * len(users))
        rows = [{k: r[k] for k in _LISTED} for r in records]
        rows.sort(key=lambda r: (-r["clv_fen"], r["user_id"]))
    _lists.update(at=time.monotonic(), rows=rows)
    return list(rows)


def _local_counts() -> dict[str, int]:
    counts = dict.fromkeys(SEGMENTS, 0)
    for row in local_rows():
        counts[row["segment"]] += 1
    return counts


def _page_args(query: Any) -> tuple[int, int]:
    try:
        page, size = int(query.get("page", 1)), int(query.get("size", PAGE_SIZE))
    except ValueError:
        raise BadQuery("page and size must be whole numbers") from None
    if not (1 <= page <= MOST_PAGES and 1 <= size <= MOST_PAGE_SIZE):
        raise BadQuery(f"page must be 1 to {MOST_PAGES}, size 1 to {MOST_PAGE_SIZE}")
    return page, size


def _segment_arg(name: str) -> str:
    if name not in SEGMENTS:
        raise BadQuery(f"segment {name[:64]!r} is not one of: {', '.join(SEGMENTS)}")
    return name


async def _everyone(path: str) -> tuple[list[Any], list[str]]:
    """The answers of every other worker that owns user-history partitions to `path`, and
    the workers that did not answer."""
    mine = str(app.conf.canonical_url).rstrip("/")
    try:
        others = [str(u).rstrip("/") for u in app.router.table_metadata(user_history.name)]
    except KeyError:
        others = []
    others = [u for u in others if u != mine]

    async def ask(url: str) -> Any:
        async with app.http_client.get(
            f"{url}{path}", timeout=ASK_TIMEOUT, headers=access.headers()
        ) as response:
            response.raise_for_status()
            return await response.json()

    answers = await asyncio.gather(*(ask(u) for u in others), return_exceptions=True)
    missing = [u for u, a in zip(others, answers, strict=True) if isinstance(a, BaseException)]
    return [a for a in answers if not isinstance(a, BaseException)], missing


async def segment_counts() -> dict[str, Any]:
    answers, missing = await _everyone("/api/segments-local")
    counts = _local_counts()
    for answer in answers:
        for name, count in answer["counts"].items():
            counts[name] = counts.get(name, 0) + int(count)
    return {"counts": counts, "customers": sum(counts.values()), "missing_workers": missing}


async def segment_page(segment: str, page: int, size: int) -> dict[str, Any]:
    limit = page * size
    mine = [r for r in local_rows() if r["segment"] == segment]
    answers, missing = await _everyone(
        f"/api/segments-local?segment={quote(segment)}&limit={limit}"
    )
    rows = mine[:limit] + [r for a in answers for r in a["customers"]]
    rows.sort(key=lambda r: (-r["clv_fen"], r["user_id"]))
    total = len(mine) + sum(a["total"] for a in answers)
    return {
        "segment": segment,
        "page": page,
        "size": size,
        "total": total,
        "pages": max(1, -(-total // size)),
        "customers": rows[limit - size : limit],
        "missing_workers": missing,
    }


def _html(web: Any, template: str, status: int = 200, **context: Any) -> Response:
    body = _templates.get_template(template).render(segments=SEGMENTS, **context)
    return web.html(body, status=status)


@app.page("/profiles")
async def profiles_page(web: Any, request: Request) -> Response:
    query = request.query
    q = (query.get("q") or "").strip()
    if q:
        if len(q) > current().settings.scorer_max_string:
            return _html(web, "search.html", 400, error="that user id is too long")
        return web.html("", status=302, headers={"Location": f"/profiles/{quote(q, safe='')}"})
    try:
        if query.get("segment"):
            listing = await segment_page(_segment_arg(query["segment"]), *_page_args(query))
            return _html(web, "segment.html", listing=listing)
    except BadQuery as exc:
        return _html(web, "search.html", 400, error=str(exc), mix=await segment_counts())
    return _html(web, "search.html", mix=await segment_counts())


@app.page("/profiles/{user_id}")
@app.table_route(table=user_history, match_info="user_id")
async def profile_page(web: Any, request: Request, user_id: str) -> Response:
    started = time.perf_counter()
    data = customer(user_id, now_ms())
    if data is None:
        return _html(web, "missing.html", 404, user_id=user_id)
    p = data["profile"]
    alive = data["alive_over_time"]
    return _html(
        web,
        "profile.html",
        c=data,
        p=p,
        alive_svg=charts.line(
            alive["times_ms"], alive["p_alive"], p["updated_at"], "P(alive) over time"
        ),
        timeline_svg=charts.timeline(data["recent_orders"], p["updated_at"], "recent purchases"),
        took_ms=(time.perf_counter() - started) * 1000,
    )


@app.page("/api/profiles/{user_id}")
@app.table_route(table=user_history, match_info="user_id")
async def profile_api(web: Any, request: Request, user_id: str) -> Response:
    data = customer(user_id, now_ms())
    if data is None:
        return web.json({"error": f"no orders known for user {user_id!r}"}, status=404)
    return web.json(data)


@app.page("/api/segments")
async def segments_api(web: Any, request: Request) -> Response:
    return web.json(await segment_counts())


@app.page("/api/segments/{segment}")
async def segment_api(web: Any, request: Request, segment: str) -> Response:
    try:
        return web.json(await segment_page(_segment_arg(segment), *_page_args(request.query)))
    except BadQuery as exc:
        return web.json({"error": str(exc)}, status=400)


@app.page("/api/segments-local")
async def segments_local(web: Any, request: Request) -> Response:
    """This worker's part of /api/segments and /api/segments/{segment} (for the others)."""
    segment = request.query.get("segment")
    if not segment:
        return web.json({"counts": _local_counts()})
    rows = local_rows()
    try:
        limit = int(request.query.get("limit", PAGE_SIZE))
        mine = [r for r in rows if r["segment"] == _segment_arg(segment)]
    except (ValueError, BadQuery) as exc:
        return web.json({"error": str(exc)}, status=400)
    return web.json(
        {"total": len(mine), "customers": mine[: max(0, min(limit, MOST_PAGES * MOST_PAGE_SIZE))]}
    )
