"""Running real scorer workers against the test broker, each test on topics of its own."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from prometheus_client.parser import text_string_to_metric_families

from infra.dev.broker import kafka_version
from infra.kafka.client import producer_config
from infra.worker_env import WORKER_COMMAND, worker_env
from schemas import topics
from schemas.codec import Codec, CodecError
from schemas.topics import TopicSpec

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4


def report(name: str, seen: dict[str, Any]) -> None:
    """What a test saw: printed, and written to out/reports/<broker>/<name>.json, a folder
    per broker (`make test` runs its two Kafka versions side by side)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    folder = ROOT / "out" / "reports" / ("external" if external else f"kafka-{kafka_version()}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(seen, indent=2, default=str))
    print(json.dumps(seen, default=str))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ScorerSetup:
    """One isolated scorer deployment: its topic prefix, app id, model and folders."""

    bootstrap: str
    model_dir: Path
    base: Path
    customer_model_dir: Path
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    codec: Codec = field(default_factory=Codec)
    settings: dict[str, object] = field(default_factory=dict)  # more worker settings, by name

    @property
    def app_id(self) -> str:
        return f"scorer-{self.prefix.rstrip('.')}"

    def topic(self, spec: TopicSpec) -> str:
        return topics.named(spec, self.prefix)

    def env(self, name: str, port: int) -> dict[str, str]:
        # no outlook unless a test names one (not whatever out/outlook holds here)
        defaults: dict[str, object] = {
            "scorer_face_wait_ms": 1500,
            "scorer_outlook_dir": self.base / "no-outlook",
        }
        return worker_env(
            self.bootstrap,
            scorer_topic_prefix=self.prefix,
            scorer_app_id=self.app_id,
            scorer_model_dir=self.model_dir,
            scorer_customer_model_dir=self.customer_model_dir,
            scorer_web_port=port,
            scorer_data_dir=self.base / name,
            scorer_partitions=PARTITIONS,
            **{**defaults, **self.settings},
        )

    def producer(self) -> Producer:
        return Producer(producer_config(self.bootstrap))

    def send(self, producer: Producer, spec: TopicSpec, key: str, value: bytes) -> None:
        producer.produce(self.topic(spec), key=key.encode(), value=value)

    def send_record(self, producer: Producer, spec: TopicSpec, key: str, record: dict) -> None:
        self.send(producer, spec, key, self.codec.encode(spec.value_schema, record))

    def consumer(self, spec: TopicSpec) -> Consumer:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"check-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe([self.topic(spec)])
        return consumer


class Worker:
    """One `python -m streams.worker` process with its own web port and state folder."""

    def __init__(self, setup: ScorerSetup, name: str) -> None:
        self.setup = setup
        self.name = name
        self.port = free_port()
        self.log = setup.base / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Worker:
        self.setup.base.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                WORKER_COMMAND,
                cwd=ROOT,
                env=self.setup.env(self.name, self.port),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            status, _ = self.get("/readyz")
            if status == 200:
                return
            time.sleep(0.5)
        raise AssertionError(f"worker {self.name} not ready in {timeout}s\n{self.tail()}")

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        token = self.setup.settings.get("scorer_web_token")
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        req = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={"Content-Type": "application/json", **auth, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:  # record where it hangs, then kill it
            with self.log.open("ab") as out:
                spy = str(Path(sys.executable).parent / "py-spy")
                subprocess.run(
                    [spy, "dump", "--pid", str(self.proc.pid)], stdout=out, stderr=out, check=False
                )
            self.proc.kill()
            return self.proc.wait(10)

    def samples(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """The worker's /metrics samples called `name`, by their sorted labels."""
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
                text = response.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return {}
        return {
            tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name
        }

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def simulate(
    setup: ScorerSetup,
    summary: Path,
    duration: float,
    seed: int,
    rate: float = 40,
    users: int = 300,
    order_delay_s: tuple[float, float] = (1, 6),
) -> subprocess.Popen[bytes]:
    """The station simulator at `rate` sessions/s for `duration` s (`users` users, 10
    stations, 60 days of past orders), on the setup's topics; what it sent goes to
    `summary`."""
    args = [
        "--rate",
        str(rate),
        "--duration",
        str(duration),
        "--users",
        str(users),
        "--stations",
        "10",
        "--history-days",
        "60",
        "--order-delay",
        *(str(s) for s in order_delay_s),
        "--seed",
        str(seed),
        "--summary",
        str(summary),
    ]
    log = (setup.base / "simulator.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "stations.simulator", *args],
        cwd=ROOT,
        env=setup.env("simulator", 0),
        stdout=log,
        stderr=log,
    )


def orders_of(body: Any) -> Any:
    """The order count of a /users answer, None when it is not one."""
    return body.get("history", {}).get("orders") if isinstance(body, dict) else None


def collect(
    setup: ScorerSetup, spec: TopicSpec, until: Any, timeout: float = 60, settle: float = 0.0
) -> list[dict[str, Any]]:
    """Decoded records of a topic (read_committed) until `until(records)` holds or timeout,
    then `settle` seconds more to catch anything extra (a duplicate, say)."""
    consumer = setup.consumer(spec)
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(records):
            _poll_into(consumer, setup, records)
        end = time.monotonic() + settle
        while time.monotonic() < end:
            _poll_into(consumer, setup, records)
    finally:
        consumer.close()
    return records


#: Keys of the garbage tests put on purpose on topics the worker also writes (an output
#: topic read back for conversions): reading those topics skips that garbage, and no other
#: undecodable record (the dead letters about it keep its key, and decode).
JUNK_KEY = b"junk-"


def _poll_into(consumer: Consumer, setup: ScorerSetup, records: list[dict[str, Any]]) -> None:
    msg = consumer.poll(0.2)
    if msg is None or msg.error():
        return
    try:
        records.append(setup.codec.decode(msg.value()))
    except CodecError:
        if not (msg.key() or b"").startswith(JUNK_KEY):
            raise


def wait_stable(workers: list[Worker], quiet_s: float = 5, timeout: float = 120) -> None:
    """Every worker ready, without a break, for `quiet_s`: the group has settled, so the
    test measures the failure it makes, not the start-up rebalances."""
    for w in workers:
        w.wait_ready()
    deadline = time.monotonic() + timeout
    since = time.monotonic()
    while time.monotonic() < deadline:
        if not all(w.get("/readyz")[0] == 200 for w in workers):
            since = time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.5)
    raise AssertionError("the consumer group did not settle")


class OwnBroker:
    """A local broker in a folder of its own, driven through the project's launcher."""

    def __init__(self, folder: Path) -> None:
        self.env = {**os.environ, "SCORER_BROKER_DIR": str(folder)}
        self.env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        self.folder = folder

    def _run(self, command: str) -> str:
        cmd = [sys.executable, "-m", "infra.dev.broker", command]
        done = subprocess.run(
            cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    def start(self) -> str:
        self._run("start")
        return self._run("address")

    def stop(self) -> None:
        self._run("stop")

    def kill(self) -> None:
        pid = json.loads((self.folder / "broker.json").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and "kafka" in Path(f"/proc/{pid}/cmdline").read_text(
            errors="replace"
        ):
            time.sleep(0.1)
