"""RFM: the same figures from orders and from the stream's history, CDNOW's published
summary from its raw purchases, and scores and segments as the map gives them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from model.customers import cdnow, history, rfm
from model.customers.clusters import Clusters
from model.customers.segments import SEGMENTS, Quintiles, segments

DAY = history.DAY_MS
T0 = 1_721_980_800_000


def _orders(n_users: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_user = rng.integers(1, 12, n_users)
    users = np.repeat([f"u-{i:04d}" for i in range(n_users)], per_user)
    at = T0 + rng.integers(0, 200 * DAY, len(users))
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(users))],
            "user_id": users,
            "placed_at_ms": at,
            "amount": rng.integers(200, 3000, len(users)),
            "lottery_type": "TWO_COLOR_BALL",
        }
    )


def test_orders_and_history_summaries_give_the_same_rfm() -> None:
    orders = _orders()
    now = T0 + 220 * DAY
    users, offline = rfm.from_orders(orders, now)
    summaries: dict[str, Any] = {}
    records: list[dict[str, Any]] = orders.sort_values("placed_at_ms").to_dict("records")  # type: ignore[assignment]
    for o in records:
        summaries[o["user_id"]], _ = history.add_order(
            summaries.get(o["user_id"]), o, "Wuhan", "supermarket"
        )
    live = rfm.from_summaries([history.summary(summaries[u]) for u in users], now)  # type: ignore[misc]
    for name in ("frequency", "recency_days", "age_days", "days_since_last", "monetary"):
        np.testing.assert_allclose(getattr(live, name), getattr(offline, name), err_msg=name)


def test_cdnow_raw_purchases_give_the_published_summary() -> None:
    users, got = rfm.from_orders(cdnow.transactions(), cdnow.calibration_end_ms())
    published = cdnow.summary().set_index("ID").loc[users]
    assert len(users) == 2357
    np.testing.assert_array_equal(got.frequency, published["x"])
    np.testing.assert_allclose(got.recency_days / 7, published["t_x"], atol=0.005)  # 2 decimals
    np.testing.assert_allclose(got.age_days / 7, published["T"], atol=0.005)


def test_orders_after_the_reference_time_are_not_seen() -> None:
    orders = _orders()
    cut = T0 + 100 * DAY
    _, seen = rfm.from_orders(orders, cut)
    assert (seen.last_ms <= cut).all() and (seen.days_since_last >= 0).all()


def _population() -> rfm.Rfm:
    return rfm.from_orders(_orders(2000, seed=5), T0 + 220 * DAY)[1]


def test_quintile_scores_split_the_population_and_score_one_customer_alike() -> None:
    pop = _population()
    q = Quintiles.fit(pop)
    r, f, m = q.scores(pop)
    for scores in (r, f, m):
        assert set(np.unique(scores)) <= {1, 2, 3, 4, 5}
    assert abs(np.mean(m == 5) - 0.2) < 0.03  # spend is continuous: near-even fifths
    one = pop.take(np.array([17]))
    assert tuple(int(s[0]) for s in q.scores(one)) == (r[17], f[17], m[17])
    assert r[np.argmin(pop.days_since_last)] == 5 and r[np.argmax(pop.days_since_last)] == 1
    assert Quintiles.from_dict(q.as_dict()) == q


def test_the_segment_map_names_its_corners() -> None:
    r = np.array([5, 5, 1, 1, 3, 4, 2])
    f = np.array([5, 1, 1, 5, 3, 1, 3])
    assert list(segments(r, f)) == [
        "Champions",
        "New",
        "Lost",
        "Can't Lose Them",
        "Need Attention",
        "Promising",
        "At Risk",
    ]
    every = segments(np.repeat(np.arange(1, 6), 5), np.tile(np.arange(1, 6), 5))
    assert set(every) == set(SEGMENTS)  # the map uses all eleven names


def test_clusters_are_the_same_from_the_same_data_whatever_the_row_order() -> None:
    pop = _population()
    first = Clusters.fit(pop, 6)
    shuffled = pop.take(np.random.default_rng(1).permutation(len(pop)))
    again = Clusters.fit(shuffled, 6)
    assert again.labels == first.labels
    np.testing.assert_allclose(again.centroids, first.centroids, atol=1e-6)
    assert Clusters.from_dict(first.as_dict()) == first
    sizes = np.bincount(first.assign(pop), minlength=6)
    assert (sizes > 0).all()


@pytest.mark.parametrize("k", [0, 10_000])
def test_cluster_counts_that_cannot_work_are_refused(k: int) -> None:
    with pytest.raises(ValueError):
        Clusters.fit(_population(), k)
