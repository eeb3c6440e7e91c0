"""The feature log read back as training data (docs/concepts/model.md).

The stream logs, for a share of the sessions it scores (SCORER_FEATURE_LOG_SHARE), the
raw inputs it knew and the 31 encoded inputs the network read (`ServedFeatures` on
scoring.features). Joined by session_id with what happened (scoring.conversions: the
class of the first order, or No Buy), those sessions train the next version with the
same feature function as offline training, so there is no training/serving skew: the
join is checked first by encoding each logged session's raw inputs again with the
version that served it and comparing with what it was served.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from model.mlp.artifact import ArtifactError
from model.mlp.features import CLASSES, RAW_COLUMNS, encode, frame_from_records, purchase_class
from model.production import kafka_io
from model.production.store import ModelStore
from schemas.codec import Codec
from schemas.errors import ScorerError

#: Largest difference between a logged input and the same raw inputs encoded again that
#: still counts as the same (the inputs are float32 on the wire and in the network).
SKEW_TOLERANCE = 1e-6


class FeatureLogError(ScorerError):
    """The feature log cannot be trained from: nothing joined, or skew; says which."""


def label_of(conversion: dict[str, Any]) -> int:
    """The class a decided session falls in: No Buy, or the class of its first order."""
    if conversion["outcome"] == "NO_PURCHASE":
        return CLASSES.index("NO_BUY")
    return CLASSES.index(purchase_class(conversion["purchased_type"]))


@dataclass
class Logged:
    """Logged sessions whose outcome is decided, ordered by session_id: their raw inputs
    and label (`frame`, as offline training reads it) and what each was served."""

    frame: pd.DataFrame
    served: np.ndarray  # (n, 31) float32: the inputs the network read
    logged: int = 0  # distinct sessions in the feature log
    undecided: int = 0  # logged, but no conversion decided yet
    unreadable: int = 0  # records of either topic that did not decode
    versions: dict[str, int] = field(default_factory=dict)


def read(
    bootstrap: str, features_topic: str, conversions_topic: str, codec: Codec | None = None
) -> Logged:
    """Both topics read whole, joined by session_id. A session logged twice (scored again
    after a crash) keeps its first record, as its first recommendation is the one kept."""
    codec = codec or Codec()
    served, bad_logged = kafka_io.first_per_session(
        bootstrap, features_topic, codec, "ServedFeatures"
    )
    decided, bad_decided = kafka_io.first_per_session(
        bootstrap, conversions_topic, codec, "Conversion"
    )
    labels = {k: label_of(conversion) for k, conversion in decided.items()}
    unreadable = bad_logged + bad_decided
    joined = sorted(k for k in served if k in labels)
    records = [served[k] for k in joined]
    frame = frame_from_records([r["raw"] for r in records])
    frame.insert(0, "session_id", joined)
    frame["label"] = np.array([labels[k] for k in joined], dtype=np.int64)
    frame["model_version"] = [r["model_version"] for r in records]
    inputs = np.array([r["inputs"] for r in records], dtype=np.float32).reshape(len(joined), -1)
    return Logged(
        frame,
        inputs,
        logged=len(served),
        undecided=len(served) - len(joined),
        unreadable=unreadable,
        versions=dict(Counter(r["model_version"] for r in records)),
    )


@dataclass(frozen=True)
class Skew:
    """The logged inputs against the same raw inputs encoded again, per serving version."""

    checked: int
    differing: int
    max_difference: float
    unchecked_versions: tuple[str, ...]  # not in the model store (or refused by it)


def skew(logged: Logged, store: ModelStore) -> Skew:
    """Encode every logged session's raw inputs with the imputation of the version that
    served it and compare with the inputs it was served."""
    checked = differing = 0
    worst = 0.0
    unchecked = []
    versions = logged.frame["model_version"].to_numpy()
    for version in sorted(logged.versions):
        try:
            imputation = store.load(version).imputation
        except ArtifactError:
            unchecked.append(version)
            continue
        rows = np.flatnonzero(versions == version)
        again = encode(logged.frame.iloc[rows][list(RAW_COLUMNS)], imputation).x
        gap = np.abs(again - logged.served[rows]).max(axis=1)
        checked += len(rows)
        differing += int((gap > SKEW_TOLERANCE).sum())
        worst = max(worst, float(gap.max()))
    return Skew(checked, differing, worst, tuple(unchecked))
