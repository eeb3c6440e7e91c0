"""Classes of profitability per window: named by value, the same names every window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.outlook import journeys, profitability


def test_window_rfm_counts_recency_frequency_and_spend() -> None:
    days = np.array([[1, 0, 2, 0], [0, 0, 0, 0], [0, 3, 0, 1]], dtype=float)
    spend = days * 10
    rfm = profitability.window_rfm(days, spend, end=3, length=3)
    # months 1..3: the first bought 2 days in month 2 (1 month ago), the second nothing
    # (recency = the window's length), the third in month 3 (this month)
    assert rfm.tolist() == [[1, 2, 20], [3, 0, 0], [0, 4, 40]]
    with pytest.raises(ValueError, match="cannot end"):
        profitability.window_rfm(days, spend, end=1, length=3)


def test_grids_need_one_row_per_customer_and_month() -> None:
    rows = pd.DataFrame(
        {
            "customer_id": [0, 0, 1],
            "month": [0, 1, 0],
            "purchase_days": [1, 2, 3],
            "spend": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(ValueError, match="one each"):
        profitability.grids(rows)


@pytest.fixture(scope="module")
def classes() -> tuple[journeys.Journeys, np.ndarray, np.ndarray, np.ndarray]:
    drawn = journeys.generate(20_000, 12, seed=5)
    days, spend = profitability.grids(drawn.months)
    labels, _ = profitability.classes_over_time(days, spend)
    return drawn, days, spend, labels


def test_high_spends_more_than_medium_and_medium_than_low_in_every_window(
    classes: tuple[journeys.Journeys, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    _, _, spend, labels = classes
    window = profitability.WINDOW
    for i in range(labels.shape[1]):
        total = spend[:, i : i + window].sum(axis=1)
        means = [total[labels[:, i] == c].mean() for c in range(3)]
        assert means[0] > means[1] > means[2], (i, means)


def test_the_classes_follow_the_hidden_state(
    classes: tuple[journeys.Journeys, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    drawn, _, _, labels = classes
    state = drawn.months.sort_values(["customer_id", "month"])["state"].to_numpy()
    now = state.reshape(labels.shape[0], -1)[:, profitability.WINDOW - 1 :]
    engaged_high = (labels[now == 0] == 0).mean()
    dormant_high = (labels[now == 2] == 0).mean()
    assert engaged_high > 0.8 and dormant_high < 0.15, (engaged_high, dormant_high)


def test_the_same_customers_get_the_same_classes(
    classes: tuple[journeys.Journeys, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    _, days, spend, labels = classes
    again, _ = profitability.classes_over_time(days, spend)
    assert np.array_equal(labels, again)


def test_shares_are_given_for_each_window_length(
    classes: tuple[journeys.Journeys, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    _, days, spend, _ = classes
    shares = profitability.shares_by_length(days, spend, [1, 3, 6, 12])
    assert shares["months"].tolist() == [1, 3, 6, 12]
    assert np.allclose(shares[list(profitability.CLASSES)].sum(axis=1), 1.0)
