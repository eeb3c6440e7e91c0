"""The loyalty score's inputs, and the noise floor's posterior judged on draws of its own
process."""

from __future__ import annotations

import numpy as np
import pytest

from model.outlook import journeys, loyalty, loyalty_bayes, profitability


@pytest.fixture(scope="module")
def drawn() -> journeys.Journeys:
    return journeys.generate(600, 18, seed=4)


@pytest.fixture(scope="module")
def inputs(drawn: journeys.Journeys) -> loyalty.Inputs:
    days, spend = profitability.grids(drawn.months)
    return loyalty.Inputs.of(drawn, days, spend)


def test_the_purchase_matrix_counts_each_order_in_its_cell(
    drawn: journeys.Journeys, inputs: loyalty.Inputs
) -> None:
    per_customer = drawn.orders.groupby("customer_id").size()
    assert np.array_equal(inputs.counts.sum(axis=1)[per_customer.index], per_customer.to_numpy())
    first = drawn.orders.iloc[0]
    cell = journeys.CELLS.index((first.lottery_type, first.station_type, first.hour_band))
    assert inputs.counts[first.customer_id, cell] >= 1


def test_history_features_read_the_moves_between_months() -> None:
    days = np.array([[0, 2, 0, 2, 5, 5], [3, 3, 3, 3, 3, 3]], dtype=float)
    spend = days * 10
    f = loyalty.history_features(days, spend)
    assert f.shape == (2, 13)
    # customer 0: two months without purchases, both followed by one with; three with,
    # one of them followed by one without
    assert f[0, 9] == 1.0 and f[0, 10] == pytest.approx(1 / 3)
    assert f[1, 0] == 0 and f[1, 1] == 18 and f[1, 5] == 1.0 and f[1, 9] == 0


def test_the_drive_posterior_is_calibrated(drawn: journeys.Journeys) -> None:
    """Its stated variance is the error it makes, and it knows more than the prior."""
    days, spend = profitability.grids(drawn.months)
    mean, var = loyalty_bayes.drive_posterior(days, spend)
    error = np.mean((mean - drawn.customers["z"].to_numpy()) ** 2)
    assert 0.8 < error / var.mean() < 1.25
    assert var.mean() < 0.7  # the prior's is 1


def test_the_taste_posterior_is_calibrated(
    drawn: journeys.Journeys, inputs: loyalty.Inputs
) -> None:
    mean, var = loyalty_bayes.taste_posterior(inputs.counts)
    error = np.mean((mean - drawn.taste @ journeys.loyalty_direction()) ** 2)
    assert 0.75 < error / var.mean() < 1.3
    assert var.mean() < 0.5


def test_without_orders_the_posterior_is_the_prior() -> None:
    post = loyalty_bayes.posterior(np.zeros((1, 6)), np.zeros((1, 6)), np.zeros((1, 120)))
    # no purchases in six months says the drive is low, but the taste stays at its prior
    assert post.mean[0] < 50
    _, wu_var = loyalty_bayes.taste_posterior(np.zeros((1, 120)))
    assert wu_var[0] == pytest.approx(1.0)


def test_mf_and_gbdt_are_fitted_on_the_rows_given(inputs: loyalty.Inputs) -> None:
    train = np.arange(450)
    fitted = loyalty.fit(inputs, train, seed=0)
    assert {(r["weighting"], r["rank"]) for r in fitted.choices} == {
        (w, r) for w in loyalty.WEIGHTINGS for r in loyalty.RANKS
    }
    guess = fitted.predict(inputs.counts[450:], inputs.history[450:])
    held_out = inputs.loyalty[450:]
    assert loyalty.rmse(held_out, guess) < loyalty.rmse(held_out, np.full(150, held_out.mean()))
