"""What the web front hands on between a client and the worker."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from streams.settings import Settings, settings
from streams.web import access
from streams.web.front import Front, _end_to_end, quiet_client_errors
from streams.web.limits import WORKER_SCORES_AT_ONCE
from tests.bench.http_burst import bodies


def test_headers_of_one_hop_stay_and_every_cookie_is_handed_on() -> None:
    answer = CIMultiDict(
        [
            ("Content-Type", "application/json"),
            ("Connection", "close"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "9"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("Retry-After", "1"),
        ]
    )
    handed = _end_to_end(answer)
    assert handed.getall("Set-Cookie") == ["a=1", "b=2"]
    assert dict(handed) == {
        "Content-Type": "application/json",
        "Set-Cookie": "a=1",
        "Retry-After": "1",
    }


def test_admitted_scoring_requests_reach_the_worker_two_at_a_time(tmp_path: Path) -> None:
    """A burst the front admits is handed on WORKER_SCORES_AT_ONCE at a time, not all at
    once: the worker scores each on its stream's loop. A stand-in worker on a Unix socket
    counts what it holds at once."""
    conf = Settings(scorer_http_score_rate=1000.0, scorer_http_score_burst=20)
    sock = tmp_path / "worker.sock"
    held = {"now": 0, "most": 0, "answered": 0}

    async def worker_score(request: web.Request) -> web.Response:
        held["now"] += 1
        held["most"] = max(held["most"], held["now"])
        await asyncio.sleep(0.02)
        held["now"] -= 1
        held["answered"] += 1
        return web.json_response({"top_pick": "NO_BUY"})

    async def run() -> list[int]:
        worker = web.Application()
        worker.router.add_post("/score", worker_score)
        worker_runner = web.AppRunner(worker)
        await worker_runner.setup()
        await web.UnixSite(worker_runner, str(sock)).start()
        front_runner = web.AppRunner(Front(conf, sock).application())
        await front_runner.setup()
        site = web.TCPSite(front_runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as client:

                async def post(body: bytes) -> int:
                    async with client.post(
                        f"http://127.0.0.1:{port}/score",
                        data=body,
                        headers={"Content-Type": "application/json"},
                    ) as answer:
                        return answer.status

                return list(await asyncio.gather(*(post(b) for b in bodies(["st-1"], 12))))
        finally:
            await front_runner.cleanup()
            await worker_runner.cleanup()

    statuses = asyncio.run(run())
    assert statuses == [200] * 12 and held["answered"] == 12
    assert held["most"] == WORKER_SCORES_AT_ONCE


def _raw_request(port: int, head: bytes) -> bytes:
    """Send `head` as it is (no client library cleans it up) and return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_malformed_requests_get_4xx_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A credential that is not ASCII (or not UTF-8) is a wrong credential, 401; a request
    line or header past aiohttp's 8,190 bytes is 400, logged as one WARNING line."""
    monkeypatch.setenv("SCORER_WEB_TOKEN", "a-token-of-the-worker-0123456789")
    settings.cache_clear()
    access.token.cache_clear()
    quiet_client_errors()
    sock = tmp_path / "worker.sock"

    async def user(_: web.Request) -> web.Response:
        return web.json_response({"history": {}})

    async def run() -> dict[str, bytes]:
        worker = web.Application()
        worker.router.add_get("/users/{user}", user)
        worker_runner = web.AppRunner(worker)
        await worker_runner.setup()
        await web.UnixSite(worker_runner, str(sock)).start()
        front_runner = web.AppRunner(Front(Settings(), sock).application(), access_log=None)
        await front_runner.setup()
        site = web.TCPSite(front_runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        heads = {
            "not utf-8": b"GET /users/u-1 HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer \xff\xfe\xfd\r\nConnection: close\r\n\r\n",
            "not ascii": "GET /users/u-1 HTTP/1.1\r\nHost: x\r\n"
            "Authorization: Bearer Ωmega\r\nConnection: close\r\n\r\n".encode(),
            "long url": b"GET /users/" + b"u" * 9000 + b" HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n",
            "long header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n"
            b"Connection: close\r\n\r\n",
        }
        try:
            loop = asyncio.get_running_loop()
            return {
                name: await loop.run_in_executor(None, _raw_request, port, head)
                for name, head in heads.items()
            }
        finally:
            await front_runner.cleanup()
            await worker_runner.cleanup()

    try:
        with caplog.at_level(logging.INFO):
            answers = asyncio.run(run())
    finally:
        settings.cache_clear()
        access.token.cache_clear()
    statuses = {name: answer.split(b" ", 2)[1] for name, answer in answers.items()}
    assert statuses == {
        "not utf-8": b"401",
        "not ascii": b"401",
        "long url": b"400",
        "long header": b"400",
    }
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    warned = [r.getMessage() for r in caplog.records if r.name == "aiohttp.server"]
    assert len(warned) == 2 and all("answered 400: LineTooLong" in m for m in warned), warned
