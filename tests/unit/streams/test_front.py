"""What the web front hands on between a client and the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from streams.settings import Settings
from streams.web.front import Front, _end_to_end
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
