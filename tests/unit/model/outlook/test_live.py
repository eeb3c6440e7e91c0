"""The outlook on the stream's histories: journeys whose truth is known, placed on the
calendar as orders and kept by model/customers/history.py, give back the journeys' own
monthly series and purchase matrix, and so the outlook's own predictions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from model.customers import history
from model.mlp.features import LOTTERY_TYPES, STATION_TYPES
from model.outlook import journeys, loyalty, sequence
from model.outlook import live as outlook_live
from model.outlook import next_class as outlook
from model.outlook.artifact import OutlookModel

MONTHS = 8
START = 2025 * 12  # January 2025 is the journeys' month 0
BAND_HOUR = {"morning": 9, "midday": 12, "afternoon": 15, "evening": 20}


def _at(month: int, day: int, hour: int) -> int:
    """Epoch ms of a local (Hubei) time."""
    local = datetime(month // 12, month % 12 + 1, day, hour, tzinfo=UTC)
    return int((local - timedelta(hours=8)).timestamp() * 1000)


def _histories(drawn: journeys.Journeys) -> list[dict[str, Any]]:
    """Each journey's orders as the stream would record them: purchase day k of a month
    on the month's day k, at an hour of its band."""
    out: list[dict[str, Any] | None] = [None] * len(drawn.customers)
    day_of: dict[tuple[int, int], int] = {}
    o = drawn.orders
    rows = zip(
        o["customer_id"].tolist(),
        o["month"].tolist(),
        o["lottery_type"].tolist(),
        o["station_type"].tolist(),
        o["hour_band"].tolist(),
        o["amount"].tolist(),
        strict=True,
    )
    for i, (c, m, lottery_type, station_type, band, amount) in enumerate(rows):
        day_of[c, m] = day_of.get((c, m), 0) + 1
        at = _at(START + m, day_of[c, m], BAND_HOUR[band])
        order = {
            "order_id": f"o-{i}",
            "lottery_type": lottery_type,
            "amount": round(amount * 100),
            "placed_at_ms": at,
        }
        out[c], added = history.add_order(out[c], order, "wuhan", station_type)
        assert added == "recorded"
    return [h if h is not None else history.empty() for h in out]


@pytest.fixture(scope="module")
def world() -> tuple[journeys.Journeys, outlook.Prepared, OutlookModel, list[dict[str, Any]]]:
    drawn = journeys.generate(300, MONTHS, seed=7)
    data = outlook.prepare(drawn, seed=0)
    trained = outlook.fit_sequence(data, seed=0, epochs=3, progress=False)
    fitted = loyalty.fit(loyalty.Inputs.of(drawn, data.days, data.spend), data.train, seed=0)
    model = OutlookModel(
        data.fitted[-1], trained.network, fitted, version="outlook-test", data={"months": MONTHS}
    )
    return drawn, data, model, _histories(drawn)


def test_the_histories_give_back_the_journeys_series_and_purchase_matrix(world: Any) -> None:
    drawn, data, _, histories = world
    as_of = [_at(START + MONTHS, 1, 12)] * len(histories)  # the first day after the journeys
    days, spend, counts = outlook_live.series(histories, as_of, MONTHS)
    assert np.array_equal(days, data.days)
    assert np.allclose(spend, data.spend, atol=1e-9)
    assert np.array_equal(counts, loyalty.purchase_matrix(drawn.orders, len(histories)))


def test_the_month_in_progress_is_left_out_and_older_months_fall_away(world: Any) -> None:
    _, data, _, histories = world
    later = [_at(START + MONTHS + 1, 15, 12)] * len(histories)  # a month later: shifted by one
    days, _, _ = outlook_live.series(histories, later, MONTHS)
    assert np.array_equal(days[:, :-1], data.days[:, 1:]) and not days[:, -1].any()
    h, _ = history.add_order(
        histories[0],
        {"order_id": "now", "lottery_type": "OTHER", "amount": 500, "placed_at_ms": later[0]},
        "wuhan",
        "clubhouse",
    )
    again, _, _ = outlook_live.series([h], later[:1], MONTHS)
    assert np.array_equal(again[0], days[0])  # its month is the one in progress


def test_the_live_outlook_is_the_models_own(world: Any) -> None:
    _, data, model, histories = world
    as_of = [_at(START + MONTHS, 1, 12)] * len(histories)
    got = outlook_live.predict(model, histories, as_of)
    assert set(got[0]) == set(outlook_live.FIELDS)
    assert {g["outlook_month"] for g in got} == {"2025-09"}
    assert {g["outlook_version"] for g in got} == {"outlook-test"}
    lo = model.loyalty.predict(
        loyalty.Inputs.of(data.drawn, data.days, data.spend).counts,
        loyalty.history_features(data.days, data.spend),
    )
    assert np.allclose([g["loyalty_score"] for g in got], lo)
    p = np.array([[g["p_high"], g["p_medium"], g["p_low"]] for g in got])
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    # offline, each month is scaled and classed by its own window's clusters; live, by
    # the last window's: the same pick for nearly every customer
    offline = sequence.predict_proba(model.network, data.x)[:, -1]
    agree = (p.argmax(axis=1) == offline.argmax(axis=1)).mean()
    assert agree >= 0.9, agree
    assert [g["next_month_class"] for g in got] == [
        ("high", "medium", "low")[k] for k in p.argmax(axis=1)
    ]


def test_a_history_keeps_18_months_and_the_cells_bounded() -> None:
    h: dict[str, Any] | None = None
    for k in range(30 * 4):  # four orders a month for 30 months, cycling through cells
        month, lt = START + k // 4, LOTTERY_TYPES[k % 6]
        order = {
            "order_id": f"o-{k}",
            "lottery_type": lt,
            "amount": 100 * (k + 1),
            "placed_at_ms": _at(month, 1 + k % 4, 8 + k % 13),
        }
        h, _ = history.add_order(h, order, "wuhan", STATION_TYPES[k % 5])
    assert h is not None
    assert [m[0] for m in h["months"]] == list(range(START + 12, START + 30))
    assert all(m[1] == 4 for m in h["months"])  # four purchase days each
    assert h["months"][-1][2] == sum(100 * (k + 1) for k in range(116, 120))
    assert sum(h["cells"].values()) == 120 and len(h["cells"]) <= len(journeys.CELLS)
    repeat = {
        "order_id": "o-119",
        "lottery_type": "OTHER",
        "amount": 1,
        "placed_at_ms": _at(START + 29, 4, 20),
    }
    same, added = history.add_order(h, repeat, "wuhan", "clubhouse")
    assert added == "repeated" and same["months"] == h["months"] and same["cells"] == h["cells"]


def test_hour_bands_follow_the_local_clock() -> None:
    assert [journeys.hour_band(h) for h in (0, 10, 11, 13, 14, 17, 18, 23)] == [
        "morning",
        "morning",
        "midday",
        "midday",
        "afternoon",
        "afternoon",
        "evening",
        "evening",
    ]
