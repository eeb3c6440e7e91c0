"""The outlook's four predictions of next month's class, on a small journey."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from model.outlook import journeys, profitability
from model.outlook import next_class as outlook


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return outlook.evaluate(journeys.generate(3_000, 10, seed=2), seed=0, progress=False, epochs=4)


def test_every_prediction_is_judged_on_the_same_held_out_months(report: dict[str, Any]) -> None:
    assert report["held_out_customers"] == 600
    assert report["examples"] == 600 * (10 - profitability.WINDOW)
    for name in ("sequence", "persistence", "logistic", "bayes"):
        m = report[name]
        assert 0 < m["accuracy"] <= 1 and np.isfinite(m["log_loss"]), name
        assert sum(c["support"] for c in m["per_class"].values()) == report["examples"]


def test_the_truth_predicts_better_than_persistence(report: dict[str, Any]) -> None:
    bayes, persistence = report["bayes"], report["persistence"]
    assert bayes["accuracy"] > persistence["accuracy"]
    assert bayes["log_loss"] < persistence["log_loss"]


def test_no_model_has_a_much_lower_log_loss_than_the_truth(report: dict[str, Any]) -> None:
    """In expectation none can: the slack is for the draws of 600 customers."""
    for name in ("sequence", "logistic"):
        assert report["bayes"]["log_loss"] < report[name]["log_loss"] + 0.02, name


def test_sequence_inputs_mark_only_months_with_a_next_class() -> None:
    drawn = journeys.generate(50, 6, seed=1)
    days, spend = profitability.grids(drawn.months)
    labels, fitted = profitability.classes_over_time(days, spend)
    x, y = outlook.inputs(days, spend, labels, fitted)
    first = profitability.WINDOW - 1
    assert (y[:, :first] == -1).all() and (y[:, -1] == -1).all()
    assert np.array_equal(y[:, first], labels[:, 1])
    assert np.allclose(x[:, first:, 5:8].sum(axis=2), 1) and not x[:, :first, 5:8].any()
