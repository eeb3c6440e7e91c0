"""`make demo`: the product end to end on the local broker, printed as it happens.

1. The topics, and one event of every type through Kafka and back, decoded.
2. A model: out/model, trained on 200,000 generated sessions first if there is none; a
   customer model: out/customers, fitted on 50,000 generated customers if there is none;
   an outlook: out/outlook, trained on 50,000 generated journeys if there is none.
3. A scorer worker, the station simulator for a minute, and a live view of what comes out.
4. A summary: sessions in, recommendations out, latency, face joins, dead letters,
   conversions, the segment mix, mean CLV and outlook of the customers whose profiles the
   run updated, and where the worker's web server and logs are. Then a clean stop.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Consumer, Producer

from infra.kafka.admin import admin_client, ensure_topics
from infra.kafka.client import client_config, producer_config
from infra.kafka.cluster import bootstrap_servers
from infra.kafka.settings import KafkaSettings, kafka_settings
from infra.worker_env import WORKER_COMMAND, worker_env
from schemas.codec import Codec
from schemas.errors import ScorerError
from schemas.examples import EXAMPLES
from schemas.topics import (
    ALL,
    CONVERSIONS,
    CUSTOMER_PROFILES,
    DEAD_LETTERS,
    RECOMMENDATIONS,
    TopicSpec,
    named,
    prefixed,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "demo"
DEMO_SESSIONS = 200_000
RATE, DURATION = 40.0, 60.0
DEMO_WINDOW_S = 20
# The demo's worker: the model `make model` trains, the web port the docs name, the
# app id (consumer group) the simulator waits for.
MODEL_DIR = ROOT / "out" / "model"
CUSTOMER_DIR = ROOT / "out" / "customers"
OUTLOOK_DIR = ROOT / "out" / "outlook"
WEB_PORT = 8827
APP_ID = "station-scorer"


def round_trip(bootstrap: str) -> int:
    """Produce one example of every schema and print each as consumed back; return the count."""
    codec = Codec()
    topic = f"demo.roundtrip.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, 1, specs=[TopicSpec(topic, "schema name", "any")])
    producer = Producer(producer_config(bootstrap))
    for name, record in EXAMPLES.items():
        producer.produce(topic, key=name.encode(), value=codec.encode(name, record))
    producer.flush(10)
    consumer = _consumer(bootstrap, [topic])
    seen = 0
    deadline = time.monotonic() + 30
    try:
        while seen < len(EXAMPLES) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            data = msg.value() or b""
            writer, record = codec.decode_with_schema(data)
            print(
                f"  {writer.short_name} v{writer.version} ({len(data)} bytes, "
                f"fingerprint {writer.fingerprint.hex()}): {_show(record)}"
            )
            seen += 1
    finally:
        consumer.close()
        admin_client(bootstrap).delete_topics([topic])
    return seen


def _consumer(bootstrap: str, topics: list[str]) -> Consumer:
    consumer = Consumer(
        client_config(
            bootstrap,
            **{
                "group.id": f"demo-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            },
        )
    )
    consumer.subscribe(topics)
    return consumer


def _show(record: dict[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        if isinstance(value, datetime):
            value = value.isoformat(timespec="milliseconds")
        parts.append(f"{key}={value!r}")
    text = ", ".join(parts)
    return text if len(text) < 160 else text[:157] + "..."


def ensure(what: str, folder: Path, marker: str, how: str, *command: str) -> Path:
    """`folder` as it is when it holds `marker`; else made by `python -m model *command`."""
    if (folder / marker).exists():
        print(f"{what}: {folder} (exists)")
        return folder
    print(f"{what}: none in {folder}; {how} ...")
    subprocess.run(
        [sys.executable, "-m", "model", *command, "--out", str(folder)], check=True, cwd=ROOT
    )
    return folder


class Tally:
    """What the scorer published, as read back from the topics (read_committed)."""

    def __init__(self, codec: Codec, session_prefix: str) -> None:
        self.codec = codec
        self.session_prefix = session_prefix  # this run's sessions; the topics hold older ones
        self.recs: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.latency_ms: list[float] = []
        self.dead = Counter[str]()
        self.outcomes: dict[str, str] = {}  # session_id -> conversion outcome
        self.profiles: dict[str, dict[str, Any]] = {}  # user_id -> latest profile this run
        self.started_ms = int(time.time() * 1000)

    def add(self, topic: str, value: bytes, prefix: str, timestamp_ms: int = 0) -> None:
        record = self.codec.decode(value)
        if topic == named(CUSTOMER_PROFILES, prefix):
            if timestamp_ms >= self.started_ms:  # the topic keeps earlier runs' profiles
                self.profiles[record["user_id"]] = record
            return
        if topic == named(DEAD_LETTERS, prefix):
            if (record["key"] or b"").decode(errors="replace").startswith(self.session_prefix):
                self.dead[record["error_class"]] += 1
            return
        session_id = record.get("session_id") or ""
        if not session_id.startswith(self.session_prefix):
            return
        if topic == named(CONVERSIONS, prefix):
            self.outcomes[session_id] = record["outcome"]
        elif session_id in self.recs:
            self.duplicates += 1
        else:
            self.recs[session_id] = record
            done = record["scored_at"].timestamp() - record["event_time"].timestamp()
            self.latency_ms.append(done * 1000)

    def conversions(self) -> Counter[str]:
        return Counter(self.outcomes.values())


def run_live(bootstrap: str, conf: KafkaSettings) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    codec = Codec()
    prefix = conf.scorer_topic_prefix
    watched = (RECOMMENDATIONS, DEAD_LETTERS, CONVERSIONS, CUSTOMER_PROFILES)
    consumer = _consumer(bootstrap, [named(s, prefix) for s in watched])
    seed = int(time.time()) % 1_000_000
    tally = Tally(codec, f"live-{seed}-")
    # A short conversion window, so that a one-minute demo sees every outcome decided.
    env = worker_env(
        bootstrap,
        scorer_conversion_window_s=DEMO_WINDOW_S,
        scorer_model_dir=MODEL_DIR,
        scorer_customer_model_dir=CUSTOMER_DIR,
        scorer_outlook_dir=OUTLOOK_DIR,
        scorer_web_port=WEB_PORT,
        scorer_app_id=APP_ID,
    )
    worker_log = (OUT / "worker.log").open("wb")
    worker = subprocess.Popen(
        WORKER_COMMAND, cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{WEB_PORT}"
    try:
        if not _wait_ready(url, worker):
            print(f"error: the worker did not get ready; see {OUT / 'worker.log'}")
            return 1
        print(f"Worker ready at {url} (log: {OUT / 'worker.log'}).")
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stations.simulator",
                "--rate",
                str(RATE),
                "--duration",
                str(DURATION),
                "--seed",
                str(seed),
                "--order-delay",
                "2",
                "20",
                "--summary",
                str(OUT / "simulator.json"),
                "--wait-for-group",
                APP_ID,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(OUT / "simulator.log").open("wb"),
        )
        print(f"Simulator: {RATE:.0f} sessions/s for {DURATION:.0f} s (seed {seed}) ...")
        _watch(consumer, tally, prefix, sim)
        if sim.returncode != 0:
            said = (OUT / "simulator.log").read_text(errors="replace").strip().splitlines()
            print(
                f"error: the simulator stopped (exit code {sim.returncode}): "
                f"{said[-1] if said else 'no message'}"
            )
            return 1
        sent = json.loads((OUT / "simulator.json").read_text())
        _drain(consumer, tally, prefix, set(sent["session_ids"]))
        _summary(sent, tally, url)
    finally:
        consumer.close()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
        print(f"Worker stopped (exit code {code}).")
    return 0


def _wait_ready(url: str, worker: subprocess.Popen[bytes], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def _watch(consumer: Consumer, tally: Tally, prefix: str, sim: subprocess.Popen[bytes]) -> None:
    began = time.monotonic()
    next_report = 10.0
    while sim.poll() is None:
        _poll(consumer, tally, prefix)
        elapsed = time.monotonic() - began
        if elapsed >= next_report:
            p99 = np.percentile(tally.latency_ms, 99) if tally.latency_ms else float("nan")
            print(
                f"  {elapsed:4.0f}s  recommendations {len(tally.recs):6,}  "
                f"({len(tally.recs) / elapsed:5.1f}/s)  p99 {p99:6.1f} ms  "
                f"dead letters {sum(tally.dead.values())}"
            )
            next_report += 10


def _drain(consumer: Consumer, tally: Tally, prefix: str, expected: set[str]) -> None:
    """Read on until every session has its recommendation and its conversion outcome."""
    deadline = time.monotonic() + DEMO_WINDOW_S + 40
    while time.monotonic() < deadline and not expected <= tally.outcomes.keys():
        _poll(consumer, tally, prefix)
    end = time.monotonic() + 3
    while time.monotonic() < end:
        _poll(consumer, tally, prefix)


def _poll(consumer: Consumer, tally: Tally, prefix: str) -> None:
    msg = consumer.poll(0.2)
    if msg is not None and not msg.error():
        tally.add(msg.topic() or "", msg.value() or b"", prefix, msg.timestamp()[1])


def _summary(sent: dict[str, Any], tally: Tally, url: str) -> None:
    expected = set(sent["session_ids"])
    lat = np.array(tally.latency_ms) if tally.latency_ms else np.array([np.nan])
    timed_out = sum(1 for r in tally.recs.values() if r["imputed_face"])
    new_users = sum(1 for r in tally.recs.values() if r["is_new_user"])
    n = max(len(tally.recs), 1)
    print("\nSummary")
    print(
        f"  sessions in                {len(expected):,} (+{sent['duplicates']} duplicated "
        f"events, {sent['malformed']} malformed)"
    )
    print(
        f"  recommendations out        {len(tally.recs):,} "
        f"({len(expected - tally.recs.keys())} missing, {tally.duplicates} duplicates)"
    )
    print(
        f"  latency, last input to publish   p50 {np.percentile(lat, 50):.1f} ms, "
        f"p99 {np.percentile(lat, 99):.1f} ms (face-wait timeouts counted from the deadline)"
    )
    print(f"  face joined or embedded    {len(tally.recs) - timed_out:,}; timed out {timed_out:,}")
    print(f"  new users                  {new_users:,} ({new_users / n:.0%})")
    dead = ", ".join(f"{k} {v}" for k, v in sorted(tally.dead.items())) or "none"
    print(f"  dead letters               {sum(tally.dead.values())} ({dead})")
    conv = tally.conversions()
    decided = max(sum(conv.values()), 1)
    rate = (conv["CONVERTED_TOP_PICK"] + conv["CONVERTED_OTHER"]) / decided
    print(
        f"  conversions ({DEMO_WINDOW_S} s window)  {sum(conv.values()):,} decided: "
        f"rate {rate:.1%}, to the top pick {conv['CONVERTED_TOP_PICK'] / decided:.1%} "
        f"({dict(conv)})"
    )
    print(f"  customers                  {_customers(tally)}")
    print(f"  web server                 {url}/score (POST), {url}/users/<id>, {url}/readyz")
    print(f"  customer profiles page     {url}/profiles (while a worker runs: `make worker`)")
    print(f"  metrics                    {url}/metrics (Prometheus; dashboards: infra/grafana/)")


def _customers(tally: Tally) -> str:
    """The segment mix and mean CLV of the customers whose profiles this run updated."""
    seen = list(tally.profiles.values())
    if not seen:
        return "no profile updated"
    mix = Counter(p["segment"] for p in seen)
    shares = ", ".join(f"{name} {count / len(seen):.0%}" for name, count in mix.most_common())
    clv = np.mean([p["clv_fen"] for p in seen]) / 100
    ahead = [p for p in seen if p.get("next_month_class") is not None]
    outlook = "no outlook"
    if ahead:
        classes = Counter(p["next_month_class"] for p in ahead)
        outlook = (
            f"class of {ahead[-1]['outlook_month']}: "
            + ", ".join(f"{c} {classes[c] / len(ahead):.0%}" for c in ("high", "medium", "low"))
            + f"; mean loyalty {np.mean([p['loyalty_score'] for p in ahead]):.1f}"
        )
    return (
        f"{len(seen):,} profiles updated on customer.profiles; mean 12-month CLV "
        f"{clv:.2f} yuan; segments: {shares}; {outlook}"
    )


def main() -> int:
    try:
        conf = kafka_settings()
        bootstrap = bootstrap_servers()
        created = ensure_topics(
            bootstrap,
            conf.scorer_partitions,
            conf.scorer_replication_factor,
            prefixed(conf.scorer_topic_prefix),
        )
    except ScorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"Kafka at {bootstrap}; topics: {', '.join(s.name for s in ALL)}"
        f" ({len(created)} created now, {conf.scorer_partitions} partitions)"
    )
    print("Round trip of one event of every type through Kafka, decoded:")
    if round_trip(bootstrap) != len(EXAMPLES):
        print("error: not every event came back", file=sys.stderr)
        return 1
    ensure(
        "Model",
        MODEL_DIR,
        "artifact.json",
        f"training on {DEMO_SESSIONS:,} generated sessions",
        "train",
        "--sessions",
        str(DEMO_SESSIONS),
    )
    ensure(
        "Customer model",
        CUSTOMER_DIR,
        "customers.json",
        "fitting on generated customers",
        "customers",
        "fit",
    )
    ensure(
        "Outlook",
        OUTLOOK_DIR,
        "outlook.json",
        "training on 50,000 generated journeys",
        "customers",
        "train-outlook",
    )
    return run_live(bootstrap, conf)


if __name__ == "__main__":
    sys.exit(main())
