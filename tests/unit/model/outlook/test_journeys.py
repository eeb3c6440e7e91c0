"""The journeys' truth is what they draw: transitions, emissions, the loyalty's noise."""

from __future__ import annotations

import numpy as np
import pytest

from model.outlook import journeys

N, MONTHS = 20_000, 12


@pytest.fixture(scope="module")
def drawn() -> journeys.Journeys:
    return journeys.generate(N, MONTHS, seed=3)


def test_the_same_seed_draws_the_same_journeys() -> None:
    a, b = journeys.generate(200, 6, seed=9), journeys.generate(200, 6, seed=9)
    assert a.orders.equals(b.orders) and a.months.equals(b.months)
    assert not a.months.equals(journeys.generate(200, 6, seed=10).months)


def test_states_move_by_the_true_next_state_distribution(drawn: journeys.Journeys) -> None:
    m = drawn.months.sort_values(["customer_id", "month"])
    state = m["state"].to_numpy().reshape(N, MONTHS)
    z = drawn.customers["z"].to_numpy()
    now, nxt = state[:, :-1].ravel(), state[:, 1:].ravel()
    expected = journeys.next_state(np.repeat(z, MONTHS - 1), now)
    for s in range(3):  # observed against expected transitions out of each state
        rows = now == s
        seen = np.bincount(nxt[rows], minlength=3) / rows.sum()
        assert np.abs(seen - expected[rows].mean(axis=0)).max() < 0.01, (s, seen)


def test_the_tilt_keeps_loyal_customers_engaged() -> None:
    p = journeys.next_state(np.array([-2.0, 0.0, 2.0]), np.array([0, 0, 0]))
    assert np.allclose(p.sum(axis=1), 1) and p[0, 0] < p[1, 0] < p[2, 0]
    assert np.allclose(p[1], journeys.TRANSITIONS[0])


def test_purchase_days_and_orders_follow_the_state(drawn: journeys.Journeys) -> None:
    by_state = drawn.months.groupby("state")["purchase_days"].mean()
    assert np.allclose(by_state.to_numpy(), journeys.DAYS_BY_STATE, rtol=0.05, atol=0.02)
    assert len(drawn.orders) == drawn.months["purchase_days"].sum()
    spend = drawn.orders.groupby(["customer_id", "month"])["amount"].sum()
    kept = drawn.months.set_index(["customer_id", "month"])["spend"]
    assert np.allclose(kept.loc[spend.index].to_numpy(), spend.to_numpy())


def test_each_customer_buys_cells_by_their_own_taste(drawn: journeys.Journeys) -> None:
    heavy = drawn.orders["customer_id"].value_counts().index[0]
    theirs = drawn.orders[drawn.orders["customer_id"] == heavy]
    cells = {c: i for i, c in enumerate(journeys.CELLS)}
    index = [
        cells[c]
        for c in zip(
            theirs["lottery_type"], theirs["station_type"], theirs["hour_band"], strict=True
        )
    ]
    seen = np.bincount(index, minlength=len(cells)) / len(index)
    p = journeys.cell_probabilities(drawn.taste[[heavy]])[0]
    assert 0.5 * np.abs(seen - p).sum() < 0.15 + 3 / np.sqrt(len(index))  # total variation


def test_the_loyalty_on_record_is_the_truth_plus_its_documented_noise(
    drawn: journeys.Journeys,
) -> None:
    c = drawn.customers
    floor = np.sqrt(np.mean((c["loyalty"] - c["loyalty_true"]) ** 2))
    assert abs(floor - journeys.LOYALTY_NOISE_SD) < 0.1
    assert np.corrcoef(c["loyalty_true"], c["z"])[0, 1] > 0.7


def test_a_journey_needs_a_customer_and_two_months() -> None:
    with pytest.raises(ValueError, match="two months"):
        journeys.generate(10, 1, seed=0)
