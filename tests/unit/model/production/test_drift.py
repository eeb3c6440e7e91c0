"""Input drift: category counts, PSI, and the worker's sliding windows."""

from __future__ import annotations

import numpy as np
import pytest

from model.mlp.features import FEATURE_NAMES, Imputation, encode
from model.production import drift
from model.synthetic import generator
from streams.rules.drift import DAY_S, DriftMonitor, SlidingCounts


@pytest.fixture(scope="module")
def encoded() -> np.ndarray:
    frame = generator.generate(40_000, 3)
    return encode(frame, Imputation.from_frame(frame)).x


def test_the_31_columns_make_10_inputs_whose_categories_add_up(encoded: np.ndarray) -> None:
    assert sum(len(i.columns) for i in drift.INPUTS) == len(FEATURE_NAMES) == 31
    assert [i.name for i in drift.INPUTS][:3] == ["beauty", "laugh", "neutral_emotion"]
    counts = drift.category_counts(encoded)
    for name, part in drift.shares(counts).items():
        assert sum(part) == pytest.approx(1.0), name


def test_psi_is_near_zero_for_the_same_population_and_large_for_a_shift(
    encoded: np.ndarray,
) -> None:
    trained = drift.shares(drift.category_counts(encoded[:20_000]))
    same = drift.psi(trained, drift.category_counts(encoded[20_000:]))
    assert set(same) == {i.name for i in drift.INPUTS}
    assert max(same.values()) < 0.01, same
    station = next(i for i in drift.INPUTS if i.name == "station_type")
    shifted = encoded[20_000:].copy()
    shifted[:, list(station.columns)] = 0.0
    shifted[:, station.columns[0]] = 1.0  # every session at a clubhouse
    psi = drift.psi(trained, drift.category_counts(shifted))
    assert psi["station_type"] > 1.0
    assert max(v for k, v in psi.items() if k != "station_type") < 0.01


def test_an_input_the_artifact_lacks_is_not_measured(encoded: np.ndarray) -> None:
    assert drift.psi({}, drift.category_counts(encoded)) == {}


def test_sliding_counts_forget_what_left_the_window() -> None:
    window = SlidingCounts(60, 6)
    ones = np.ones(drift.N_CATEGORIES)
    window.add(ones, 1000.0)
    window.add(2 * ones, 1030.0)
    assert window.total(1030.0)[0] == 3
    assert window.total(1065.0)[0] == 2  # the bucket of 1000 s has left
    assert window.total(1200.0)[0] == 0


def test_session_time_waits_for_a_day_and_others_for_enough_sessions(
    encoded: np.ndarray,
) -> None:
    trained = drift.shares(drift.category_counts(encoded))
    monitor = DriftMonitor(900, min_sessions=1000)
    monitor.add(encoded[:500], 0.0)
    assert monitor.psi(trained, 1.0) == {}
    monitor.add(encoded[500:2000], 2.0)
    assert "hour" not in monitor.psi(trained, 3.0) and "beauty" in monitor.psi(trained, 3.0)
    monitor.add(encoded[2000:4000], DAY_S + 5.0)
    late = monitor.psi(trained, DAY_S + 6.0)
    assert "hour" in late and "beauty" in late and monitor.sessions(DAY_S + 6.0) == 2000


def test_counts_are_each_category_and_none_of_them() -> None:
    station = next(i for i in drift.INPUTS if i.name == "station_type")
    laugh = next(i for i in drift.INPUTS if i.name == "laugh")
    x = np.zeros((3, 31), np.float32)
    x[0, station.columns[1]] = 1.0  # a chess room; the other two rows of type "other"
    x[:2, laugh.columns[0]] = 1.0
    counts = drift.shares(drift.category_counts(x))
    assert counts["station_type"] == pytest.approx([0, 1 / 3, 0, 0, 2 / 3])
    assert counts["laugh"] == pytest.approx([2 / 3, 1 / 3])
