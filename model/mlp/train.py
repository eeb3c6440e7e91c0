"""Training the MLP on generated sessions: stratified 70/15/15 split, early stopping.

Imbalance (No Buy is about half of all sessions) is handled where it matters for a
recommender: the split is stratified so every class keeps its share, evaluation reports
per-class and macro figures, and the recommendation's top pick is the most likely
*purchase*, so No Buy never drowns it. The loss is plain cross-entropy by default, which
keeps the probabilities calibrated (they are published as such); `--class-weight
balanced` reweights the loss for users who prefer recall on the rare classes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from torch import nn
from tqdm import tqdm

from model.mlp import artifact
from model.mlp.features import CLASSES, N_FEATURES, Imputation, encode
from model.mlp.network import PurchaseMLP
from model.production import drift
from model.synthetic import generator
from schemas.errors import ScorerError

#: Fewest sessions a data set may have, and fewest of a class for a stratified split.
MIN_SESSIONS, MIN_PER_CLASS = 100, 7


class TrainingError(ScorerError):
    """A data set that cannot be trained on; says why."""


@dataclass(frozen=True)
class Split:
    """One part of the data: its sessions, encoded features and labels."""

    frame: pd.DataFrame
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Prepared:
    train: Split
    val: Split
    test: Split
    imputation: Imputation
    fingerprint: str


def prepare(sessions: int, seed: int) -> Prepared:
    """Generate the data set and split it 70/15/15, stratified by class, deterministically."""
    return split(generator.generate(sessions, seed), seed)


def split(frame: pd.DataFrame, seed: int) -> Prepared:
    """Split a labelled session frame (RAW_COLUMNS and `label`) 70/15/15, deterministically:
    stratified by class when every class present has enough sessions for each part."""
    if len(frame) < MIN_SESSIONS:
        raise TrainingError(
            f"{len(frame)} sessions are too few to train on (at least {MIN_SESSIONS})"
        )
    index = np.arange(len(frame))
    labels = frame["label"].to_numpy()
    counts = np.bincount(labels)
    by = labels if counts[counts > 0].min() >= MIN_PER_CLASS else None
    train_i, rest_i = train_test_split(index, test_size=0.30, stratify=by, random_state=seed)
    val_i, test_i = train_test_split(
        rest_i, test_size=0.50, stratify=None if by is None else labels[rest_i], random_state=seed
    )
    imputation = Imputation.from_frame(frame.iloc[train_i])

    def part(rows: np.ndarray) -> Split:
        sub = frame.iloc[rows].reset_index(drop=True)
        return Split(sub, encode(sub, imputation).x, sub["label"].to_numpy(np.int64))

    return Prepared(
        part(train_i), part(val_i), part(test_i), imputation, generator.fingerprint(frame)
    )


def _class_weights(y: np.ndarray, mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    counts = np.bincount(y, minlength=len(CLASSES)).astype(np.float64)
    return torch.tensor(len(y) / (len(CLASSES) * np.maximum(counts, 1)), dtype=torch.float32)


def fit(
    data: Prepared,
    seed: int,
    *,
    epochs: int = 40,
    batch_size: int = 1024,
    lr: float = 2e-3,
    patience: int = 3,
    class_weight: Literal["none", "balanced"] = "none",
    progress: bool = True,
) -> tuple[PurchaseMLP, dict[str, Any]]:
    """Train with Adam and early stopping on validation log loss; returns the best network."""
    torch.manual_seed(seed)
    network = PurchaseMLP(N_FEATURES, len(CLASSES))
    loss_fn = nn.CrossEntropyLoss(weight=_class_weights(data.train.y, class_weight))
    optimiser = torch.optim.Adam(network.parameters(), lr=lr)
    x = torch.from_numpy(data.train.x)
    y = torch.from_numpy(data.train.y)
    generator_ = torch.Generator().manual_seed(seed)
    best: tuple[float, dict[str, torch.Tensor], int] = (float("inf"), {}, 0)
    history = []
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        network.train()
        order = torch.randperm(len(x), generator=generator_)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad()
            loss_fn(network(x[batch]), y[batch]).backward()
            optimiser.step()
        val_loss, val_acc = score(network, data.val)
        history.append({"epoch": epoch + 1, "val_log_loss": val_loss, "val_accuracy": val_acc})
        bar.set_postfix(val_log_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.4f}")
        if val_loss < best[0] - 1e-5:
            best = (val_loss, {k: v.clone() for k, v in network.state_dict().items()}, epoch + 1)
        elif epoch + 1 - best[2] >= patience:
            break
    network.load_state_dict(best[1])
    network.eval()
    return network, {"best_epoch": best[2], "val_log_loss": best[0], "history": history}


def predict_proba(network: PurchaseMLP, x: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """Class probabilities for encoded rows, in batches."""
    network.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            logits = network(torch.from_numpy(x[start : start + batch_size]))
            out.append(torch.softmax(logits, dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


def score(network: PurchaseMLP, split: Split) -> tuple[float, float]:
    """Log loss and accuracy on a split."""
    p = predict_proba(network, split.x).astype(np.float64)
    n = len(split.y)
    loss = float(-np.log(np.clip(p[np.arange(n), split.y], 1e-15, 1)).mean())
    return loss, float((p.argmax(axis=1) == split.y).mean())


def train(sessions: int, seed: int, out: Path, **options: Any) -> artifact.Artifact:
    """Generate, train, and write the artifact to `out`; returns the loaded artifact."""
    began = time.monotonic()
    data = prepare(sessions, seed)
    source = {"sessions": sessions, "generator": "model.synthetic.generator"}
    return train_prepared(data, seed, out, source, time.monotonic() - began, **options)


def train_frame(
    frame: pd.DataFrame, seed: int, out: Path, source: dict[str, Any], **options: Any
) -> artifact.Artifact:
    """Train on sessions already labelled (a file, the feature log): the same split and
    fit as on generated data. Rows are ordered by session_id when the frame has one, so
    the same sessions train the same model in whatever order they were read."""
    began = time.monotonic()
    if "session_id" in frame.columns:
        frame = frame.sort_values("session_id", kind="stable").reset_index(drop=True)
    data = split(frame, seed)
    source = {"sessions": len(frame), **source}
    return train_prepared(data, seed, out, source, time.monotonic() - began, **options)


def train_prepared(
    data: Prepared, seed: int, out: Path, source: dict[str, Any], prepared_s: float, **options: Any
) -> artifact.Artifact:
    """Fit on a split data set and write the artifact to `out`; returns it loaded."""
    began = time.monotonic() - prepared_s
    network, fit_info = fit(data, seed, **options)
    train_s = time.monotonic() - began
    val_loss, val_acc = score(network, data.val)
    metrics = {
        "val_log_loss": val_loss,
        "val_accuracy": val_acc,
        "best_epoch": fit_info["best_epoch"],
        "history": fit_info["history"],
        "data_seconds": round(prepared_s, 2),
        "train_seconds": round(train_s, 2),
        "n_train": len(data.train.y),
        "class_weight": options.get("class_weight", "none"),
    }
    data_info = {
        **source,
        "seed": seed,
        "split": [0.70, 0.15, 0.15],
        "fingerprint": data.fingerprint,
    }
    created = datetime.now(UTC).isoformat(timespec="seconds")
    trained_on = drift.shares(drift.category_counts(data.train.x))
    artifact.save(
        out,
        network,
        data.imputation,
        metrics=metrics,
        data=data_info,
        created_at=created,
        input_shares=trained_on,
    )
    return artifact.load(out)
