"""The generator: deterministic, in range, and with the shape the process promises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.mlp.features import CLASSES, EMOTIONS, EXPRESSIONS, Imputation, encode, local_hour
from model.synthetic import generator, truth


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generator.generate(20_000, seed=11)


def test_same_seed_same_data_other_seed_other_data(frame: pd.DataFrame) -> None:
    again = generator.generate(20_000, seed=11)
    pd.testing.assert_frame_equal(frame, again)
    assert generator.fingerprint(frame) == generator.fingerprint(again)
    other = generator.generate(20_000, seed=12)
    assert generator.fingerprint(other) != generator.fingerprint(frame)


def test_values_are_in_their_documented_ranges(frame: pd.DataFrame) -> None:
    assert frame["beauty"].between(0, 100).all()
    assert frame["age"].between(18, 85).all()
    assert frame["expression"].isin(EXPRESSIONS).all()
    assert frame["emotion"].isin(EMOTIONS).all()
    assert frame["face_probability"].between(0, 1).all()
    assert frame["started_at"].is_monotonic_increasing
    assert (local_hour(frame["started_at"].to_numpy()) == frame["hour"]).all()


def test_no_buy_is_the_most_common_class_and_every_class_occurs(frame: pd.DataFrame) -> None:
    shares = frame["class_name"].value_counts(normalize=True)
    assert shares.idxmax() == "NO_BUY"
    assert set(shares.index) == set(CLASSES)
    assert shares.min() > 0.02


def test_orders_follow_buying_sessions_only(frame: pd.DataFrame) -> None:
    buys = frame[frame["class_name"] != "NO_BUY"]
    assert buys["order_type"].notna().all() and (buys["order_amount"] > 0).all()
    assert (buys["order_at"] > buys["started_at"]).all()
    direct = buys[buys["class_name"] != "OTHER"]
    assert (direct["order_type"] == direct["class_name"]).all()
    assert frame.loc[frame["class_name"] == "NO_BUY", "order_type"].isna().all()


def test_new_users_have_no_history_and_the_station_city(frame: pd.DataFrame) -> None:
    new = frame[frame["is_new_user"]]
    assert 0.15 < len(new) / len(frame) < 0.45
    assert new["total_purchase_days"].isna().all() and new["frequent_type"].isna().all()
    assert (new["city"] == new["station_city"]).all()


def test_identity_on_the_wire_is_consistent(frame: pd.DataFrame) -> None:
    counter = frame["counter_user_id"].notna()
    matched = frame["matched_user_id"].notna()
    assert not (counter & matched).any()
    assert (frame.loc[counter, "counter_user_id"] == frame.loc[counter, "user_id"]).all()
    assert (frame.loc[matched, "match_score"] >= 80).all()
    assert (
        frame.loc[frame["user_id"].isna(), ["counter_user_id", "matched_user_id"]]
        .isna()
        .all()
        .all()
    )


def test_labels_follow_the_true_posterior(frame: pd.DataFrame) -> None:
    # Calibration of the truth itself: observed class shares match mean true probabilities.
    x = encode(frame, Imputation.from_frame(frame)).x
    p = truth.posterior(x)
    observed = np.bincount(frame["label"], minlength=len(CLASSES)) / len(frame)
    np.testing.assert_allclose(observed, p.mean(axis=0), atol=0.012)
    assert truth.bayes_scores(x, frame["label"].to_numpy())["accuracy"] > observed.max()
