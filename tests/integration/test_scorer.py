"""The streaming scorer end to end on the real broker: one worker process, real topics."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from model.customers import history
from model.mlp.predictor import Predictor
from schemas import topics
from schemas.examples import FACE
from schemas.http import ErrorResponse, ScoreResponse, UserResponse
from streams.records import ScoringRequest
from streams.rules.score_sessions import score_rows, session_row
from tests.integration.scorer import ScorerSetup, Worker, collect

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

STATIONS = {"st-wh-1": ("Wuhan", "supermarket"), "st-es-1": ("Enshi", "chess_room")}
DAY = 86_400_000
NOW = int(time.time() * 1000)
HISTORY_ORDERS = [
    {
        "order_id": f"h-{i}",
        "session_id": None,
        "user_id": "u-hist",
        "station_id": "st-wh-1",
        "lottery_type": kind,
        "amount": 1000,
        "placed_at": NOW - (10 - i) * DAY,
    }
    for i, kind in enumerate(["TEN_TIMES_GOOD_LUCK", "TEN_TIMES_GOOD_LUCK", "TWO_COLOR_BALL"])
]


def face(beauty: float, expression: str = "none", emotion: str = "neutral") -> dict[str, Any]:
    return {
        **FACE,
        "beauty": beauty,
        "expression": {"type": expression, "probability": 0.9},
        "emotion": {"type": emotion, "probability": 0.8},
    }


@pytest.fixture(scope="module")
def setup(
    kafka_bootstrap: str,
    trained_model: Path,
    customer_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> ScorerSetup:
    return ScorerSetup(
        kafka_bootstrap, trained_model, tmp_path_factory.mktemp("scorer"), customer_model
    )


@pytest.fixture(scope="module")
def worker(setup: ScorerSetup) -> Iterator[Worker]:
    producer = setup.producer()
    from infra.kafka.admin import ensure_topics

    ensure_topics(setup.bootstrap, 4, specs=topics.prefixed(setup.prefix))
    for station_id, (city, kind) in STATIONS.items():
        setup.send_record(
            producer,
            topics.REGISTRY,
            station_id,
            {"station_id": station_id, "city": city, "station_type": kind},
        )
    for order in HISTORY_ORDERS:
        setup.send_record(producer, topics.ORDERS, "u-hist", order)
    producer.flush(10)
    w = Worker(setup, "w1").start()
    w.wait_ready()
    _wait_for(
        lambda: (w.get("/users/u-hist")[1] or {}).get("history", {}).get("orders") == 3,
        "history of u-hist",
    )
    yield w
    w.stop()


def _wait_for(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _summary() -> dict[str, Any] | None:
    h = None
    for order in HISTORY_ORDERS:
        h, _ = history.add_order(
            h, {**order, "placed_at_ms": order["placed_at"]}, "Wuhan", "supermarket"
        )
    return history.summary(h)


def offline(
    setup: ScorerSetup, started: int, f: dict | None, station: str, known: bool
) -> dict[str, Any]:
    city, kind = STATIONS[station]
    row = session_row(
        started, f, {"city": city, "station_type": kind}, _summary() if known else None
    )
    return score_rows(Predictor.from_artifact(setup.model_dir), [row])[0]


def session(
    sid: str, user: str | None = None, f: dict | None = None, station: str = "st-wh-1"
) -> dict[str, Any]:
    return {"session_id": sid, "station_id": station, "started_at": NOW, "user_id": user, "face": f}


def face_event(
    sid: str,
    f: dict,
    matched: str | None = None,
    score: float | None = None,
    station: str = "st-wh-1",
) -> dict[str, Any]:
    return {
        "session_id": sid,
        "station_id": station,
        "detected_at": NOW + 300,
        "face": f,
        "matched_user_id": matched,
        "match_score": score,
    }


def _by_session(records: list[dict[str, Any]], prefix: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["session_id"].startswith(prefix):
            out.setdefault(r["session_id"], []).append(r)
    return out


def _assert_same_scores(rec: dict[str, Any], expected: dict[str, Any]) -> None:
    assert rec["top_pick"] == expected["top_pick"]
    assert rec["p_no_buy"] == pytest.approx(expected["p_no_buy"], abs=1e-6)
    got = {r["lottery_type"]: r["probability"] for r in rec["ranking"]}
    for item in expected["ranking"]:
        assert got[item["lottery_type"]] == pytest.approx(item["probability"], abs=1e-6)


def test_every_session_gets_one_recommendation_with_the_offline_scores(
    setup: ScorerSetup, worker: Worker
) -> None:
    p = setup.producer()
    f1, f2, f3, f4 = face(72, "laugh", "happy"), face(45), face(60, "smile"), face(30)
    setup.send_record(p, topics.SESSIONS, "e2e-embed", session("e2e-embed", "u-hist", f1))
    setup.send_record(p, topics.SESSIONS, "e2e-joined", session("e2e-joined"))
    setup.send_record(p, topics.FACES, "e2e-joined", face_event("e2e-joined", f2, "u-hist", 92))
    setup.send_record(p, topics.SESSIONS, "e2e-weak", session("e2e-weak"))
    setup.send_record(p, topics.FACES, "e2e-weak", face_event("e2e-weak", f3, "u-hist", 50))
    setup.send_record(p, topics.SESSIONS, "e2e-timeout", session("e2e-timeout", station="st-es-1"))
    setup.send_record(p, topics.FACES, "e2e-early", face_event("e2e-early", f4))
    p.flush(10)
    time.sleep(0.5)  # the face waits for its session
    setup.send_record(p, topics.SESSIONS, "e2e-early", session("e2e-early"))
    p.flush(10)
    recs = collect(
        setup, topics.RECOMMENDATIONS, lambda rs: len(_by_session(rs, "e2e-")) >= 5, settle=3
    )
    by = _by_session(recs, "e2e-")
    assert sorted(by) == ["e2e-early", "e2e-embed", "e2e-joined", "e2e-timeout", "e2e-weak"]
    assert all(len(v) == 1 for v in by.values()), {k: len(v) for k, v in by.items()}
    embed, joined, weak = by["e2e-embed"][0], by["e2e-joined"][0], by["e2e-weak"][0]
    timeout, early = by["e2e-timeout"][0], by["e2e-early"][0]
    assert (embed["user_id"], embed["is_new_user"], embed["imputed_face"]) == (
        "u-hist",
        False,
        False,
    )
    _assert_same_scores(embed, offline(setup, NOW, f1, "st-wh-1", known=True))
    assert joined["user_id"] == "u-hist" and not joined["imputed_face"]
    _assert_same_scores(joined, offline(setup, NOW, f2, "st-wh-1", known=True))
    assert weak["user_id"] is None and weak["is_new_user"]  # score 50 is below the threshold
    _assert_same_scores(weak, offline(setup, NOW, f3, "st-wh-1", known=False))
    assert timeout["imputed_face"] and timeout["imputed_history"]
    _assert_same_scores(timeout, offline(setup, NOW, None, "st-es-1", known=False))
    assert not early["imputed_face"]
    _assert_same_scores(early, offline(setup, NOW, f4, "st-wh-1", known=False))
    for rec in by.values():
        assert rec[0]["model_version"] == Predictor.from_artifact(setup.model_dir).version
        assert rec[0]["scored_at"] >= rec[0]["event_time"]


def test_a_batch_reads_each_history_from_its_users_partition(
    setup: ScorerSetup, worker: Worker
) -> None:
    """Sessions of known users on every partition, scored in shared batches (seen: up to
    32 a batch): each is scored with its own user's history, whichever event of the batch
    Faust takes as the current one."""
    p = setup.producer()
    users = [f"u-batch-{i}" for i in range(24)]
    for user in users:
        order = {**HISTORY_ORDERS[0], "order_id": f"o-{user}", "user_id": user}
        setup.send_record(p, topics.ORDERS, user, order)
    p.flush(10)
    _wait_for(
        lambda: all(
            (worker.get(f"/users/{u}")[1] or {}).get("history", {}).get("orders") == 1
            for u in users
        ),
        "the batch users' histories",
    )
    sessions = [(f"batch-{n}-{user}", user) for n in range(5) for user in users]
    for sid, user in sessions:  # all at once: they meet in the scorer's batches
        setup.send_record(p, topics.SESSIONS, sid, session(sid, user, face(50)))
    p.flush(10)
    recs = collect(
        setup, topics.RECOMMENDATIONS, lambda rs: len(_by_session(rs, "batch-")) >= len(sessions)
    )
    by = _by_session(recs, "batch-")
    assert len(by) == len(sessions)
    assert [k for k, v in by.items() if v[0]["is_new_user"]] == []


def test_a_late_face_is_not_rescored(setup: ScorerSetup, worker: Worker) -> None:
    p = setup.producer()
    setup.send_record(p, topics.SESSIONS, "late-1", session("late-1"))
    p.flush(10)
    first = collect(setup, topics.RECOMMENDATIONS, lambda rs: bool(_by_session(rs, "late-")))
    assert _by_session(first, "late-")["late-1"][0]["imputed_face"]
    setup.send_record(p, topics.FACES, "late-1", face_event("late-1", face(80)))
    p.flush(10)
    again = collect(setup, topics.RECOMMENDATIONS, lambda rs: False, timeout=4)
    assert len(_by_session(again, "late-")["late-1"]) == 1


def _last_per_key(setup: ScorerSetup, table: str, prefix: bytes) -> dict[bytes, bytes | None]:
    """The last value of each key starting with `prefix` in a table's changelog, read
    from its start to its end: what compaction keeps, and what a recovery rebuilds."""
    name = f"{setup.app_id}-{table}-changelog"
    consumer = Consumer(
        {
            "bootstrap.servers": setup.bootstrap,
            "group.id": f"check-{NOW}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
            for p in partitions
        }
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        last: dict[bytes, bytes | None] = {}
        read = dict.fromkeys(partitions, 0)
        deadline = time.monotonic() + 60
        while any(read[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            read[msg.partition() or 0] = (msg.offset() or 0) + 1
            key = msg.key() or b""
            if key.startswith(prefix):
                last[key] = msg.value()
        return last
    finally:
        consumer.close()


def test_joined_timed_out_and_orphaned_waits_leave_only_tombstones(
    setup: ScorerSetup, worker: Worker
) -> None:
    """Bounded state: every entry of the pending-sessions table is deleted once its session
    is scored or its face wait is over, and its changelog's last word on it is a tombstone,
    so that compaction removes it and a recovery does not bring it back."""
    p = setup.producer()
    joined, timed_out, orphans = (
        ["exp-j1", "exp-j2", "exp-j3"],
        ["exp-t1", "exp-t2"],
        ["exp-o1", "exp-o2"],
    )
    for sid in joined + timed_out:
        setup.send_record(p, topics.SESSIONS, sid, session(sid))
    for sid in joined + orphans:
        setup.send_record(p, topics.FACES, sid, face_event(sid, face(55)))
    p.flush(10)
    recs = collect(
        setup, topics.RECOMMENDATIONS, lambda rs: len(_by_session(rs, "exp-")) >= 5, settle=2
    )
    by = _by_session(recs, "exp-")
    assert sorted(by) == sorted(joined + timed_out)
    assert [sid for sid in timed_out if not by[sid][0]["imputed_face"]] == []
    waiting = (("state", "joins_waiting"),)
    _wait_for(
        lambda: worker.samples("scorer_state_entries").get(waiting) == 0,
        "no session or face waiting",
    )
    last = _last_per_key(setup, "pending-sessions", b"exp-")
    assert sorted(last) == sorted(k.encode() for k in joined + timed_out + orphans)
    assert {k: v for k, v in last.items() if v is not None} == {}


def test_redelivered_events_change_nothing(setup: ScorerSetup, worker: Worker) -> None:
    p = setup.producer()
    setup.send_record(p, topics.SESSIONS, "redo-1", session("redo-1", "u-hist", face(50)))
    setup.send_record(p, topics.SESSIONS, "redo-2", session("redo-2"))
    setup.send_record(p, topics.FACES, "redo-2", face_event("redo-2", face(66)))
    p.flush(10)
    collect(setup, topics.RECOMMENDATIONS, lambda rs: len(_by_session(rs, "redo-")) >= 2)
    for _ in range(2):  # replay everything, orders included
        setup.send_record(p, topics.SESSIONS, "redo-1", session("redo-1", "u-hist", face(50)))
        setup.send_record(p, topics.SESSIONS, "redo-2", session("redo-2"))
        setup.send_record(p, topics.FACES, "redo-2", face_event("redo-2", face(66)))
        for order in HISTORY_ORDERS:
            setup.send_record(p, topics.ORDERS, "u-hist", order)
    p.flush(10)
    recs = collect(setup, topics.RECOMMENDATIONS, lambda rs: False, timeout=5)
    assert {k: len(v) for k, v in _by_session(recs, "redo-").items()} == {"redo-1": 1, "redo-2": 1}
    status, body = worker.get("/users/u-hist")
    assert status == 200 and body["history"]["orders"] == 3
    assert body["history"]["total_purchase_days"] == 3


def _raw_session(setup: ScorerSetup, record: dict[str, Any]) -> bytes:
    """A SessionStarted written without the codec's checks, as a careless producer would."""
    sv = setup.codec.schemas.current("SessionStarted")
    out = io.BytesIO()
    fastavro.schemaless_writer(out, sv.parsed, record)
    return b"\xc3\x01" + sv.fingerprint + out.getvalue()


