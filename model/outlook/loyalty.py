"""The loyalty score: matrix-factorisation embeddings plus gradient boosting, against the mean,
gradient boosting without embeddings and the noise floor (model/outlook/loyalty_bayes.py).

- **Purchase matrix**: customers x the 120 (lottery type, station type, hour band) cells,
  the number of purchase days in each.
- **Embeddings**: truncated SVD of that matrix, weighted one of three ways: the raw
  counts, their log1p, or each customer's shares of the log1p counts (what they buy and
  where, not how much). `fit` chooses the weighting and the rank by the validation RMSE
  of MF + GBDT on the training customers (`compare_embeddings`; the report's table).
- **History features**: the RFM of the whole span and of the last three months, how many
  months had a purchase, spend per purchase day, and how the months move: the share of
  moves from a month without purchases to one with, from one with to one without, and
  between a customer's high and low months (above or below their own median month).
- **LightGBM** regression on the history features (gbdt) and on history plus embeddings
  (mf_gbdt), early-stopped on a validation tenth of the training customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.decomposition import TruncatedSVD
from tqdm import tqdm

from model.outlook import journeys, loyalty_bayes

CELL_INDEX = {cell: k for k, cell in enumerate(journeys.CELLS)}
WEIGHTINGS = ("counts", "log", "shares")
RANKS = (4, 8, 16)
GBDT_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.9,
    "verbose": -1,
    "seed": 0,
    "num_threads": 2,
}


def purchase_matrix(orders: Any, n_customers: int) -> np.ndarray:
    """(customers, cells): purchase days per cell, from rows of customer_id, lottery_type,
    station_type, hour_band."""
    cells = [
        CELL_INDEX[c]
        for c in zip(
            orders["lottery_type"], orders["station_type"], orders["hour_band"], strict=True
        )
    ]
    counts = np.zeros((n_customers, len(journeys.CELLS)))
    np.add.at(counts, (orders["customer_id"].to_numpy(), np.asarray(cells, dtype=np.int64)), 1)
    return counts


def weighted(counts: np.ndarray, weighting: str) -> np.ndarray:
    if weighting == "counts":
        return counts
    logged = np.log1p(counts)
    if weighting == "log":
        return logged
    return logged / np.maximum(logged.sum(axis=1, keepdims=True), 1e-9)


@dataclass(frozen=True)
class Embedding:
    """The fitted factorisation: the cells' factors and how rows are weighted."""

    components: np.ndarray  # (rank, cells)
    weighting: str

    @classmethod
    def fit(cls, counts: np.ndarray, rank: int, weighting: str, seed: int = 0) -> Embedding:
        svd = TruncatedSVD(n_components=rank, random_state=seed).fit(weighted(counts, weighting))
        return cls(svd.components_, weighting)

    def transform(self, counts: np.ndarray) -> np.ndarray:
        return np.asarray(weighted(counts, self.weighting) @ self.components.T)


