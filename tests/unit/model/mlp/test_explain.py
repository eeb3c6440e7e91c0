"""Integrated gradients: attributions that add up, and the right input named when only one
can matter."""

from __future__ import annotations

import numpy as np
import torch

from model.mlp import explain
from model.mlp.artifact import Artifact
from model.mlp.features import CLASSES, FEATURE_NAMES, Imputation
from model.mlp.network import PurchaseMLP
from model.production import drift

N = len(FEATURE_NAMES)


IMPUTATION = Imputation(50.0, "none", "neutral", 5.0, "TWO_COLOR_BALL")


def _artifact(network: torch.nn.Module, shares: dict[str, list[float]]) -> Artifact:
    return Artifact(
        "test",
        network,  # type: ignore[arg-type]
        IMPUTATION,
        CLASSES,
        input_shares=shares,
    )


def _one_hot_session(rng: np.random.Generator) -> np.ndarray:
    x = np.zeros(N, dtype=np.float32)
    for item in drift.INPUTS:
        if len(item.columns) == 1:
            x[item.columns[0]] = rng.integers(0, 2)
        else:
            x[rng.choice(item.columns)] = 1.0
    return x


def test_attributions_add_up_to_the_change_of_the_top_picks_probability() -> None:
    torch.manual_seed(0)
    network = PurchaseMLP(N, len(CLASSES)).eval()
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = _one_hot_session(rng)
        base = np.full(N, 0.2, dtype=np.float32)
        a, p, p_base = explain.integrated_gradients(network, x, base, target=2)
        assert abs(a.sum() - (p - p_base)) < 0.01 * max(abs(p - p_base), 0.05)
        zero, _, _ = explain.integrated_gradients(network, base, base, target=2)
        assert np.abs(zero).max() == 0


def test_only_the_input_the_network_reads_is_named() -> None:
    """A network whose logits read input 7 alone: every other attribution is zero, and
    input 7's is the whole change."""
    network = torch.nn.Linear(N, len(CLASSES), bias=True)
    with torch.no_grad():
        network.weight.zero_()
        network.weight[2, 7] = 3.0
        network.bias.zero_()
    model = _artifact(network, {})
    x = np.zeros(N, dtype=np.float32)
    x[7] = 1.0
    probabilities = torch.softmax(network(torch.as_tensor(x)), dim=0).detach().numpy()
    out = explain.explain(model, x, probabilities)
    assert out["top_pick"] == CLASSES[2]
    assert out["inputs"][0]["input"] == FEATURE_NAMES[7]
    assert out["inputs"][0]["attribution"] > 0.4 and abs(out["gap"]) < 1e-3
    assert all(abs(r["attribution"]) < 1e-7 for r in out["inputs"][1:])
    group = FEATURE_NAMES[7].split("=")[0]
    assert next(iter(out["features"])) == group


def test_the_baseline_is_the_average_training_session() -> None:
    shares = {item.name: [1 / item.categories] * item.categories for item in drift.INPUTS}
    b = explain.baseline(_artifact(torch.nn.Identity(), shares))
    for item in drift.INPUTS:
        assert np.allclose(b[list(item.columns)], 1 / item.categories)
    assert not explain.baseline(_artifact(torch.nn.Identity(), {})).any()