def _order_with_enum_index(setup: ScorerSetup, index: int) -> bytes:
    sv = setup.codec.schemas.current("OrderPlaced")
    raw = json.loads(json.dumps(sv.raw))
    for field in raw["fields"]:
        if field["name"] == "lottery_type":
            field["type"] = "int"  # an enum index is written like an int
    out = io.BytesIO()
    order = {**HISTORY_ORDERS[0], "order_id": "bad-enum", "lottery_type": index}
    fastavro.schemaless_writer(out, fastavro.parse_schema(raw), order)
    return b"\xc3\x01" + sv.fingerprint + out.getvalue()


def test_bad_input_goes_to_dead_letters_and_the_next_event_is_scored(
    setup: ScorerSetup, worker: Worker
) -> None:
    p = setup.producer()
    good = setup.codec.encode("SessionStarted", session("bad-x"))
    cases = {
        "bad-garbage": (topics.SESSIONS, b"\x00\x01 not avro", "bad_magic"),
        "bad-fingerprint": (
            topics.SESSIONS,
            b"\xc3\x01" + b"\xab" * 8 + good[10:],
            "unknown_fingerprint",
        ),
        "bad-truncated": (topics.SESSIONS, good[:-7], "truncated"),
        "bad-beauty": (
            topics.SESSIONS,
            _raw_session(setup, session("bad-beauty", None, face(150.0))),
            "invalid_datum",
        ),
        "bad-station": (
            topics.SESSIONS,
            setup.codec.encode("SessionStarted", session("bad-station", station="st-unknown")),
            "unknown_station",
        ),
        "bad-lottery": (topics.ORDERS, _order_with_enum_index(setup, 9), "invalid_datum"),
    }
    for key, (spec, value, _) in cases.items():
        setup.send(p, spec, key, value)
    setup.send_record(p, topics.SESSIONS, "after-bad", session("after-bad", None, face(55)))
    p.flush(10)
    letters = collect(
        setup,
        topics.DEAD_LETTERS,
        lambda ds: len([d for d in ds if (d["key"] or b"").startswith(b"bad-")]) >= len(cases),
    )
    got = {d["key"].decode(): d for d in letters if (d["key"] or b"").startswith(b"bad-")}
    assert {k: d["error_class"] for k, d in got.items()} == {k: c[2] for k, c in cases.items()}
    for key, (spec, value, _) in cases.items():
        assert got[key]["value"] == value and got[key]["source_topic"] == setup.topic(spec)
        assert got[key]["offset"] >= 0 and got[key]["error_message"]
    assert "beauty=150.0" in got["bad-beauty"]["error_message"]
    recs = collect(setup, topics.RECOMMENDATIONS, lambda rs: bool(_by_session(rs, "after-bad")))
    assert len(_by_session(recs, "after-bad")["after-bad"]) == 1


