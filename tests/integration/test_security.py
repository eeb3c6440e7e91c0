"""Access control of the worker's web views against a real worker and broker: with
SCORER_WEB_TOKEN set, nothing that scores or shows a customer answers without it, the
probes and metrics stay open, the browser's sign-in sets a cookie that is not the token,
and the token is never written to a log or an error."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.kafka.admin import ensure_topics
from infra.worker_env import WORKER_COMMAND
from schemas import topics
from tests.integration.scorer import PARTITIONS, ROOT, ScorerSetup, Worker

pytestmark = pytest.mark.kafka

TOKEN = "sec-" + "k3y" * 10
STATION = {"station_id": "st-sec-1", "city": "Wuhan", "station_type": "supermarket"}
ORDER = {"order_id": "sec-1", "session_id": None, "user_id": "u-sec", "station_id": "st-sec-1",
         "lottery_type": "TWO_COLOR_BALL", "amount": 1000}  # fmt: skip
GUARDED = ["/users/u-sec", "/profiles", "/profiles/u-sec", "/api/profiles/u-sec",
           "/api/segments", "/api/segments/Loyal", "/api/segments-local"]  # fmt: skip


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _call(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
          method: str | None = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with _opener.open(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def secured(
    kafka_bootstrap: str,
    trained_model: Path,
    customer_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ScorerSetup, Worker]]:
    base = tmp_path_factory.mktemp("security")
    token_file = base / "web-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    setup = ScorerSetup(kafka_bootstrap, trained_model, base, customer_model,
                        settings={"scorer_web_token_file": token_file})  # fmt: skip
    ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    p = setup.producer()
    setup.send_record(p, topics.REGISTRY, STATION["station_id"], STATION)
    setup.send_record(p, topics.ORDERS, "u-sec",
                      {**ORDER, "placed_at": int(time.time() * 1000) - 86_400_000})  # fmt: skip
    p.flush(10)
    worker = Worker(setup, "w1").start()
    worker.wait_ready()  # /readyz needs no token
    yield setup, worker
    worker.stop()


def test_views_that_show_customers_or_score_need_the_token(
    secured: tuple[ScorerSetup, Worker],
) -> None:
    _, worker = secured
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + 60
    while _call(worker.url + "/users/u-sec", headers=bearer)[0] != 200:  # the order recorded
        assert time.monotonic() < deadline, "u-sec's order was not recorded"
        time.sleep(0.5)
    score = json.dumps({"station_id": "st-sec-1", "user_id": "u-sec"}).encode()
    for path in [*GUARDED, "/score"]:
        body = score if path == "/score" else None
        wrong = [{}, {"Authorization": "Bearer " + TOKEN[:-1] + "x"}, {"Authorization": TOKEN},
                 {"Cookie": f"scorer_session={TOKEN}"}]  # fmt: skip
        for headers in wrong:
            status, got, answer = _call(worker.url + path, data=body, headers=headers)
            assert status == 401, (path, headers, status)
            assert got["WWW-Authenticate"].startswith("Bearer")
            assert "SCORER_WEB_TOKEN" in json.loads(answer)["error"]
            assert b"u-sec" not in answer and TOKEN.encode() not in answer
        status, _, answer = _call(worker.url + path, data=body, headers=bearer)
        assert status in (200, 404), (path, status, answer)  # a segment may have no one
    assert _call(worker.url + "/users/u-sec", headers=bearer)[0] == 200
    status, _, answer = _call(worker.url + "/score", data=score, headers=bearer)
    assert status == 200 and not json.loads(answer)["is_new_user"]  # history read with it
    for path in ("/healthz", "/readyz", "/metrics"):  # probes and Prometheus: open
        assert _call(worker.url + path)[0] == 200, path


def test_a_browser_signs_in_once_with_a_cookie_that_is_not_the_token(
    secured: tuple[ScorerSetup, Worker],
) -> None:
    _, worker = secured
    status, got, _ = _call(worker.url + "/profiles/u-sec", headers={"Accept": "text/html"})
    where = urllib.parse.urlsplit(got["Location"])
    assert status == 303 and where.path == "/login"
    assert urllib.parse.parse_qs(where.query) == {"next": ["/profiles/u-sec"]}
    status, _, page = _call(worker.url + got["Location"])
    assert status == 200 and b'name="next" value="/profiles/u-sec"' in page

    def sign_in(token: str, next_path: str) -> tuple[int, dict[str, str], bytes]:
        form = urllib.parse.urlencode({"token": token, "next": next_path}).encode()
        return _call(worker.url + "/login", data=form, method="POST")

    status, got, page = sign_in("wrong-wrong-wrong-wrong", "/profiles/u-sec")
    assert status == 401 and b"not this worker" in page and "Set-Cookie" not in got
    status, got, _ = sign_in(TOKEN, "/profiles/u-sec")
    assert status == 303 and got["Location"] == "/profiles/u-sec"
    cookie = got["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    session = cookie.split(";")[0]
    status, _, page = _call(worker.url + "/profiles/u-sec", headers={"Cookie": session})
    assert status == 200 and b"u-sec" in page
    # Only a path of this worker is followed after signing in.
    assert sign_in(TOKEN, "//elsewhere.example/x")[1]["Location"] == "/profiles"


def test_the_token_is_in_no_log_and_a_bad_one_stops_the_start_without_showing_it(
    secured: tuple[ScorerSetup, Worker], tmp_path: Path
) -> None:
    setup, worker = secured
    log = worker.log.read_text(errors="replace")
    assert "Serving model" in log and TOKEN not in log
    assert "SCORER_WEB_TOKEN is not set" not in log  # the file's token was taken

    def start(**settings: object) -> tuple[int, str]:
        env = ScorerSetup(setup.bootstrap, setup.model_dir, tmp_path, setup.customer_model_dir,
                          prefix=setup.prefix, settings=settings).env("bad", 0)  # fmt: skip
        done = subprocess.run(WORKER_COMMAND, cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    code, out = start(scorer_web_token="short-secret")
    assert code == 1 and "SCORER_WEB_TOKEN=(hidden)" in out and "short-secret" not in out
    code, out = start(scorer_web_token_file=tmp_path / "missing")
    assert code == 1 and "SCORER_WEB_TOKEN_FILE=" in out and "cannot be read" in out
