"""A small training run, the artifact's checks, the predictor and the commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from model.mlp import artifact
from model.mlp.artifact import ArtifactError
from model.mlp.features import RAW_COLUMNS
from model.mlp.predictor import Predictor
from model.mlp.train import predict_proba, prepare
from model.synthetic import truth

ROOT = Path(__file__).resolve().parents[2]
SESSIONS, SEED = 60_000, 5


@pytest.fixture(scope="module")
def model_dir(trained_model: Path) -> Path:
    return trained_model  # trained on SESSIONS sessions with SEED


def test_small_run_reaches_near_bayes(model_dir: Path) -> None:
    model = artifact.load(model_dir)
    data = prepare(SESSIONS, SEED)
    assert data.fingerprint == model.data["fingerprint"]
    p = predict_proba(model.network, data.test.x)
    accuracy = float((p.argmax(axis=1) == data.test.y).mean())
    bayes = truth.bayes_scores(data.test.x, data.test.y)
    loss = float(-np.log(p[np.arange(len(p)), data.test.y]).mean())
    assert accuracy > bayes["accuracy"] - 0.025, (accuracy, bayes)
    assert loss < bayes["log_loss"] * 1.04, (loss, bayes)


def test_artifact_records_what_serving_needs(model_dir: Path) -> None:
    meta = json.loads((model_dir / "artifact.json").read_text())
    assert meta["version"].startswith("mlp-")
    assert meta["classes"][0] == "NO_BUY" and len(meta["feature_spec"]["names"]) == 31
    assert {"beauty", "expression", "emotion", "total_purchase_days", "frequent_type"} == set(
        meta["imputation"]
    )
    assert meta["data"]["sessions"] == SESSIONS and meta["data"]["seed"] == SEED
    assert meta["metrics"]["n_train"] == int(SESSIONS * 0.7)


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    target.mkdir()
    for name in ("weights.pt", "artifact.json"):
        (target / name).write_bytes((model_dir / name).read_bytes())
    return target


def test_corrupt_weights_are_refused(model_dir: Path, tmp_path: Path) -> None:
    bad = _copy(model_dir, tmp_path)
    data = bytearray((bad / "weights.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupt"):
        artifact.load(bad)


def test_mismatched_feature_spec_is_refused(model_dir: Path, tmp_path: Path) -> None:
    bad = _copy(model_dir, tmp_path)
    meta = json.loads((bad / "artifact.json").read_text())
    meta["feature_spec"]["beauty_edges"] = [30.0, 50.0, 70.0]
    (bad / "artifact.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="feature spec mismatch in 'beauty_edges'"):
        artifact.load(bad)


def test_malicious_pickle_is_refused_not_run(model_dir: Path, tmp_path: Path) -> None:
    bad = _copy(model_dir, tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple:
            return (Path.touch, (marker,))

    torch.save({"x": Evil()}, bad / "weights.pt")
    meta = json.loads((bad / "artifact.json").read_text())
    meta["weights_sha256"] = artifact.file_sha256(bad / "weights.pt")
    (bad / "artifact.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="does not load"):
        artifact.load(bad)
    assert not marker.exists()


def test_missing_or_broken_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a model artifact"):
        artifact.load(tmp_path)
    (tmp_path / "artifact.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        artifact.load(tmp_path)


def test_predictor_ranks_buy_types_and_matches_the_network(model_dir: Path) -> None:
    predictor = Predictor.from_artifact(model_dir)
    data = prepare(SESSIONS, SEED)
    records = [
        {str(k): v for k, v in r.items()}
        for r in data.test.frame[list(RAW_COLUMNS)].head(50).to_dict("records")
    ]
    out = predictor.predict(records)
    direct = predict_proba(predictor.artifact.network, data.test.x[:50])
    for row, result in zip(direct, out, strict=True):
        probs = [r["probability"] for r in result["ranking"]]
        assert probs == sorted(probs, reverse=True)
        assert result["top_pick"] == result["ranking"][0]["lottery_type"] != "NO_BUY"
        assert abs(result["p_no_buy"] + sum(probs) - 1) < 1e-5
        assert result["p_no_buy"] == pytest.approx(float(row[0]), abs=1e-6)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _score_csv(model_dir: Path, folder: Path, batch_size: int) -> subprocess.CompletedProcess[str]:
    """`python -m model score` from folder/in.csv to folder/out.csv."""
    return _cli(
        "score",
        "--model",
        str(model_dir),
        "--input",
        str(folder / "in.csv"),
        "--output",
        str(folder / "out.csv"),
        "--batch-size",
        str(batch_size),
    )


def test_score_command_writes_predictions(model_dir: Path, tmp_path: Path) -> None:
    frame = prepare(SESSIONS, SEED).test.frame[list(RAW_COLUMNS)].head(2_500)
    frame.to_csv(tmp_path / "in.csv", index=False)
    done = _score_csv(model_dir, tmp_path, batch_size=1000)
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 2_500
    p = out[[c for c in out.columns if str(c).startswith("p_")]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-4)
    expected = Predictor.from_artifact(model_dir).score_frame(frame.reset_index(drop=True))
    np.testing.assert_allclose(p, expected.probabilities, atol=1e-5)


def test_score_command_names_the_bad_row_and_column(model_dir: Path, tmp_path: Path) -> None:
    frame = prepare(SESSIONS, SEED).test.frame[list(RAW_COLUMNS)].head(1_500).copy()
    frame.loc[1_203, "hour"] = 25
    frame.to_csv(tmp_path / "in.csv", index=False)
    done = _score_csv(model_dir, tmp_path, batch_size=500)
    assert done.returncode == 1
    assert "line 1205 (row 1204), column 'hour'" in done.stderr


def test_bad_arguments_exit_non_zero_with_a_message(tmp_path: Path) -> None:
    done = _cli("train", "--sessions", "-5", "--out", str(tmp_path))
    assert done.returncode == 2 and "must be positive" in done.stderr
    done = _cli("score", "--model", str(tmp_path), "--input", "x.csv", "--output", "y.csv")
    assert done.returncode == 1 and "not a model artifact" in done.stderr


def test_evaluate_writes_the_report_with_every_figure(model_dir: Path, tmp_path: Path) -> None:
    done = _cli("evaluate", "--model", str(model_dir), "--out", str(tmp_path / "eval"))
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for key in (
        "accuracy",
        "log_loss",
        "macro_f1",
        "ece",
        "bayes_accuracy",
        "bayes_log_loss",
        "per_class",
        "baselines",
        "n_test",
    ):
        assert key in metrics, key
    assert metrics["n_test"] == int(SESSIONS * 0.15)
    assert set(metrics["baselines"]) == {"majority", "logistic_regression", "lightgbm"}
    for baseline in metrics["baselines"].values():
        assert {"accuracy", "log_loss"} <= baseline.keys()
    assert metrics["bayes_log_loss"] < metrics["baselines"]["majority"]["log_loss"]
    assert set(metrics["per_class"]) == {
        "NO_BUY",
        "TWO_COLOR_BALL",
        "TEN_TIMES_GOOD_LUCK",
        "WELFARE_3D",
        "OTHER",
    }
    buy = metrics["buy_no_buy"]
    assert set(buy) == {
        "mlp",
        "bayes",
        "logistic_regression",
        "random_forest",
        "xgboost",
        "lightgbm",
    }
    for name, scores in buy.items():
        assert {"accuracy", "precision", "recall", "f1", "auc"} <= scores.keys(), name
        assert scores["auc"] < buy["bayes"]["auc"] + 0.01, name  # none beats the truth
    importance = metrics["importance"]
    for measure in ("mlp_permutation", "bayes_permutation", "lightgbm_gain"):
        table = importance[measure]
        # what the generator makes decide No Buy: whether the customer is new
        assert max(table, key=lambda f: table[f]["NO_BUY"]) == "new_user", measure
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "Bayes-optimal" in report and "Ten Times Good Luck" in report
    assert "## Buy or not" in report and "## Feature importance per class" in report
    for image in ("confusion_matrix.png", "reliability.png", "importance.png"):
        assert (tmp_path / "eval" / image).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_refuses_an_artifact_whose_data_cannot_be_regenerated(
    model_dir: Path, tmp_path: Path
) -> None:
    bad = _copy(model_dir, tmp_path)
    meta = json.loads((bad / "artifact.json").read_text())
    meta["data"]["fingerprint"] = "0000000000000000"
    (bad / "artifact.json").write_text(json.dumps(meta))
    done = _cli("evaluate", "--model", str(bad), "--out", str(tmp_path / "eval"))
    assert done.returncode == 1 and "fingerprint" in done.stderr