def test_a_new_stations_first_events_count(setup: ScorerSetup, worker: Worker) -> None:
    """A station registers just before its first session and order, as stations do. The
    worker's registry thread may then be a fetch behind; such events once went to the
    dead-letter topic as from an unknown station. Whether the thread is behind here is
    chance: tests/integration/test_registry.py makes the lag certain."""
    p = setup.producer()
    new = [f"st-new-{i}" for i in range(5)]
    for station in new:
        record = {"station_id": station, "city": "Yichang", "station_type": "restaurant"}
        setup.send_record(p, topics.REGISTRY, station, record)
        setup.send_record(
            p, topics.SESSIONS, f"first-{station}", session(f"first-{station}", station=station)
        )
        order = {
            **HISTORY_ORDERS[0],
            "order_id": f"first-{station}",
            "user_id": f"u-{station}",
            "station_id": station,
        }
        setup.send_record(p, topics.ORDERS, f"u-{station}", order)
    p.flush(10)
    recs = collect(
        setup,
        topics.RECOMMENDATIONS,
        lambda rs: len(_by_session(rs, "first-")) == len(new),
        timeout=30,
    )
    assert sorted(_by_session(recs, "first-")) == sorted(f"first-{s}" for s in new)
    for station in new:
        status, body = worker.get(f"/users/u-{station}")
        assert status == 200 and body["history"]["home_city"] == "Yichang", (station, body)
    letters = collect(setup, topics.DEAD_LETTERS, lambda ds: False, timeout=3)
    assert not [
        d for d in letters if d["error_class"] == "unknown_station" and d["key"] != b"bad-station"
    ]


