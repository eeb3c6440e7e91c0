"""Who may use the worker's web views: the bearer token of SCORER_WEB_TOKEN.

With a token set, every view that scores or shows a customer (/score, /users, /profiles,
/api/...) answers 401 unless the request carries `Authorization: Bearer <token>` or the
cookie /login sets after the token was typed in (a browser cannot send the header on a
link). /healthz, /readyz, /metrics and /login stay open: probes and Prometheus need no
secret, and they show no customer. Without a token everything is open, as before, and the
worker says so at start. Workers call each other with the token themselves (`headers`).

The cookie holds an HMAC of the token, not the token, and is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import quote

from aiohttp import web

from streams.settings import settings

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/login"})
COOKIE = "scorer_session"
log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def token() -> str | None:
    """The token the views require, or None when they are open (read once)."""
    return settings().web_token()


def _cookie_value(secret: str) -> str:
    return hmac.new(secret.encode(), b"station-scorer web session", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison that any client string survives: header bytes that are
    not UTF-8 reach us as lone surrogates, which a plain encode refuses (a 500)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def admitted(request: web.Request, secret: str | None) -> bool:
    """Whether the request carries the token (header) or the session cookie."""
    if secret is None or request.path in OPEN_PATHS:
        return True
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return _same(header[7:].strip(), secret)
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and _same(cookie, _cookie_value(secret))


def headers() -> dict[str, str]:
    """What a worker sends when it asks another worker for a view."""
    secret = token()
    return {"Authorization": f"Bearer {secret}"} if secret else {}


@web.middleware
async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
    secret = token()
    if admitted(request, secret):
        response: web.StreamResponse = await handler(request)
        return response
    if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
    return web.json_response(
        {"error": "this view needs the worker's token: Authorization: Bearer <SCORER_WEB_TOKEN>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="station-scorer"'},
    )


_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sign in · station-scorer</title></head><body style="font-family: system-ui, sans-serif;
margin: 3rem auto; max-width: 24rem"><h1>Customer profiles</h1>{error}
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<label>Token <input type="password" name="token" id="token" required autofocus></label>
<button type="submit" id="sign-in">Sign in</button></form></body></html>"""


def _safe_next(target: str) -> str:
    """Only a path of this worker: never send a signed-in browser elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/profiles"


def _form(next_path: str, error: str = "", status: int = 200) -> web.Response:
    shown = f'<p id="error" style="color:#a00">{escape(error)}</p>' if error else ""
    page = _FORM.format(next=escape(next_path, quote=True), error=shown)
    return web.Response(text=page, content_type="text/html", status=status)


async def login_form(request: web.Request) -> web.Response:
    return _form(_safe_next(request.query.get("next", "/profiles")))


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    secret = token()
    next_path = _safe_next(str(form.get("next", "/profiles")))
    given = str(form.get("token", ""))
    if secret is None:
        raise web.HTTPSeeOther(next_path)
    if not _same(given, secret):
        log.warning("web: a sign-in with a wrong token from %s", request.remote)
        return _form(next_path, "That token is not this worker's.", status=401)
    response = web.HTTPSeeOther(next_path)
    response.set_cookie(COOKIE, _cookie_value(secret), httponly=True, samesite="Strict", path="/")
    raise response


def install(application: web.Application) -> None:
    """Put the check before every view of the worker's web application."""
    application.middlewares.append(require_token)
    application.router.add_get("/login", login_form)
    application.router.add_post("/login", login)