def _moves(active: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Shares of month-to-month moves: on from off, off from on, high from low, low from
    high (each over the moves that could have made it)."""
    a, b = active[:, :-1], active[:, 1:]
    h, g = high[:, :-1], high[:, 1:]

    def share(start: np.ndarray, end: np.ndarray) -> np.ndarray:
        return (start & end).sum(axis=1) / np.maximum(start.sum(axis=1), 1)

    return np.column_stack([share(~a, b), share(a, ~b), share(~h, g), share(h, ~g)])


def history_features(days: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """(customers, 13) from the monthly grids of purchase days and spend."""
    m = days.shape[1]
    active = days > 0
    last = np.where(active.any(axis=1), m - 1 - np.argmax(active[:, ::-1], axis=1), -1)
    total_days, total_spend = days.sum(axis=1), spend.sum(axis=1)
    high = days > np.median(days, axis=1, keepdims=True)
    return np.column_stack(
        [
            np.where(last >= 0, m - 1 - last, m),
            total_days,
            total_spend,
            days[:, -3:].sum(axis=1),
            spend[:, -3:].sum(axis=1),
            active.mean(axis=1),
            total_spend / np.maximum(total_days, 1),
            days.max(axis=1),
            np.log1p(days).std(axis=1),
            _moves(active, high),
        ]
    )


def fit_gbdt(x: np.ndarray, y: np.ndarray, seed: int = 0) -> lgb.Booster:
    """LightGBM regression, early-stopped on a tenth of the rows."""
    order = np.random.default_rng(seed).permutation(len(x))
    val, fit = order[: len(x) // 10], order[len(x) // 10 :]
    return lgb.train(
        {**GBDT_PARAMS, "seed": seed},
        lgb.Dataset(x[fit], y[fit]),
        num_boost_round=2000,
        valid_sets=[lgb.Dataset(x[val], y[val])],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )


def predict(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    return np.asarray(booster.predict(x, num_iteration=booster.best_iteration))


def rmse(y: np.ndarray, guess: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - guess) ** 2)))


def compare_embeddings(
    history: np.ndarray,
    counts: np.ndarray,
    y: np.ndarray,
    ranks: tuple[int, ...] = RANKS,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Validation RMSE of MF + GBDT for each weighting and rank, on training customers only
    (a fifth of them held out): how the embedding is chosen."""
    order = np.random.default_rng(seed + 7).permutation(len(y))
    val, fit = order[: len(y) // 5], order[len(y) // 5 :]
    rows = []
    grid = [(w, r) for w in WEIGHTINGS for r in ranks]
    for weighting, rank in tqdm(grid, desc="embeddings compared", disable=not progress):
        emb = Embedding.fit(counts[fit], rank, weighting, seed)
        x = np.hstack([history, emb.transform(counts)])
        booster = fit_gbdt(x[fit], y[fit], seed)
        rows.append(
            {"weighting": weighting, "rank": rank, "rmse": rmse(y[val], predict(booster, x[val]))}
        )
    return rows


@dataclass(frozen=True)
class Inputs:
    """Every customer's purchase matrix, history features and loyalty on record."""

    counts: np.ndarray
    history: np.ndarray
    loyalty: np.ndarray
    loyalty_true: np.ndarray  # the generator's L, before the noise on record

    @classmethod
    def of(cls, drawn: journeys.Journeys, days: np.ndarray, spend: np.ndarray) -> Inputs:
        c = drawn.customers
        y = c["loyalty"].to_numpy()
        return cls(
            purchase_matrix(drawn.orders, len(y)),
            history_features(days, spend),
            y,
            c["loyalty_true"].to_numpy(),
        )


@dataclass(frozen=True)
class Fitted:
    """The product's loyalty model: the embedding and the booster on history + embedding."""

    embedding: Embedding
    booster: lgb.Booster
    choices: list[dict[str, Any]]

    def features(self, counts: np.ndarray, history: np.ndarray) -> np.ndarray:
        return np.hstack([history, self.embedding.transform(counts)])

    def predict(self, counts: np.ndarray, history: np.ndarray) -> np.ndarray:
        return predict(self.booster, self.features(counts, history))


def fit(data: Inputs, train: np.ndarray, seed: int, progress: bool = False) -> Fitted:
    """The embedding's weighting and rank by validation RMSE, then MF + GBDT, on `train`."""
    choices = compare_embeddings(
        data.history[train], data.counts[train], data.loyalty[train], seed=seed, progress=progress
    )
    best = min(choices, key=lambda r: r["rmse"])
    embedding = Embedding.fit(data.counts[train], best["rank"], best["weighting"], seed)
    x = np.hstack([data.history[train], embedding.transform(data.counts[train])])
    return Fitted(embedding, fit_gbdt(x, data.loyalty[train], seed), choices)


def judge(
    data: Inputs,
    days: np.ndarray,
    spend: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    fitted: Fitted,
    seed: int,
    progress: bool = False,
) -> dict[str, Any]:
    """RMSE on the test customers' loyalty on record: the mean, gbdt (fitted here, on the
    same training customers), mf_gbdt (the product's) and the noise floor; under "points",
    the test customers' loyalty on record and both estimates, for the report's plot."""
    y = data.loyalty
    gbdt = fit_gbdt(data.history[train], y[train], seed)
    floor = loyalty_bayes.posterior(days[test], spend[test], data.counts[test], progress=progress)
    guess = fitted.predict(data.counts[test], data.history[test])
    return {
        "mean": {"rmse": rmse(y[test], np.full(len(test), y[train].mean()))},
        "gbdt": {
            "rmse": rmse(y[test], predict(gbdt, data.history[test])),
            "rounds": gbdt.best_iteration,
        },
        "mf_gbdt": {
            "rmse": rmse(y[test], guess),
            "rounds": fitted.booster.best_iteration,
            "rank": fitted.embedding.components.shape[0],
            "weighting": fitted.embedding.weighting,
        },
        "noise_floor_rmse": rmse(y[test], floor.mean),
        "noise_floor_expected_rmse": floor.expected_rmse(),
        "noise_sd": journeys.LOYALTY_NOISE_SD,
        "known_latent_rmse": rmse(y[test], data.loyalty_true[test]),
        "points": {"loyalty": y[test], "mf_gbdt": guess, "bayes": floor.mean},
    }
