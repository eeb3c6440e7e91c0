"""The buy/no-buy scores and the importance measures, on cases whose answer is known."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from model.mlp import propensity
from model.mlp.features import CLASSES, FEATURE_NAMES
from model.production import drift

N = len(FEATURE_NAMES)


def test_buy_scores_count_at_one_half() -> None:
    bought = np.array([1, 1, 0, 0])
    got = propensity.buy_scores(bought, np.array([0.9, 0.4, 0.6, 0.1]))
    assert got["accuracy"] == 0.5 and got["precision"] == 0.5 and got["recall"] == 0.5
    assert got["auc"] == pytest.approx(0.75)


def test_permutation_names_only_the_feature_a_predictor_reads() -> None:
    """Class 1's probability follows new_user alone: shuffling anything else costs nothing."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (4000, N)).astype(np.float32)
    column = FEATURE_NAMES.index("new_user")
    y = np.where(x[:, column] > 0, 1, rng.integers(0, len(CLASSES), len(x)))

    def predict(inputs: np.ndarray) -> np.ndarray:
        p = np.full((len(inputs), len(CLASSES)), 0.1)
        p[:, 1] += 0.5 * inputs[:, column]
        return p / p.sum(axis=1, keepdims=True)

    got = propensity.permutation_importance(predict, x, y)
    assert got["new_user"]["TWO_COLOR_BALL"] > 0.2
    assert all(abs(got[f][c]) < 1e-12 for f in got if f != "new_user" for c in CLASSES)


def test_gain_shares_are_per_class_and_find_the_feature_that_splits() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (3000, N)).astype(np.float32)
    hour = drift.INPUTS[[i.name for i in drift.INPUTS].index("hour")].columns[0]
    y = np.where(x[:, hour] > 0, 3, rng.integers(0, len(CLASSES), len(x)))
    booster = lgb.train(
        {"objective": "multiclass", "num_class": len(CLASSES), "verbose": -1},
        lgb.Dataset(x, y),
        num_boost_round=20,
    )
    got = propensity.gain_per_class(booster)
    for c in CLASSES:
        assert sum(got[f][c] for f in got) == pytest.approx(1.0)
    assert max(got, key=lambda f: got[f]["WELFARE_3D"]) == "hour"
