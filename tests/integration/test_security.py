"""Security against real processes: Kafka over SASL_SSL and the web views' token.

Kafka: a second local broker of the project's own whose only client listener is SASL_SSL
with SCRAM-SHA-512 (certificates from infra/dev/tls.py, the user added when its storage
is formatted). A worker and the simulator round-trip through it; a wrong password, a
plaintext client and an untrusted authority are each refused with a message naming the
cause, by the admin command line and by the simulator alike; the password is in no log.

Web: with SCORER_WEB_TOKEN set, nothing that scores or shows a customer answers without
it, the probes and metrics stay open, the browser's sign-in sets a cookie that is not the
token, and the token is never written to a log or an error."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from infra.dev import tls
from infra.kafka.admin import ensure_topics
from infra.kafka.client import client_config
from infra.kafka.settings import KafkaSettings
from infra.worker_env import WORKER_COMMAND
from schemas import topics
from tests.integration.scorer import PARTITIONS, ROOT, ScorerSetup, Worker

pytestmark = pytest.mark.kafka

TOKEN = "sec-" + "k3y" * 10
STATION = {"station_id": "st-sec-1", "city": "Wuhan", "station_type": "supermarket"}
ORDER = {
    "order_id": "sec-1",
    "session_id": None,
    "user_id": "u-sec",
    "station_id": "st-sec-1",
    "lottery_type": "TWO_COLOR_BALL",
    "amount": 1000,
}
GUARDED = [
    "/users/u-sec",
    "/profiles",
    "/profiles/u-sec",
    "/api/profiles/u-sec",
    "/api/segments",
    "/api/segments/Loyal",
    "/api/segments-local",
]


SASL_USER = "scorer"


def _module(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The secure broker's clients' settings, by field name (as worker_env takes them)."""
    base = tmp_path_factory.mktemp("secure-broker")
    password = base / "scorer.password"
    password.write_text(secrets.token_urlsafe(18) + "\n")
    password.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(
        SCORER_BROKER_DIR=str(base / "broker"),
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_USERNAME=SASL_USER,
        KAFKA_SASL_PASSWORD_FILE=str(password),
    )
    started = _module(env, "infra.dev.broker", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    address = _module(env, "infra.dev.broker", "address").stdout.strip()
    yield {
        "kafka_bootstrap_servers": address,
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": SASL_USER,
        "kafka_sasl_password_file": str(password),
        "kafka_ssl_ca_file": str(base / "broker" / "tls" / "ca.pem"),
        "scorer_broker_dir": str(base / "broker"),
    }
    _module(env, "infra.dev.broker", "stop")


def _env(settings: dict[str, str], **changed: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k.upper(): v for k, v in {**settings, **changed}.items()})
    return env


def test_a_worker_and_the_simulator_round_trip_over_sasl_ssl(
    secure_broker: dict[str, str], trained_model: Path, customer_model: Path, tmp_path: Path
) -> None:
    kafka = {k: v for k, v in secure_broker.items() if k.startswith("kafka_")}
    bootstrap = kafka.pop("kafka_bootstrap_servers")
    setup = ScorerSetup(bootstrap, trained_model, tmp_path, customer_model, settings={**kafka})
    worker = Worker(setup, "w1").start()  # creates its topics through SASL_SSL too
    try:
        worker.wait_ready()
        summary = tmp_path / "sent.json"
        sim = _module(
            setup.env("simulator", 0),
            "stations.simulator",
            "--rate",
            "20",
            "--duration",
            "4",
            "--stations",
            "4",
            "--users",
            "40",
            "--seed",
            "3",
            "--embedded-faces",
            "1",
            "--late-faces",
            "0",
            "--missing-faces",
            "0",
            "--duplicate-faces",
            "0",
            "--duplicate-sessions",
            "0",
            "--malformed",
            "0",
            "--order-delay",
            "1",
            "2",
            "--wait-for-group",
            setup.app_id,
            "--summary",
            str(summary),
        )
        assert sim.returncode == 0, sim.stderr
        sent = set(json.loads(summary.read_text())["session_ids"])
        assert len(sent) >= 60
        security = KafkaSettings(**kafka).librdkafka_security()  # type: ignore[arg-type]
        group = {"group.id": f"check-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"}
        consumer = Consumer(client_config(bootstrap, **security, **group))
        consumer.subscribe([setup.topic(topics.RECOMMENDATIONS)])
        seen: set[str] = set()
        deadline = time.monotonic() + 90
        while not sent <= seen and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.add((msg.key() or b"").decode())
        consumer.close()
        assert sent <= seen, f"{len(sent - seen)} of {len(sent)} sessions not recommended"
    finally:
        worker.stop()
    password = Path(kafka["kafka_sasl_password_file"]).read_text().strip()
    broker_log = Path(secure_broker["scorer_broker_dir"]) / "broker.log"
    for text in (
        worker.log.read_text(errors="replace"),
        sim.stdout + sim.stderr,
        broker_log.read_text(errors="replace"),
    ):
        assert password not in text