def test_http_scoring_matches_the_stream_and_bad_bodies_get_400(
    setup: ScorerSetup, worker: Worker
) -> None:
    f = face(72, "laugh", "happy")
    body = json.dumps(
        {"station_id": "st-wh-1", "started_at": NOW, "user_id": "u-hist", "face": f}
    ).encode()
    status, answer = worker.request("POST", "/score", body)
    assert status == 200, answer
    ScoreResponse.model_validate(answer)  # the documented body (schemas/http/), exactly
    assert answer["user_id"] == "u-hist" and not answer["is_new_user"]
    _assert_same_scores(answer, offline(setup, NOW, f, "st-wh-1", known=True))
    assert "explanation" not in answer
    status, explained = worker.request("POST", "/score?explain=true", body)
    assert status == 200, explained
    why = ScoreResponse.model_validate(explained).explanation
    assert why is not None and why.top_pick == answer["top_pick"]
    pushed = sum(why.features.values())
    assert abs(pushed + why.gap - (why.probability - why.baseline_probability)) < 1e-4
    assert abs(why.gap) < 0.02 and len(why.inputs) == 8
    status, refused = worker.request("POST", "/score?explain=maybe", body)
    assert status == 400 and "explain='maybe'" in refused["error"]
    bad = {
        b"{not json": "not JSON",
        b"[1, 2]": "JSON object",
        json.dumps({"started_at": NOW}).encode(): "station_id",
        json.dumps({"station_id": "st-wh-1", "face": face(101)}).encode(): "beauty=101",
        json.dumps({"station_id": "st-nope"}).encode(): "not in the registry",
        json.dumps({"station_id": "st-wh-1", "colour": "red"}).encode(): "unknown field",
        # What a hostile caller sends (each answered 500 or taken once): nesting deep
        # enough to break a recursive parser (within 8 KB), a 5,000-digit number, a lone
        # surrogate.
        b'{"station_id": "st-wh-1", "face": ' + b"[" * 4_000 + b"]" * 4_000 + b"}": "not JSON",
        b'{"station_id": "st-wh-1", "started_at": ' + b"9" * 5_000 + b"}": "not JSON",
        b'{"station_id": "st-wh-1", "user_id": "\\ud800"}': "not JSON",
        json.dumps(
            {"station_id": "st-wh-1", "started_at": 253_402_300_800_000}
        ).encode(): "plausible window",  # the year 10000: the Kafka path dead-letters it too
        json.dumps(
            {"station_id": "st-wh-1", "started_at": -1e15}
        ).encode(): "started_at: Input should be a valid integer",
        json.dumps({"station_id": "st-wh-1", "started_at": True}).encode(): "started_at",
        json.dumps(
            {"station_id": "st-wh-1", "user_id": "u" * 300}
        ).encode(): "user_id is 300 characters, at most 256",
        json.dumps({"station_id": "st-wh-1", "user_id": "u" * 900_000}).encode(): "at most 8192",
        json.dumps({"station_id": "st-wh-1", "user_id": "u" * 9_000}).encode(): "at most 8192",
    }
    for payload, words in bad.items():
        status, answer = worker.request("POST", "/score", payload)
        expected = 413 if len(payload) > 8192 else 400
        assert status == expected and words in answer["error"], (payload[:80], answer)
        ErrorResponse.model_validate(answer)


