"""Customer profiles in the stream, on the real broker: one CustomerProfile per recorded
order on customer.profiles, equal to the offline model's figures; Recommendations in v2
with the customer's segment and CLV, which a v1 consumer still decodes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pandas as pd
import pytest
from confluent_kafka import Consumer

from infra.kafka.admin import ensure_topics
from model.customers import customer_model
from model.customers.rfm import from_orders
from model.outlook import live as outlook_live
from schemas import topics
from schemas.codec import HEADER_SIZE, SCHEMA_DIR, load_version
from streams.clock import to_ms
from tests.integration.scorer import PARTITIONS, ROOT, ScorerSetup, Worker, collect

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

DAY = 86_400_000
NOW = int(time.time() * 1000)
STATION = {"station_id": "st-cv-1", "city": "Yichang", "station_type": "restaurant"}
USERS = [f"u-cv-{i:03d}" for i in range(40)]


def _orders() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for u, user in enumerate(USERS):
        for k in range(1 + u % 6):  # 1 to 6 orders, spread over the last 300 days
            at = NOW - int(rng.integers(1, 300 * DAY))
            rows.append(
                {
                    "order_id": f"cv-{u}-{k}",
                    "session_id": None,
                    "user_id": user,
                    "station_id": STATION["station_id"],
                    "lottery_type": "WELFARE_3D",
                    "amount": int(rng.integers(200, 5000)),
                    "placed_at": at,
                }
            )
    return pd.DataFrame(rows).sort_values("placed_at").reset_index(drop=True)


@pytest.fixture(scope="module")
def deployment(
    kafka_bootstrap: str,
    trained_model: Path,
    customer_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ScorerSetup, Worker, pd.DataFrame]]:
    setup = ScorerSetup(
        kafka_bootstrap, trained_model, tmp_path_factory.mktemp("customers"), customer_model
    )
    ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    orders = _orders()
    p = setup.producer()
    setup.send_record(p, topics.REGISTRY, STATION["station_id"], STATION)
    for order in orders.to_dict("records"):
        setup.send_record(p, topics.ORDERS, order["user_id"], order)
    first = orders.iloc[0].to_dict()
    setup.send_record(p, topics.ORDERS, first["user_id"], first)  # published twice
    p.flush(10)
    worker = Worker(setup, "w1").start()
    worker.wait_ready()
    yield setup, worker, orders
    worker.stop()


def _complete(orders: pd.DataFrame) -> Any:
    """Whether the profiles read so far hold every customer with all their orders."""
    counts = orders.groupby("user_id").size().to_dict()

    def check(records: list[dict[str, Any]]) -> bool:
        latest: dict[str, int] = {}
        for r in records:
            latest[r["user_id"]] = max(latest.get(r["user_id"], 0), r["orders"])
        return latest == counts

    return check


def test_recorded_orders_publish_their_customers_profiles_as_offline(
    deployment: tuple[ScorerSetup, Worker, pd.DataFrame],
) -> None:
    setup, _, orders = deployment
    records = collect(setup, topics.CUSTOMER_PROFILES, _complete(orders), settle=3)
    assert _complete(orders)(records)  # the order published twice is counted once
    # one profile per customer per batch of orders at most: never more than the orders
    assert len(USERS) <= len(records) <= len(orders)
    latest = {r["user_id"]: r for r in sorted(records, key=lambda r: r["orders"])}
    assert sorted(latest) == USERS  # one profile per customer seen
    model = customer_model.load(setup.customer_model_dir)
    frame = orders.rename(columns={"placed_at": "placed_at_ms"})
    for user, record in latest.items():
        mine = frame[frame["user_id"] == user]
        as_of = int(mine["placed_at_ms"].max())
        _, rfm = from_orders(mine, as_of)
        expected = {k: v[0] for k, v in customer_model.profile_columns(model, rfm).items()}
        assert record["orders"] == len(mine) and to_ms(record["updated_at"]) == as_of
        assert record["model_version"] == model.version
        for name in ("segment", "cluster", "r_score", "f_score", "m_score", "frequency"):
            assert record[name] == expected[name], (user, name)
        for name in (
            "p_alive",
            "expected_purchases_30d",
            "expected_spend_fen",
            "clv_fen",
            "monetary_fen",
            "recency_days",
        ):
            assert record[name] == pytest.approx(float(expected[name]), rel=1e-9), (user, name)
        # this worker has no outlook artifact: the outlook's fields are there, and null
        assert all(record[name] is None for name in outlook_live.FIELDS), user


def _v1_reader_consume(setup: ScorerSetup, want: int) -> list[tuple[dict, dict, int]]:
    """(v1 view, current view, writer version) of each recommendation: a consumer whose
    code knows only recommendation.v1.avsc resolves each writer schema (found by its
    fingerprint among the kept versions) to it."""
    v1 = load_version(SCHEMA_DIR / "recommendation.v1.avsc")
    consumer: Consumer = setup.consumer(topics.RECOMMENDATIONS)
    out: list[tuple[dict, dict, int]] = []
    deadline = time.monotonic() + 60
    try:
        while len(out) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            data = msg.value() or b""
            writer = setup.codec.writer_of(data)
            old = fastavro.schemaless_reader(
                io.BytesIO(data[HEADER_SIZE:]), writer.parsed, v1.parsed
            )
            out.append((dict(old), setup.codec.decode(data), writer.version))  # type: ignore[arg-type]
    finally:
        consumer.close()
    return out


def test_recommendations_carry_segment_and_value_and_v1_consumers_still_read_them(
    deployment: tuple[ScorerSetup, Worker, pd.DataFrame],
) -> None:
    setup, worker, orders = deployment
    collect(setup, topics.CUSTOMER_PROFILES, _complete(orders))
    p = setup.producer()
    for sid, user in (("cv-known", USERS[5]), ("cv-new", None)):
        setup.send_record(
            p,
            topics.SESSIONS,
            sid,
            {
                "session_id": sid,
                "station_id": STATION["station_id"],
                "started_at": NOW,
                "user_id": user,
                "face": None,
            },
        )
    p.flush(10)
    both = _v1_reader_consume(setup, 2)
    assert len(both) == 2, worker.tail()
    assert [version for _, _, version in both] == [2, 2]
    by = {current["session_id"]: (old, current) for old, current, _ in both}
    old, current = by["cv-known"]
    v1_fields = load_version(SCHEMA_DIR / "recommendation.v1.avsc").raw["fields"]
    assert set(old) == {f["name"] for f in v1_fields}
    assert {k: current[k] for k in old} == old  # v1's view is v2 without the new fields
    model = customer_model.load(setup.customer_model_dir)
    mine = orders[orders["user_id"] == USERS[5]].rename(columns={"placed_at": "placed_at_ms"})
    _, rfm = from_orders(mine, NOW)
    expected = customer_model.profile_columns(model, rfm)
    assert current["segment"] == expected["segment"][0]
    assert current["clv_fen"] == pytest.approx(float(expected["clv_fen"][0]), rel=1e-9)
    assert by["cv-new"][1]["segment"] is None and by["cv-new"][1]["clv_fen"] is None


def test_a_corrupt_customer_model_stops_the_worker_with_the_reason(
    deployment: tuple[ScorerSetup, Worker, pd.DataFrame], tmp_path: Path
) -> None:
    setup, _, _ = deployment
    bad = tmp_path / "customers"
    shutil.copytree(setup.customer_model_dir, bad)
    meta = json.loads((bad / customer_model.FILE).read_text())
    meta["params"]["bgnbd"]["r"] = 9.0
    (bad / customer_model.FILE).write_text(json.dumps(meta))
    env = {**setup.env("bad", 0), "SCORER_CUSTOMER_MODEL_DIR": str(bad)}
    done = subprocess.run(
        [sys.executable, "-m", "streams.worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "corrupt: its parameters do not match their SHA-256" in done.stderr
