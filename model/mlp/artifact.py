"""The model artifact: a folder with `weights.pt` and `artifact.json`.

`artifact.json` holds the version, class names, the feature spec the weights were
trained on, the new-user and missing-face imputation statistics, the network shape,
training metrics, the training data's fingerprint, each input's distribution over the
training rows (for drift, model/production/drift.py) and the SHA-256 of the weights.
Loading checks all of it and refuses, with the reason, an artifact that is incomplete,
corrupt or made for another feature encoding. Weights load with `weights_only=True`,
so a tampered file cannot run code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model.mlp.features import CLASSES, N_FEATURES, Imputation, feature_spec
from model.mlp.network import PurchaseMLP
from schemas.errors import ScorerError

FORMAT = 1
WEIGHTS = "weights.pt"
META = "artifact.json"


class ArtifactError(ScorerError):
    """A model artifact is missing, corrupt or does not fit this code; says which and why."""

    reason = "bad_artifact"


@dataclass(frozen=True)
class Artifact:
    """A loaded, checked model with everything needed to serve it."""

    version: str
    network: PurchaseMLP
    imputation: Imputation
    classes: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: Each input's category shares over the training rows (model/production/drift.py); empty in an
    #: artifact trained before drift was measured.
    input_shares: dict[str, list[float]] = field(default_factory=dict)


def save(
    folder: Path,
    network: PurchaseMLP,
    imputation: Imputation,
    *,
    metrics: dict[str, Any],
    data: dict[str, Any],
    created_at: str,
    input_shares: dict[str, list[float]] | None = None,
) -> str:
    """Write an artifact; returns its version (creation date and weights hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS
    torch.save(network.state_dict(), weights)
    digest = file_sha256(weights)
    version = f"mlp-{created_at[:10].replace('-', '')}-{digest[:8]}"
    meta = {
        "format": FORMAT,
        "version": version,
        "created_at": created_at,
        "classes": list(CLASSES),
        "feature_spec": feature_spec(),
        "imputation": imputation.to_dict(),
        "hidden": list(network.hidden),
        "metrics": metrics,
        "data": data,
        "input_shares": input_shares or {},
        "weights_sha256": digest,
    }
    (folder / META).write_text(json.dumps(meta, indent=2) + "\n")
    return version


def load(folder: Path | str) -> Artifact:
    """Load and check an artifact; ArtifactError says what is wrong."""
    folder = Path(folder)
    meta = _read_meta(folder)
    _check_compatible(meta)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ArtifactError(f"{weights} is missing")
    if file_sha256(weights) != meta["weights_sha256"]:
        raise ArtifactError(f"{weights} is corrupt: its SHA-256 differs from {META}")
    network = PurchaseMLP(N_FEATURES, len(CLASSES), hidden=tuple(meta["hidden"]))
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except Exception as exc:  # unpickling and shape errors alike mean a bad file
        raise ArtifactError(f"{weights} does not load as the network's weights: {exc}") from exc
    network.eval()
    try:
        imputation = Imputation(**meta["imputation"])
    except TypeError as exc:
        raise ArtifactError(f"{META}: bad imputation statistics: {exc}") from exc
    return Artifact(
        meta["version"],
        network,
        imputation,
        tuple(meta["classes"]),
        meta.get("metrics", {}),
        meta.get("data", {}),
        folder,
        meta.get("input_shares", {}),
    )


def created_at(folder: Path | str) -> str:
    """When the artifact in `folder` was trained (ISO 8601), "" when unreadable."""
    try:
        return str(_read_meta(Path(folder)).get("created_at", ""))
    except ArtifactError:
        return ""


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: {folder} is not a model artifact")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from exc
    required = (
        "format",
        "version",
        "classes",
        "feature_spec",
        "imputation",
        "hidden",
        "weights_sha256",
    )
    missing = [key for key in required if key not in meta]
    if missing:
        raise ArtifactError(f"{path} lacks {', '.join(missing)}")
    return dict(meta)


def _check_compatible(meta: dict[str, Any]) -> None:
    if meta["format"] != FORMAT:
        raise ArtifactError(f"artifact format {meta['format']} is not {FORMAT}")
    if tuple(meta["classes"]) != CLASSES:
        raise ArtifactError(f"artifact classes {meta['classes']} differ from {list(CLASSES)}")
    mine = feature_spec()
    for key, value in mine.items():
        theirs = meta["feature_spec"].get(key)
        if theirs != value:
            raise ArtifactError(
                f"feature spec mismatch in {key!r}: the artifact was trained with {theirs!r}, "
                f"this code encodes {value!r}; retrain with `python -m model train`"
            )


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as every artifact records its files'."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def json_sha256(value: Any) -> str:
    """The SHA-256 of a JSON value in canonical form (keys sorted), as every artifact
    records its parameters'."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