def test_http_scoring_past_its_rate_is_turned_away_with_when_to_come_back(
    setup: ScorerSetup, worker: Worker
) -> None:
    body = json.dumps({"station_id": "st-wh-1", "user_id": "u-rate"}).encode()

    def post(_: int) -> tuple[int, str | None]:
        req = urllib.request.Request(worker.url + "/score", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Retry-After")

    time.sleep(1.0)  # the bucket fills (50 a second, 20 at most): the last test spent it
    with ThreadPoolExecutor(50) as pool:  # 400 at once against 50 a second, 20 at once
        answers = list(pool.map(post, range(400)))
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) == {200, 429} and statuses[200] >= 20, statuses
    assert {after for status, after in answers if status == 429} == {"1"}
    with urllib.request.urlopen(worker.url + "/metrics", timeout=10) as response:
        exposed = response.read().decode()
    counted = re.search(r'scorer_http_score_requests_total\{status="429"\} (\S+)', exposed)
    assert counted and float(counted.group(1)) == statuses[429]


def test_the_web_front_turns_requests_away_without_the_worker(
    setup: ScorerSetup, worker: Worker
) -> None:
    """With the worker's process stopped (SIGSTOP), its front still answers every request
    it refuses: they never reach the stream's event loop. What it admits waits for the
    worker and is answered once it runs again.

    The stop lasts a few seconds, well within the consumer group's session timeout (10 s):
    stopped longer, the worker is evicted and rebalances once it runs again, and the tests
    after this one would find it not ready."""
    assert worker.proc is not None
    good = json.dumps({"station_id": "st-wh-1", "user_id": "u-front"}).encode()

    def post(body: bytes) -> int:
        req = urllib.request.Request(worker.url + "/score", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    time.sleep(1.0)  # the bucket fills again (50 a second, 20 at most): any test may spend it
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        refused = {body: post(body) for body in (b"{", b'{"station_id": 7}', b"x" * 9_000)}
        time.sleep(1.0)  # and again, after those three
        with ThreadPoolExecutor(40) as pool:
            sent = [pool.submit(post, good) for _ in range(40)]
            wait(sent, timeout=5, return_when=FIRST_COMPLETED)
            time.sleep(1.0)  # whatever the front turns away is answered by now
            answered = [f for f in sent if f.done()]
            waiting = [f for f in sent if not f.done()]
            turned_away = Counter(f.result() for f in answered)
            os.kill(worker.proc.pid, signal.SIGCONT)
            statuses = Counter(f.result() for f in sent)
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
    assert refused == {b"{": 400, b'{"station_id": 7}': 400, b"x" * 9_000: 413}
    # 20 at once are admitted (SCORER_HTTP_SCORE_BURST) and wait for the worker; the other
    # 20 are turned away while it is stopped, and the 20 admitted are scored once it runs
    assert turned_away == {429: 20} and len(waiting) == 20, turned_away
    assert statuses == {200: 20, 429: 20}, statuses


def test_user_view_health_and_readiness(setup: ScorerSetup, worker: Worker) -> None:
    status, body = worker.get("/users/u-hist")
    assert status == 200
    UserResponse.model_validate(body)
    h = body["history"]
    assert h["orders"] == 3 and h["frequent_type"] == "TEN_TIMES_GOOD_LUCK"
    assert h["home_city"] == "Wuhan" and h["rfm"]["frequency"] == 2
    assert h["rfm"]["recency_days"] == pytest.approx(2.0)
    assert h["rfm"]["monetary_fen"] == pytest.approx(1000.0)
    # what the outlook reads: every purchase day and fen in a month, every order in a cell
    assert sum(m[1] for m in h["months"]) == 3 and sum(m[2] for m in h["months"]) == h["spend_fen"]
    assert sum(h["cells"].values()) == 3
    assert worker.get("/users/nobody")[0] == 404
    assert worker.get("/healthz") == (200, {"status": "ok"})
    status, ready = worker.get("/readyz")
    assert status == 200 and ready["ready"], ready


def test_lost_local_state_is_rebuilt_from_the_changelog(setup: ScorerSetup, worker: Worker) -> None:
    before = worker.get("/users/u-hist")[1]
    assert worker.stop() == 0
    shutil.rmtree(setup.base / worker.name)
    worker.start().wait_ready()
    _wait_for(lambda: worker.get("/users/u-hist")[1] == before, "rebuilt history")
    # A session scored before the loss is still known: its replay is not scored again.
    p = setup.producer()
    setup.send_record(p, topics.SESSIONS, "e2e-embed", session("e2e-embed", "u-hist", face(72)))
    p.flush(10)
    recs = collect(setup, topics.RECOMMENDATIONS, lambda rs: False, timeout=5)
    assert Counter(r["session_id"] for r in recs)["e2e-embed"] == 1


def _letters_for(setup: ScorerSetup, prefix: bytes, n: int) -> dict[bytes, dict[str, Any]]:
    """Dead letters whose key starts with `prefix`, once there are `n` of them."""
    letters = collect(
        setup,
        topics.DEAD_LETTERS,
        lambda ds: len([d for d in ds if (d["key"] or b"").startswith(prefix)]) >= n,
    )
    return {d["key"]: d for d in letters if (d["key"] or b"").startswith(prefix)}


def _scored_after(setup: ScorerSetup, session_id: str) -> None:
    """A good session sent now is recommended once: the worker carried on."""
    p = setup.producer()
    setup.send_record(p, topics.SESSIONS, session_id, session(session_id, None, face(50)))
    p.flush(10)
    recs = collect(setup, topics.RECOMMENDATIONS, lambda rs: bool(_by_session(rs, session_id)))
    assert len(_by_session(recs, session_id)[session_id]) == 1


def test_garbage_on_every_topic_an_agent_reads_is_a_dead_letter(
    setup: ScorerSetup, worker: Worker
) -> None:
    p = setup.producer()
    cases = {  # keyed JUNK_KEY..., which the test's own readers skip
        b"junk-rec": (topics.RECOMMENDATIONS_TO_TRACK, "bad_magic"),
        b"junk-req": (topics.SCORING_REQUESTS, "invalid_datum"),
        b"junk-so": (topics.SESSION_ORDERS, "bad_magic"),
        b"junk-face": (topics.FACES, "bad_magic"),
        b"junk-order": (topics.ORDERS, "bad_magic"),
    }
    for key, (spec, _) in cases.items():
        setup.send(p, spec, key.decode(), b"\x00garbage")  # 9 bytes, as the hostile test sent
    # JSON that parses, but whose face is no FaceAttributes: refused where it is read, not
    # an error in the scorer's code (which would stop the worker).
    odd_face = ScoringRequest("junk-s", "st-wh-1", 1, None, {"beauty": "x"}, "joined", 1)
    cases[b"junk-req-face"] = (topics.SCORING_REQUESTS, "invalid_datum")
    setup.send(p, topics.SCORING_REQUESTS, "junk-req-face", odd_face.to_bytes())
    p.flush(10)
    got = _letters_for(setup, b"junk-", len(cases))
    assert {k: (d["source_topic"], d["error_class"]) for k, d in got.items()} == {
        k: (setup.topic(spec), reason) for k, (spec, reason) in cases.items()
    }
    assert worker.proc is not None and worker.proc.poll() is None
    _scored_after(setup, "after-junk")


def test_oversized_inputs_are_refused_before_anything_is_written(
    setup: ScorerSetup, worker: Worker
) -> None:
    p = setup.producer()
    big = {**HISTORY_ORDERS[0], "user_id": "u-big", "session_id": None}
    sent = {
        b"big-1": setup.codec.encode("OrderPlaced", {**big, "order_id": "1" * 400_000}),
        b"big-2": setup.codec.encode("OrderPlaced", {**big, "order_id": "2" * 400_000}),
        b"big-3": setup.codec.encode("OrderPlaced", {**big, "order_id": "3" * 1000}),
        b"big-face": setup.codec.encode(
            "SessionStarted", session("big-face", None, {**face(50), "face_token": "f" * 900_000})
        ),
    }
    for key, value in sent.items():
        spec = topics.SESSIONS if key == b"big-face" else topics.ORDERS
        p.produce(setup.topic(spec), key=key, value=value)
    setup.send_record(p, topics.ORDERS, "u-big", {**big, "order_id": "small-1"})
    p.flush(10)
    got = _letters_for(setup, b"big-", len(sent))
    assert {k: d["error_class"] for k, d in got.items()} == {
        b"big-1": "too_large",
        b"big-2": "too_large",
        b"big-3": "too_long",
        b"big-face": "too_large",
    }
    assert "cut to its first 57344 of" in got[b"big-1"]["error_message"]
    assert got[b"big-1"]["value"] == sent[b"big-1"][:57344]
    assert got[b"big-3"]["value"] == sent[b"big-3"]  # small enough to keep whole
    _wait_for(lambda: worker.get("/users/u-big")[0] == 200, "the good order of u-big")
    assert worker.get("/users/u-big")[1]["history"]["orders"] == 1
    _scored_after(setup, "after-big")


def test_event_times_outside_the_plausible_window_are_refused(
    setup: ScorerSetup, worker: Worker
) -> None:
    p = setup.producer()
    order = {**HISTORY_ORDERS[0], "user_id": "u-when", "session_id": None}
    for key, at in (("when-1", -62_135_596_800_000), ("when-9999", 253_402_300_799_000)):
        setup.send_record(p, topics.ORDERS, key, {**order, "order_id": key, "placed_at": at})
        setup.send_record(p, topics.SESSIONS, f"{key}-s", {**session(f"{key}-s"), "started_at": at})
    setup.send_record(p, topics.ORDERS, "u-when", {**order, "order_id": "when-now"})
    p.flush(10)
    got = _letters_for(setup, b"when-", 4)
    assert {d["error_class"] for d in got.values()} == {"implausible_time"}
    _wait_for(lambda: worker.get("/users/u-when")[0] == 200, "the plausible order of u-when")
    rfm = worker.get("/users/u-when")[1]["history"]["rfm"]
    assert rfm["recency_days"] == 0 and rfm["frequency"] == 0
    _scored_after(setup, "after-when")


def test_a_long_lived_customer_is_bounded_and_a_republished_order_never_counts_twice(
    setup: ScorerSetup, worker: Worker
) -> None:
    p = setup.producer()
    n = history.REMEMBERED_ORDER_IDS + 1
    base = {**HISTORY_ORDERS[0], "user_id": "u-loyal", "session_id": None}
    orders = [
        {**base, "order_id": f"loyal-{i}", "placed_at": NOW - DAY + i * 1000} for i in range(n)
    ]
    for o in orders:
        setup.send_record(p, topics.ORDERS, "u-loyal", o)
    p.flush(10)
    _wait_for(
        lambda: ((worker.get("/users/u-loyal")[1] or {}).get("history") or {}).get("orders") == n,
        "1,001 orders of u-loyal",
    )
    for o in (orders[0], orders[1], orders[-1]):  # published again by the station
        setup.send_record(p, topics.ORDERS, "u-loyal", o)
    setup.send_record(
        p, topics.ORDERS, "u-loyal", {**base, "order_id": "loyal-new", "placed_at": NOW}
    )
    p.flush(10)
    _wait_for(
        lambda: worker.get("/users/u-loyal")[1]["history"]["orders"] == n + 1,
        "the new order of u-loyal",
    )
    # The oldest id was forgotten (1,000 are kept): that copy is refused; the others are
    # known repeats. Either way none is counted again.
    letters = collect(setup, topics.DEAD_LETTERS, lambda ds: False, timeout=4)
    refused = [d for d in letters if d["key"] == b"u-loyal"]
    assert [d["error_class"] for d in refused] == ["order_outside_dedup_horizon"]
    assert setup.codec.decode(refused[0]["value"])["order_id"] == "loyal-0"
    assert worker.get("/users/u-loyal")[1]["history"]["orders"] == n + 1
    _scored_after(setup, "after-loyal")
