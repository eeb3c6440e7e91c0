"""The feature log as training data (model/production/feature_log.py, `train --from-file`),
without a
broker: the stream's record of a session encodes and decodes, a logged vector that is not
what the raw inputs encode to is found as skew, and the same sessions train the same
model in any row order. The broker run is tests/integration/test_lifecycle.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from model.mlp import artifact
from model.mlp.features import CLASSES, RAW_COLUMNS, encode
from model.mlp.train import TrainingError, train_frame
from model.production import feature_log
from model.production.store import ModelStore
from model.synthetic import generator
from schemas.codec import Codec
from streams.records import ScoringRequest
from streams.rules.score_sessions import served_features, session_row

ROOT = Path(__file__).resolve().parents[2]
STATION = {"city": "Wuhan", "station_type": "clubhouse"}


def test_the_label_is_the_class_of_the_first_order_or_no_buy() -> None:
    assert (
        CLASSES[feature_log.label_of({"outcome": "NO_PURCHASE", "purchased_type": None})]
        == "NO_BUY"
    )
    for bought, label in (("QILECAI", "OTHER"), ("WELFARE_3D", "WELFARE_3D")):
        for outcome in ("CONVERTED_TOP_PICK", "CONVERTED_OTHER"):
            conversion = {"outcome": outcome, "purchased_type": bought}
            assert CLASSES[feature_log.label_of(conversion)] == label


def test_a_served_record_round_trips_with_its_float32_inputs(trained_model: Path) -> None:
    model = artifact.load(trained_model)
    face = {"beauty": 61.25, "expression": {"type": "laugh"}, "emotion": {"type": "happy"}}
    history = {
        "home_city": "Enshi",
        "usual_station_type": "restaurant",
        "total_purchase_days": 7,
        "frequent_type": "QILECAI",
    }
    codec = Codec()
    for face_, history_ in ((face, history), (None, None)):
        row = session_row(1_764_000_000_000, face_, STATION, history_)
        x = encode(pd.DataFrame([row], columns=list(RAW_COLUMNS)), model.imputation).x[0]
        request = ScoringRequest(
            "s-1", "st-1", 1_764_000_000_000, "u-1", face_, "joined", 1_764_000_000_500
        )
        record = served_features(request, row, x, model.version, 1_764_000_000_600)
        back = codec.decode(codec.encode("ServedFeatures", record), expect="ServedFeatures")
        assert back["raw"] == row and back["model_version"] == model.version
        assert np.array_equal(np.asarray(back["inputs"], np.float32), x)


def _logged(frame: pd.DataFrame, served: np.ndarray, version: str) -> feature_log.Logged:
    frame = frame.assign(model_version=version)
    return feature_log.Logged(frame, served, logged=len(frame), versions={version: len(frame)})


def test_a_served_vector_unlike_its_raw_inputs_is_skew(trained_model: Path, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    version = store.add(trained_model)
    frame = generator.generate(300, 3)
    x = encode(frame, store.load(version).imputation).x
    clean = feature_log.skew(_logged(frame, x.copy(), version), store)
    assert (clean.checked, clean.differing, clean.max_difference) == (300, 0, 0.0)
    x[[4, 9], 0] += 1.0  # two sessions served something else than their raw inputs give
    skewed = feature_log.skew(_logged(frame, x, version), store)
    assert skewed.differing == 2 and skewed.max_difference == pytest.approx(1.0)
    unknown = feature_log.skew(_logged(frame, x, "mlp-20000101-00000000"), store)
    assert unknown.checked == 0 and unknown.unchecked_versions == ("mlp-20000101-00000000",)


def test_the_same_sessions_train_the_same_model_in_any_order(tmp_path: Path) -> None:
    frame = generator.generate(3_000, 11)
    frame["session_id"] = [f"s-{i:05d}" for i in range(len(frame))]
    shuffled = frame.sample(frac=1.0, random_state=1)
    one = train_frame(frame, 7, tmp_path / "one", {"source": "test"}, epochs=3, progress=False)
    two = train_frame(shuffled, 7, tmp_path / "two", {"source": "test"}, epochs=3, progress=False)
    assert one.version == two.version and one.imputation == two.imputation
    for (name, a), b in zip(
        one.network.state_dict().items(), two.network.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert one.data["sessions"] == 3_000 and one.data["source"] == "test"


def test_too_few_sessions_are_refused_with_the_count(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="40 sessions are too few"):
        train_frame(generator.generate(40, 1), 7, tmp_path / "m", {}, progress=False)


def _train_from_file(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "model",
            "train",
            "--from-file",
            str(path),
            "--out",
            str(tmp_path / "out"),
            "--store",
            str(tmp_path / "store"),
            "--epochs",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_from_file_takes_labelled_sessions_and_names_a_bad_class(tmp_path: Path) -> None:
    frame = generator.generate(400, 2)
    good = frame[[*RAW_COLUMNS, "class_name"]].rename(columns={"class_name": "class"})
    good.to_csv(tmp_path / "good.csv", index=False)
    done = _train_from_file(tmp_path / "good.csv", tmp_path)
    assert done.returncode == 0 and "Trained mlp-" in done.stdout, done.stderr[-2000:]
    assert artifact.load(tmp_path / "out").data["source"] == "file good.csv"
    good.assign(**{"class": "MAYBE"}).to_csv(tmp_path / "bad.csv", index=False)
    bad = _train_from_file(tmp_path / "bad.csv", tmp_path)
    assert bad.returncode == 1 and "`class` must be one of" in bad.stderr and "MAYBE" in bad.stderr
    good.drop(columns=["class"]).to_csv(tmp_path / "unlabelled.csv", index=False)
    unlabelled = _train_from_file(tmp_path / "unlabelled.csv", tmp_path)
    assert unlabelled.returncode == 1 and "no `class` column" in unlabelled.stderr
