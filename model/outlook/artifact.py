"""The outlook artifact: next month's profitability class and the loyalty score, in a folder.

- `outlook.json`: format, version (creation date and content hash), the data it was
  trained on (the journeys' size, seed and fingerprint), the last window's classes
  (scaling and centroids), the GRU's shape, the loyalty embedding (weighting and the
  cells' factors), training facts, and the SHA-256 of everything else;
- `sequence.pt`: the GRU's weights (loaded with `weights_only=True`);
- `loyalty.txt`: the LightGBM booster of the loyalty score.

`load` checks every hash and shape and refuses, with the reason, an artifact that is
incomplete, corrupt or made for other inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import torch

from model.mlp.artifact import ArtifactError, file_sha256, json_sha256
from model.outlook import journeys
from model.outlook.loyalty import WEIGHTINGS, Embedding, Fitted
from model.outlook.profitability import CLASSES, WINDOW, WindowClasses
from model.outlook.sequence import NextClassGRU

FORMAT = 1
META = "outlook.json"
WEIGHTS = "sequence.pt"
BOOSTER = "loyalty.txt"
N_INPUTS = 8  # model/outlook/next_class.py: inputs()


@dataclass(frozen=True)
class OutlookModel:
    classes: WindowClasses
    network: NextClassGRU
    loyalty: Fitted
    version: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def _params(model: OutlookModel) -> dict[str, Any]:
    c, e = model.classes, model.loyalty.embedding
    return {
        "classes": {
            "names": list(CLASSES),
            "window_months": WINDOW,
            "mean": c.mean.tolist(),
            "scale": c.scale.tolist(),
            "centroids": c.centroids.tolist(),
        },
        "sequence": {"inputs": N_INPUTS, "hidden": model.network.gru.hidden_size},
        "embedding": {
            "weighting": e.weighting,
            "cells": len(journeys.CELLS),
            "components": e.components.tolist(),
        },
    }


def save(folder: Path, model: OutlookModel, created_at: str) -> str:
    """Write the artifact; returns its version."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.network.state_dict(), folder / WEIGHTS)
    model.loyalty.booster.save_model(str(folder / BOOSTER))  # its best iteration
    params = _params(model)
    files = {WEIGHTS: file_sha256(folder / WEIGHTS), BOOSTER: file_sha256(folder / BOOSTER)}
    digest = json_sha256([params, files])
    version = f"outlook-{created_at[:10].replace('-', '')}-{digest[:8]}"
    meta = {
        "format": FORMAT,
        "version": version,
        "created_at": created_at,
        "params": params,
        "files_sha256": files,
        "params_sha256": digest,
        "data": model.data,
        "facts": model.facts,
    }
    (folder / META).write_text(json.dumps(meta, indent=2) + "\n")
    return version


def load(folder: Path | str) -> OutlookModel:
    """Load and check the artifact; ArtifactError says what is wrong."""
    folder = Path(folder)
    meta = _read_meta(folder)
    for name, digest in meta["files_sha256"].items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{path} is missing")
        if file_sha256(path) != digest:
            raise ArtifactError(f"{path} is corrupt: its SHA-256 differs from {META}")
    params = meta["params"]
    try:
        classes = _classes(params["classes"])
        embedding = _embedding(params["embedding"])
        network = _network(folder / WEIGHTS, params["sequence"])
        booster = lgb.Booster(model_file=str(folder / BOOSTER))
    except ArtifactError:
        raise
    except Exception as exc:  # unpickling, shape and parse errors alike mean a bad artifact
        raise ArtifactError(
            f"{folder} is not an outlook model: {type(exc).__name__}: {exc}"
        ) from exc
    return OutlookModel(
        classes,
        network,
        Fitted(embedding, booster, []),
        str(meta["version"]),
        meta.get("data", {}),
        meta.get("facts", {}),
    )


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META
    if not path.is_file():
        raise ArtifactError(
            f"{path} is missing: train one with `python -m model customers train-outlook`"
        )
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from exc
    missing = [
        k for k in ("format", "version", "params", "files_sha256", "params_sha256") if k not in meta
    ]
    if missing:
        raise ArtifactError(f"{path} lacks {', '.join(missing)}")
    if meta["format"] != FORMAT:
        raise ArtifactError(f"{path}: format {meta['format']!r} is not {FORMAT}")
    if json_sha256([meta["params"], meta["files_sha256"]]) != meta["params_sha256"]:
        raise ArtifactError(f"{path} is corrupt: its parameters do not match their SHA-256")
    return dict(meta)


def _classes(p: dict[str, Any]) -> WindowClasses:
    if tuple(p["names"]) != CLASSES or p["window_months"] != WINDOW:
        raise ArtifactError(
            f"classes {p['names']} over {p['window_months']} months are not "
            f"{list(CLASSES)} over {WINDOW}: retrain"
        )
    mean, scale, centroids = (np.asarray(p[k], dtype=float) for k in ("mean", "scale", "centroids"))
    if mean.shape != (3,) or scale.shape != (3,) or centroids.shape != (len(CLASSES), 3):
        raise ArtifactError("the classes' scaling or centroids have the wrong shape")
    if not (np.isfinite(centroids).all() and (scale > 0).all()):
        raise ArtifactError("the classes' scaling or centroids are not finite and positive")
    return WindowClasses(mean, scale, centroids)


def _embedding(p: dict[str, Any]) -> Embedding:
    components = np.asarray(p["components"], dtype=float)
    if (
        p["cells"] != len(journeys.CELLS)
        or components.ndim != 2
        or components.shape[1] != len(journeys.CELLS)
    ):
        raise ArtifactError(f"the embedding is for {p['cells']} cells, not {len(journeys.CELLS)}")
    if p["weighting"] not in WEIGHTINGS:
        raise ArtifactError(
            f"the embedding's weighting {p['weighting']!r} is none of {', '.join(WEIGHTINGS)}"
        )
    return Embedding(components, str(p["weighting"]))


def _network(path: Path, p: dict[str, Any]) -> NextClassGRU:
    if p["inputs"] != N_INPUTS:
        raise ArtifactError(f"the GRU reads {p['inputs']} inputs a month, not {N_INPUTS}: retrain")
    network = NextClassGRU(N_INPUTS, hidden=int(p["hidden"]))
    network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    network.eval()
    return network