def test_a_wrong_password_a_plaintext_client_and_an_untrusted_authority_are_refused(
    secure_broker: dict[str, str], tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    other = tls.make_authority(tmp_path / "other-ca", name="someone else's CA")
    password = Path(secure_broker["kafka_sasl_password_file"]).read_text().strip()
    cases = {
        "wrong password": ({"kafka_sasl_password_file": str(wrong)}, "Authentication failed"),
        "plaintext": (
            {"kafka_security_protocol": "PLAINTEXT"},
            "set KAFKA_SECURITY_PROTOCOL=SASL_SSL",
        ),
        "untrusted authority": (
            {"kafka_ssl_ca_file": str(other.certificate)},
            "certificate verify failed",
        ),
    }
    # The admin command line, and a station's producer (the simulator), which used to wait
    # on its flush for minutes and then report the events as sent.
    clients = {
        "admin": ("infra.kafka.admin", "list-topics"),
        "simulator": ("stations.simulator", "--duration", "1", "--users", "5"),
    }
    for case, (changed, cause) in cases.items():
        for client, command in clients.items():
            done = _module(_env(secure_broker, **changed), *command, timeout=120)
            said = done.stdout + done.stderr
            assert done.returncode == 1 and cause in said, (case, client, said)
            assert password not in said and "not-the-password" not in said, (case, client)
    ok = _module(_env(secure_broker), "infra.kafka.admin", "list-topics")
    assert ok.returncode == 0, ok.stderr  # and the right settings get in


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _call(
    url: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
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
    setup = ScorerSetup(
        kafka_bootstrap,
        trained_model,
        base,
        customer_model,
        settings={"scorer_web_token_file": token_file},
    )
    ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    p = setup.producer()
    setup.send_record(p, topics.REGISTRY, STATION["station_id"], STATION)
    setup.send_record(
        p, topics.ORDERS, "u-sec", {**ORDER, "placed_at": int(time.time() * 1000) - 86_400_000}
    )
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
        wrong = [
            {},
            {"Authorization": "Bearer " + TOKEN[:-1] + "x"},
            {"Authorization": TOKEN},
            {"Cookie": f"scorer_session={TOKEN}"},
        ]
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
        env = ScorerSetup(
            setup.bootstrap,
            setup.model_dir,
            tmp_path,
            setup.customer_model_dir,
            prefix=setup.prefix,
            settings=settings,
        ).env("bad", 0)
        done = subprocess.run(
            WORKER_COMMAND, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        return done.returncode, done.stdout + done.stderr

    code, out = start(scorer_web_token="short-secret")
    assert code == 1 and "SCORER_WEB_TOKEN=(hidden)" in out and "short-secret" not in out
    code, out = start(scorer_web_token_file=tmp_path / "missing")
    assert code == 1 and "SCORER_WEB_TOKEN_FILE=" in out and "cannot be read" in out
