"""The outlook's commands end to end on journeys whose truth is known: train-outlook, then
evaluate, judged against the generator's ceilings (smaller than the run in
docs/concepts/customers.md, so the
slack is for the draws)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model", "customers", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("outlook")
    done = _run(
        "train-outlook",
        "--out",
        str(root / "model"),
        "--customers",
        "6000",
        "--months",
        "12",
        "--epochs",
        "12",
        "--seed",
        "5",
    )
    assert done.returncode == 0, done.stderr
    done = _run("evaluate", "--model", str(root / "model"), "--out", str(root / "report"))
    assert done.returncode == 0, done.stderr
    return root, json.loads((root / "report" / "metrics.json").read_text())


def test_the_report_has_every_figure_it_promises(evaluated: tuple[Path, dict[str, Any]]) -> None:
    root, m = evaluated
    assert m["n_customers"] == 6000 and m["held_out_customers"] == 1200
    for name in ("sequence", "persistence", "logistic", "bayes"):
        assert {"accuracy", "macro_f1", "log_loss"} <= m["profitability"][name].keys()
    for name in ("mf_gbdt", "gbdt", "mean"):
        assert m["loyalty"][name]["rmse"] > 0
    assert m["loyalty"]["noise_floor_rmse"] > m["loyalty"]["noise_sd"]
    for name in ("report.md", "class_shares.png", "loyalty.png"):
        assert (root / "report" / name).stat().st_size > 1000, name
    assert m["model_version"] in (root / "report" / "report.md").read_text()


def test_next_months_class_beats_persistence_and_stays_below_the_truth(
    evaluated: tuple[Path, dict[str, Any]],
) -> None:
    p = evaluated[1]["profitability"]
    assert p["sequence"]["macro_f1"] > p["persistence"]["macro_f1"]
    assert p["sequence"]["log_loss"] < p["persistence"]["log_loss"]
    assert p["bayes"]["accuracy"] > p["sequence"]["accuracy"] - 0.01
    assert p["bayes"]["log_loss"] < p["sequence"]["log_loss"] + 0.01


def test_loyalty_embeddings_help_and_no_model_beats_the_floor(
    evaluated: tuple[Path, dict[str, Any]],
) -> None:
    lo = evaluated[1]["loyalty"]
    assert lo["mf_gbdt"]["rmse"] < lo["gbdt"]["rmse"] < lo["mean"]["rmse"]
    assert lo["noise_floor_rmse"] < lo["mf_gbdt"]["rmse"] + 0.2
    # the floor's realised RMSE agrees with the one its posterior variances expect
    assert abs(lo["noise_floor_rmse"] / lo["noise_floor_expected_rmse"] - 1) < 0.08


def test_evaluate_refuses_a_corrupt_artifact(evaluated: tuple[Path, dict[str, Any]]) -> None:
    model = evaluated[0] / "model"
    weights = model / "sequence.pt"
    kept = weights.read_bytes()
    try:
        weights.write_bytes(kept[:-10])
        done = _run("evaluate", "--model", str(model), "--out", str(evaluated[0] / "again"))
        assert done.returncode == 1 and "sequence.pt is corrupt" in done.stderr
    finally:
        weights.write_bytes(kept)


def test_too_few_months_are_refused_with_the_reason(tmp_path: Path) -> None:
    done = _run("train-outlook", "--out", str(tmp_path), "--months", "4")
    assert done.returncode == 1 and "--months 4: at least 6" in done.stderr
    done = _run("train-outlook", "--out", str(tmp_path), "--customers", "0")
    assert done.returncode == 2 and "must be positive" in done.stderr
