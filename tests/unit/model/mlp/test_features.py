"""The 18 features of hand-written sessions are exactly what the seed model says
(docs/concepts/model.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from model.mlp.features import (
    FEATURE_NAMES,
    N_FEATURES,
    RAW_COLUMNS,
    FeatureError,
    Imputation,
    columns_from_records,
    encode,
    encode_columns,
    frame_from_records,
    local_hour,
)
from model.synthetic import generator

IMPUTATION = Imputation(
    beauty=57.0,
    expression="smile",
    emotion="neutral",
    total_purchase_days=8.0,
    frequent_type="QILECAI",
)
REGULAR: dict[str, Any] = {
    "beauty": 72.5,
    "expression": "laugh",
    "emotion": "happy",
    "hour": 19,
    "city": "Wuhan",
    "station_type": "clubhouse",
    "is_new_user": False,
    "total_purchase_days": 12,
    "frequent_type": "TEN_TIMES_GOOD_LUCK",
}
NEWCOMER: dict[str, Any] = {
    "beauty": None,
    "expression": None,
    "emotion": None,
    "hour": 8,
    "city": "Xiangyang",
    "station_type": "other",
    "is_new_user": True,
    "total_purchase_days": None,
    "frequent_type": None,
}


def on(row: np.ndarray) -> set[str]:
    return {FEATURE_NAMES[i] for i in np.flatnonzero(row)}


def test_there_are_18_features_in_31_columns() -> None:
    groups = {name.split("=")[0] for name in FEATURE_NAMES}
    # beauty, laugh, neutral, positive, hour, city(3), frequent type(4), days, new, station(4)
    assert len(groups) == 10 and N_FEATURES == 31
    seed_features = 4 + 1 + 3 + 4 + 1 + 1 + 4
    assert seed_features == 18


def test_a_returning_regular_is_encoded_one_hot() -> None:
    enc = encode(frame_from_records([REGULAR]), IMPUTATION)
    assert enc.x.dtype == np.float32 and enc.x.shape == (1, 31)
    assert on(enc.x[0]) == {
        "beauty=[70,101)",
        "laugh",
        "positive_emotion",
        "hour=[18,21)",
        "city=Wuhan",
        "frequent_type=TEN_TIMES_GOOD_LUCK",
        "purchase_days=[11,21)",
        "station_type=clubhouse",
    }
    assert not enc.imputed_face[0] and not enc.imputed_history[0]


def test_a_new_customer_without_face_is_imputed_and_flagged() -> None:
    enc = encode(frame_from_records([NEWCOMER]), IMPUTATION)
    # beauty 57 -> [55,70), smile is not a laugh, neutral emotion, days 8 -> [6,11),
    # Qilecai; Xiangyang and "other" have no column of their own.
    assert on(enc.x[0]) == {
        "beauty=[55,70)",
        "neutral_emotion",
        "hour=[0,9)",
        "frequent_type=QILECAI",
        "purchase_days=[6,11)",
        "new_user",
    }
    assert enc.imputed_face[0] and enc.imputed_history[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"beauty": 0.0}, "beauty=[0,40)"),
        ({"beauty": 39.99}, "beauty=[0,40)"),
        ({"beauty": 40.0}, "beauty=[40,55)"),
        ({"beauty": 100.0}, "beauty=[70,101)"),
        ({"hour": 0}, "hour=[0,9)"),
        ({"hour": 9}, "hour=[9,12)"),
        ({"hour": 13}, "hour=[12,14)"),
        ({"hour": 14}, "hour=[14,18)"),
        ({"hour": 23}, "hour=[21,24)"),
        ({"total_purchase_days": 0}, "purchase_days=[0,1)"),
        ({"total_purchase_days": 2}, "purchase_days=[1,3)"),
        ({"total_purchase_days": 5}, "purchase_days=[3,6)"),
        ({"total_purchase_days": 21}, "purchase_days=[21,inf)"),
        ({"frequent_type": "TWO_COLOR_BALL"}, "frequent_type=OTHER"),
        ({"frequent_type": "WELFARE_3D"}, "frequent_type=OTHER"),
        ({"frequent_type": "SHILITAOHUA"}, "frequent_type=SHILITAOHUA"),
        ({"emotion": "surprise"}, "positive_emotion"),
        ({"emotion": "neutral"}, "neutral_emotion"),
        ({"city": "Enshi"}, "city=Enshi"),
        ({"station_type": "chess_room"}, "station_type=chess_room"),
    ],
)
def test_bin_edges(change: dict[str, Any], expected: str) -> None:
    assert expected in on(encode(frame_from_records([{**REGULAR, **change}]), IMPUTATION).x[0])


def test_sad_emotion_is_neither_neutral_nor_positive_and_smile_is_no_laugh() -> None:
    row = on(
        encode(
            frame_from_records([{**REGULAR, "emotion": "sad", "expression": "smile"}]), IMPUTATION
        ).x[0]
    )
    assert not row & {"neutral_emotion", "positive_emotion", "laugh"}


def test_encoding_is_vectorised_and_row_independent() -> None:
    both = encode(frame_from_records([REGULAR, NEWCOMER] * 50), IMPUTATION).x
    one = encode(frame_from_records([NEWCOMER]), IMPUTATION).x
    assert both.shape == (100, 31)
    np.testing.assert_array_equal(both[1], one[0])
    assert encode(frame_from_records([]), IMPUTATION).x.shape == (0, 31)


def test_hour_is_taken_in_hubei_time() -> None:
    assert local_hour(0) == 8  # 1970-01-01 00:00 UTC is 08:00 in Wuhan
    assert list(local_hour(np.array([16 * 3_600_000, 23 * 3_600_000]))) == [0, 7]


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"beauty": 101}, "beauty"),
        ({"beauty": -1}, "beauty"),
        ({"expression": "grin"}, "expression"),
        ({"emotion": None}, "emotion"),
        ({"hour": 24}, "hour"),
        ({"hour": 7.5}, "hour"),
        ({"city": ""}, "city"),
        ({"station_type": "casino"}, "station_type"),
        ({"total_purchase_days": -2}, "total_purchase_days"),
        ({"total_purchase_days": None}, "total_purchase_days"),
        ({"frequent_type": "LOTTO"}, "frequent_type"),
        ({"is_new_user": "maybe"}, "is_new_user"),
    ],
)
def test_bad_values_name_the_row_and_column(change: dict[str, Any], column: str) -> None:
    rows = [REGULAR, REGULAR, {**REGULAR, **change}]
    for encode_rows in (
        lambda: encode(frame_from_records(rows), IMPUTATION),
        lambda: encode_columns(columns_from_records(rows), IMPUTATION),
    ):
        with pytest.raises(FeatureError) as caught:
            encode_rows()
        assert caught.value.row == 2 and caught.value.column == column
        assert f"row 2, column {column!r}" in str(caught.value)


def test_records_and_frames_encode_alike() -> None:
    """The stream passes records as columns; training passes frames: one encoding."""
    rng = np.random.default_rng(5)
    frame = generator.sample_sessions(generator.make_world(rng, 50, 2_000), 3_000, rng)
    frame = frame[list(RAW_COLUMNS)].copy()
    frame.loc[::3, ["beauty", "expression", "emotion"]] = None  # sessions without a face
    records = [
        {str(k): (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    a, b = encode(frame, IMPUTATION), encode_columns(columns_from_records(records), IMPUTATION)
    assert a.imputed_face.any() and a.imputed_history.any()  # both kinds are in the sample
    assert np.array_equal(a.x, b.x) and np.array_equal(a.imputed_face, b.imputed_face)
    assert np.array_equal(a.imputed_history, b.imputed_history)


def test_a_missing_column_is_named() -> None:
    with pytest.raises(FeatureError, match=r"missing column.*hour"):
        encode(pd.DataFrame([REGULAR]).drop(columns=["hour"]), IMPUTATION)
