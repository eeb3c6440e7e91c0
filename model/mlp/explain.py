"""Why a recommendation picked what it did: integrated gradients over the 31 inputs.

For a session's top pick k (the most probable buy class), each input's attribution is

    (x_i - b_i) * mean over the path of d p_k / d x_i,   the path b + a (x - b), a in (0, 1),

taken at STEPS midpoints. b, the baseline, is the average training session: each input's
share over the training rows (the artifact's input shares, model/production/drift.py), or all zeros
for an artifact trained before they were kept. The attributions add up to p_k(x) - p_k(b)
but for the path's discretisation (`gap` says by how much), so each one says how many
points of the top pick's probability that input moved, against the average session. The
inputs of one feature (a one-hot group) are also summed, as that feature's push.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from model.mlp import artifact, features
from model.mlp.features import CLASSES, FEATURE_NAMES

STEPS = 64
TOP_INPUTS = 8


def baseline(model: artifact.Artifact) -> np.ndarray:
    """The average training session's inputs (zeros without the artifact's input shares)."""
    b = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    for item in features.INPUTS:
        shares = model.input_shares.get(item.name)
        if shares is not None:
            b[list(item.columns)] = shares[: len(item.columns)]
    return b


def integrated_gradients(
    network: torch.nn.Module, x: np.ndarray, base: np.ndarray, target: int, steps: int = STEPS
) -> tuple[np.ndarray, float, float]:
    """(attributions of every input to p_target, p_target at x, p_target at the baseline)."""
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    xt, bt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(base, dtype=torch.float32)
    path = (bt + alphas[:, None] * (xt - bt)).requires_grad_(True)
    torch.softmax(network(path), dim=1)[:, target].sum().backward()
    assert path.grad is not None
    attributions = ((xt - bt) * path.grad.mean(dim=0)).numpy()
    with torch.no_grad():
        ends = torch.softmax(network(torch.stack([xt, bt])), dim=1)[:, target].numpy()
    return attributions, float(ends[0]), float(ends[1])


def explain(model: artifact.Artifact, x: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """One session's explanation: what pushed its top pick, input by input and by feature."""
    target = 1 + int(np.argmax(probabilities[1:]))  # the top pick: the best buy class
    attributions, p, p_base = integrated_gradients(model.network, x, baseline(model), target)
    by_input = sorted(range(len(FEATURE_NAMES)), key=lambda i: -abs(attributions[i]))
    by_feature = {
        item.name: float(attributions[list(item.columns)].sum()) for item in features.INPUTS
    }
    return {
        "top_pick": CLASSES[target],
        "probability": p,
        "baseline_probability": p_base,
        "gap": float(p - p_base - attributions.sum()),
        "inputs": [
            {"input": FEATURE_NAMES[i], "value": float(x[i]), "attribution": float(attributions[i])}
            for i in by_input[:TOP_INPUTS]
        ],
        "features": dict(sorted(by_feature.items(), key=lambda kv: -abs(kv[1]))),
    }
