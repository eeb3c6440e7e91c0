"""The web front: the worker's public port, served from a process of its own.

The worker's views run on the event loop its stream runs on, so whatever it costs to take
a request at all (accept it, parse it, answer it, even with 429) is paid between the
stream's sessions, and a burst of requests, even turned away, raised the stream's p99
many times over (docs/development/decisions.md, 6); a thread shares the interpreter's lock.

The front listens on SCORER_WEB_HOST:SCORER_WEB_PORT. It checks the token
(streams/web/access.py) on every request, turns away POST /score past
SCORER_HTTP_SCORE_RATE (429, with when to come back) and bodies the worker would refuse
(4xx, streams/web/requests.py), and hands the rest to the worker's views on its Unix
socket. GET /metrics is the worker's metrics, then the front's. The worker starts and
stops it (streams/worker.py); it leaves by itself when the worker is gone.
`python -m streams.web.front --socket PATH --parent PID`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import errno
import logging
import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry, Counter, generate_latest
from yarl import URL

from schemas.codec import Codec
from streams import logs
from streams.clock import now_ms
from streams.settings import Settings, settings
from streams.web import access
from streams.web.limits import WORKER_SCORES_AT_ONCE, Admission
from streams.web.requests import CLIENT_MAX_SIZE, BadRequest, body_of, explain_of, parse_session

log = logging.getLogger(__name__)
REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_SCORE = Counter(
    "scorer_http_score_requests_total",
    "POST /score answers by status (429: "
    "past SCORER_HTTP_SCORE_RATE, turned away by the web front)",
    ["status"],
    registry=REGISTRY,
)
#: Headers of one hop only (RFC 9110 section 7.6.1), not handed on either way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
#: Longer than any view takes (a user's history from another worker): past it, 504.
WORKER_TIMEOUT_S = 60.0
#: The front's CPU priority below the worker's (nice(2)): on a busy machine the stream's
#: latency comes first and turning requests away waits (make bench: the HTTP burst).
NICENESS = 10
#: How long a front retries its port (a front of a worker killed a moment ago holds it).
BIND_WAIT_S = 30.0


class Front:
    """The front's views: POST /score and GET /metrics of its own, the rest handed on."""

    def __init__(self, conf: Settings, worker_socket: Path) -> None:
        self.conf = conf
        self.codec = Codec(
            max_message_bytes=conf.scorer_max_message_bytes, max_string=conf.scorer_max_string
        )
        self.admission = Admission(conf.scorer_http_score_rate, conf.scorer_http_score_burst)
        self.worker_socket = worker_socket
        self._at_worker = asyncio.Semaphore(WORKER_SCORES_AT_ONCE)
        self._client: aiohttp.ClientSession | None = None

    def application(self) -> web.Application:
        application = web.Application(client_max_size=CLIENT_MAX_SIZE)
        access.install(application)
        application.router.add_post("/score", self.score)
        application.router.add_get("/metrics", self.metrics)
        application.router.add_route("*", "/{path:.*}", self.forward)
        application.on_startup.append(self._open)
        application.on_cleanup.append(self._close)
        return application

    async def _open(self, _: web.Application) -> None:
        self._client = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=str(self.worker_socket)),
            timeout=aiohttp.ClientTimeout(total=WORKER_TIMEOUT_S),
            auto_decompress=False,
        )

    async def _close(self, _: web.Application) -> None:
        if self._client is not None:
            await self._client.close()

    async def score(self, request: web.Request) -> web.Response:
        wait = self.admission.enter()
        if wait is not None:
            response = web.json_response(
                {
                    "error": "too many scoring requests: this worker takes "
                    f"{self.admission.rate:g} a second (SCORER_HTTP_SCORE_RATE), "
                    f"{self.admission.burst} at once"
                },
                status=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        else:
            try:
                body = await body_of(request)
                explain_of(request.query)
                parse_session(body, now_ms(), self.conf, self.codec)
                async with self._at_worker:
                    response = await self._to_worker(request, body)
            except BadRequest as exc:
                response = web.json_response({"error": str(exc)}, status=exc.status)
            finally:
                self.admission.leave()
        HTTP_SCORE.labels(str(response.status)).inc()
        return response

    async def metrics(self, request: web.Request) -> web.Response:
        response = await self._to_worker(request, b"")
        if response.status != 200:
            return response
        assert isinstance(response.body, bytes)
        return web.Response(
            body=response.body + generate_latest(REGISTRY), headers=response.headers
        )

    async def forward(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(
                {"error": f"the body is over {CLIENT_MAX_SIZE} bytes"}, status=413
            )
        return await self._to_worker(request, body)

    async def _to_worker(self, request: web.Request, body: bytes) -> web.Response:
        assert self._client is not None  # opened on the application's start
        url = URL("http://worker" + request.raw_path, encoded=True)
        headers = _end_to_end(request.headers)
        try:
            async with self._client.request(
                request.method, url, headers=headers, data=body or None, allow_redirects=False
            ) as answer:
                payload = await answer.read()
                return web.Response(
                    status=answer.status, body=payload, headers=_end_to_end(answer.headers)
                )
        except TimeoutError:
            reason, status = f"the worker did not answer in {WORKER_TIMEOUT_S:g} s", 504
        except (aiohttp.ClientConnectionError, OSError) as exc:
            reason, status = f"the worker is not answering ({exc.__class__.__name__})", 503
        return web.json_response({"error": reason}, status=status)


class FrontProcess:
    """The worker's side of the front: starts it, starts it again should it leave, stops
    it with the worker."""

    def __init__(self, worker_socket: Path) -> None:
        self.worker_socket = worker_socket
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._watch = threading.Thread(target=self._keep, name="web-front", daemon=True)

    def start(self) -> None:
        self.worker_socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._process = self._spawn()
        self._watch.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "streams.web.front",
            "--socket",
            str(self.worker_socket),
            "--parent",
            str(os.getpid()),
        ]
        return subprocess.Popen(command)

    def _keep(self) -> None:
        while not self._stop.wait(1.0):
            assert self._process is not None
            code = self._process.poll()
            if code is not None and not self._stop.is_set():
                log.error("the web front left with %s: starting it again", code)
                self._process = self._spawn()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()


def _end_to_end(headers: object) -> CIMultiDict[str]:
    """The headers of a request or an answer that are handed on (every Set-Cookie kept)."""
    assert hasattr(headers, "items")
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


class MalformedRequests(logging.Filter):
    """aiohttp answers a request it cannot parse (a request line or header over its 8,190
    bytes, bytes that are not HTTP) with 400 itself, and logs the parser's traceback at
    ERROR. That is the client's mistake, not the front's: one WARNING line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BadHttpMessage):
            # One template, so that a flood of them is held back like any repeated line.
            record.msg = "a request that is not HTTP the front can read, answered 400: %s"
            record.args = (type(exc).__name__,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_errors() -> None:
    """A malformed request is one WARNING line, and a flood of them a few (streams/logs.py)."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())
    logs.limit_repeats(logging.getLogger())


def _leave_with_parent() -> None:
    """Have the kernel stop this process when the worker that started it dies, however it
    dies (Linux; elsewhere the watch in `serve` notices within a second)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def serve(front: Front, host: str, port: int, parent: int) -> None:
    runner = web.AppRunner(front.application(), access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    for tries in range(int(BIND_WAIT_S * 10)):
        try:
            await web.TCPSite(runner, host, port).start()
            break
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or tries == int(BIND_WAIT_S * 10) - 1:
                raise
            await asyncio.sleep(0.1)
    log.info("web front on http://%s:%d, the worker's views on %s", host, port, front.worker_socket)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set() and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
    await runner.cleanup()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.web.front")
    parser.add_argument("--socket", type=Path, required=True, help="the worker's Unix socket")
    parser.add_argument("--parent", type=int, required=True, help="the worker's process id")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s web front: %(message)s")
    quiet_client_errors()
    _leave_with_parent()
    os.nice(NICENESS)
    if os.getppid() != args.parent:
        return 0  # the worker is gone already
    conf = settings()
    try:
        asyncio.run(
            serve(Front(conf, args.socket), conf.scorer_web_host, conf.scorer_web_port, args.parent)
        )
    except OSError as exc:
        print(
            f"error: the web front cannot listen on {conf.scorer_web_host}:"
            f"{conf.scorer_web_port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
