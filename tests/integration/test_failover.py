"""Two workers in one consumer group while the stations keep publishing: one is stopped
with SIGTERM, or killed with SIGKILL and started again. Counted afterwards: exactly one
recommendation and one conversion outcome per session (read_committed) and every order
counted once in the history. After SIGKILL a recommendation may be repeated (at most 1%,
and the count is reported); nothing may be lost in either mode.
What was seen is written to out/reports/<broker>/failover-<mode>.json.

And a rebalance in the middle of a backlog, where each worker holds queued events and
open micro-batches of partitions it is about to lose.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from infra.kafka.admin import ensure_topics
from infra.kafka.reading import read_tail
from schemas import topics
from schemas.codec import Codec
from streams.kafka import bundles
from streams.records import ScoringRequest
from streams.worker import CLEAN_STOP
from tests.bench import workload
from tests.integration.scorer import (
    PARTITIONS,
    ScorerSetup,
    Worker,
    collect,
    orders_of,
    report,
    simulate,
    wait_stable,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _histories(w1: Worker, w2: Worker, expected: dict[str, int]) -> dict[str, object]:
    """/users of 40 users, asked until all agree with what was sent or 60 s have passed
    (a restarted worker answers only once it has recovered its tables)."""
    users = sorted(expected)[:40]
    deadline = time.monotonic() + 60
    while True:
        alive = [w for w in (w1, w2) if w.proc is not None and w.proc.poll() is None]
        ready = all(w.get("/readyz")[0] == 200 for w in alive)
        bodies = {u: w1.get(f"/users/{u}")[1] for u in users}
        if ready and all(orders_of(b) == expected[u] for u, b in bodies.items()):
            return bodies
        if time.monotonic() > deadline:
            return bodies
        time.sleep(1)


def _ms(at: datetime | int) -> int:
    return int(at.timestamp() * 1000) if isinstance(at, datetime) else at


@pytest.mark.parametrize("mode", ["sigterm", "sigkill-restart"])
def test_two_workers_lose_nothing_and_count_once(
    kafka_bootstrap: str, trained_model: Path, customer_model: Path, tmp_path: Path, mode: str
) -> None:
    setup = ScorerSetup(
        kafka_bootstrap,
        trained_model,
        tmp_path,
        customer_model,
        settings={"scorer_conversion_window_s": 10},
    )
    ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    w1, w2 = Worker(setup, "w1").start(), Worker(setup, "w2").start()
    wait_stable([w1, w2])
    summary_path = tmp_path / "sent.json"
    sim = simulate(setup, summary_path, duration=25, seed=7)
    try:
        time.sleep(12)
        if mode == "sigterm":
            assert w2.stop(signal.SIGTERM) == 0, w2.tail()
        else:
            w2.stop(signal.SIGKILL)
            time.sleep(3)
            w2.start()
        assert sim.wait(180) == 0, (setup.base / "simulator.log").read_text()[-2000:]
        sent = json.loads(summary_path.read_text())
        expected = set(sent["session_ids"])
        recs = collect(
            setup,
            topics.RECOMMENDATIONS,
            lambda rs: expected <= {r["session_id"] for r in rs},
            timeout=180,
            settle=10,
        )
        per_session = Counter(r["session_id"] for r in recs)
        recommended = set(per_session)
        outcomes = collect(
            setup,
            topics.CONVERSIONS,
            lambda cs: recommended <= {c["session_id"] for c in cs},
            timeout=120,
            settle=5,
        )
        per_outcome = Counter(c["session_id"] for c in outcomes)
        histories = _histories(w1, w2, sent["orders_per_user"])
        letters = collect(setup, topics.DEAD_LETTERS, lambda ds: False, timeout=3)
        seen = {
            "mode": mode,
            "topic_prefix": setup.prefix,
            "workers_folder": str(tmp_path),
            "sessions_sent": len(expected),
            "recommendations": sum(per_session.values()),
            "sessions_recommended": len(per_session),
            "missing": len(expected - set(per_session)),
            "duplicated_sessions": sum(1 for n in per_session.values() if n > 1),
            "conversion_outcomes": sum(per_outcome.values()),
            "recommended_without_outcome": len(recommended - set(per_outcome)),
            "sessions_with_two_outcomes": sum(1 for n in per_outcome.values() if n > 1),
            "orders_sent": sent["orders"] + sent["history_orders"],
            "users_checked": len(histories),
            "dead_letters": dict(Counter(d["error_class"] for d in letters)),
            "users_with_wrong_counts": sum(
                1 for u, body in histories.items() if orders_of(body) != sent["orders_per_user"][u]
            ),
        }
        # How long sessions waited for their recommendation: those of the stopped worker's
        # partitions wait for the rebalance (after a SIGKILL, for its session to time out).
        waits = sorted(_ms(r["scored_at"]) - _ms(r["event_time"]) for r in recs)
        seen["wait_ms"] = {
            "p50": waits[len(waits) // 2],
            "p99": waits[len(waits) * 99 // 100],
            "max": waits[-1],
            "over_5s": sum(1 for w in waits if w > 5000),
        }
        seen["wrong_counts"] = {
            u: {"history": orders_of(b), "sent": sent["orders_per_user"][u]}
            for u, b in histories.items()
            if orders_of(b) != sent["orders_per_user"][u]
        }
        # The records of up to 20 sessions recommended without an outcome, to tell where a
        # rare one (seen once in CI) comes from.
        undecided = recommended - set(per_outcome)
        seen["without_outcome_examples"] = [r for r in recs if r["session_id"] in undecided][:20]
        report(f"failover-{mode}", seen)
        # Nothing may be lost, in either mode, and every order counts once. Seen here and
        # fixed in streams/kafka/consumer.py: orders a rebalance skipped, history writes still
        # undelivered when their orders were committed, sessions whose second fetch after
        # a seek Faust dropped; in streams/kafka/registry.py: the first orders of the run
        # dead-lettered as from unknown stations (the simulator's stations all exist,
        # its malformed events are of other kinds). Without Faust's exactly_once (broken:
        # docs/development/decisions.md, 1) a
        # recommendation published in the instant before a SIGKILL can repeat; that is
        # counted in out/reports and bounded here.
        assert seen["missing"] == 0, seen
        assert seen["duplicated_sessions"] <= (0 if mode == "sigterm" else len(expected) // 100), (
            seen
        )
        assert seen["recommended_without_outcome"] == 0, seen
        assert seen["sessions_with_two_outcomes"] == 0, seen
        assert "unknown_station" not in seen["dead_letters"], seen
        assert seen["users_with_wrong_counts"] == 0, seen
    finally:
        if sim.poll() is None:
            sim.kill()
        for w in (w1, w2):
            if w.proc is not None and w.proc.poll() is None:
                w.stop()


BACKLOG = 60_000  # sessions: several seconds of draining for two workers here


def _recommended(setup: ScorerSetup, wanted: int, timeout: float, settle: float) -> Counter:
    """Recommendations per session key (read_committed) until `wanted` keys are seen or
    `timeout` has passed, then `settle` seconds more to catch a repeat."""
    consumer = setup.consumer(topics.RECOMMENDATIONS)
    per_key: Counter = Counter()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(per_key) < wanted:
            per_key.update(m.key() for m in consumer.consume(1000, 0.5) if not m.error())
        end = time.monotonic() + settle
        while time.monotonic() < end:
            per_key.update(m.key() for m in consumer.consume(1000, 0.5) if not m.error())
    finally:
        consumer.close()
    return per_key


def test_a_rebalance_in_the_middle_of_a_backlog_completes_and_loses_nothing(
    kafka_bootstrap: str, trained_model: Path, customer_model: Path, tmp_path: Path
) -> None:
    # Seen in make bench before streams/batching.py ended a batch left open: the rebalance
    # dropped the queued events that batch waited for, then waited for the batch's acks,
    # and both workers stalled until stopped.
    setup = ScorerSetup(kafka_bootstrap, trained_model, tmp_path, customer_model)
    ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    load = workload.build(BACKLOG, setup.prefix.rstrip("."), distinct=5000)
    workload.publish_registry(kafka_bootstrap, setup.prefix, load)
    w1, w2 = Worker(setup, "w1").start(), Worker(setup, "w2").start()
    try:
        wait_stable([w1, w2])
        workload.produce(
            workload.new_producer(kafka_bootstrap),
            setup.topic(topics.SESSIONS),
            iter(load.sessions),
        )
        assert _recommended(setup, 1, timeout=60, settle=0), "no recommendation in 60 s"
        published = sum(sum(w.samples("scorer_recommendations_total").values()) for w in (w1, w2))
        assert w2.stop(signal.SIGTERM) == 0, w2.tail()  # w1 takes w2's partitions
        assert published < BACKLOG, "the backlog was drained before the rebalance"
        # It stopped by itself: every event it handed out was acknowledged, and it did not
        # have to be left by the stop watchdog (which exits 0 too, without the marker).
        assert (setup.base / "w2" / CLEAN_STOP).exists(), w2.tail()
        per_session = _recommended(setup, BACKLOG, timeout=240, settle=5)
        missing = BACKLOG - len(per_session)
        repeated = sum(1 for n in per_session.values() if n > 1)
        assert (missing, repeated) == (0, 0), (published, w1.tail())
        # While both ran, the sessions each sent the other went in bundles, as did the
        # recommendations the other scored for the sessions each tracks.
        assert _bundled(setup) == {"requests": True, "recommendations": True}
        assert w1.stop(signal.SIGTERM) == 0, w1.tail()
        assert (setup.base / "w1" / CLEAN_STOP).exists(), w1.tail()
    finally:
        for w in (w1, w2):
            if w.proc is not None and w.proc.poll() is None:
                w.stop()


def _bundled(setup: ScorerSetup) -> dict[str, bool]:
    """Whether the hops between the workers held more records than messages."""
    codec = Codec()
    counted = {}
    for name, spec, count in (
        ("requests", topics.SCORING_REQUESTS, lambda v: len(ScoringRequest.all_from_bytes(v))),
        (
            "recommendations",
            topics.RECOMMENDATIONS_TO_TRACK,
            lambda v: len(bundles.recommendations(codec, v)),
        ),
    ):
        written = read_tail(setup.bootstrap, setup.topic(spec), None, 0, strict=True)
        counted[name] = sum(count(w.value) for w in written) > len(written) > 0
    return counted
