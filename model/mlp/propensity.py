"""The evaluation's buy/no-buy view and feature importance (model/mlp/evaluate.py calls it).

- **Buy or not**: logistic regression, a random forest, XGBoost and LightGBM, each fitted on the
  same training split to tell a buying session from a No Buy, beside the MLP's and the
  true posterior's P(buy) = 1 - P(No Buy); accuracy, precision, recall and F1 at 0.5, and
  AUC, on the same test split. The forest learns from RF_ROWS training sessions (its
  trees grow with the rows: on all 980,000 it takes minutes and gigabytes for nothing the
  AUC shows).
- **Importance per class**: for the MLP, permutation importance: the drop in each
  class's one-vs-rest AUC when one feature's inputs (a one-hot group moves as one, so
  every row stays a valid session) are shuffled across the test rows. For LightGBM, gain:
  the multiclass booster grows one tree per class each round (tree i is class i mod 5), so
  a feature's split gains, summed over its inputs and its class's trees and divided by
  that class's total, are its share of what the class's trees learned.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score
from xgboost import XGBClassifier

from model.mlp import features
from model.mlp.features import CLASSES, FEATURE_NAMES

RF_ROWS = 200_000
PERMUTATION_ROWS = 50_000
K = len(CLASSES)


def buy_scores(bought: np.ndarray, p_buy: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of 'buys' at P(buy) >= 0.5, and AUC."""
    guess = (p_buy >= 0.5).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        bought, guess, average="binary", zero_division=0
    )
    return {
        "accuracy": float((guess == bought).mean()),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auc": float(roc_auc_score(bought, p_buy)),
    }


def fit_buy_models(
    x: np.ndarray, bought: np.ndarray, val_x: np.ndarray, val_bought: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Each binary model, fitted; `predict_buy` turns any of them into P(buy)."""
    rows = np.random.default_rng(seed).permutation(len(x))[:RF_ROWS]
    forest = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=20, n_jobs=2, random_state=seed
    ).fit(x[rows], bought[rows])
    booster = lgb.train(
        {
            "objective": "binary",
            "learning_rate": 0.05,
            "num_leaves": 31,
            "verbose": -1,
            "seed": seed,
        },
        lgb.Dataset(x, bought),
        num_boost_round=400,
        valid_sets=[lgb.Dataset(val_x, val_bought)],
        callbacks=[lgb.early_stopping(20, verbose=False)],
    )
    xgb = XGBClassifier(
        n_estimators=400,
        learning_rate=0.05,
        max_depth=6,
        tree_method="hist",
        n_jobs=2,
        early_stopping_rounds=20,
        eval_metric="logloss",
        random_state=seed,
    )
    xgb.fit(x, bought, eval_set=[(val_x, val_bought)], verbose=False)
    return {
        "logistic_regression": LogisticRegression(max_iter=300).fit(x, bought),
        "random_forest": forest,
        "xgboost": xgb,
        "lightgbm": booster,
    }


def predict_buy(model: Any, x: np.ndarray) -> np.ndarray:
    if isinstance(model, lgb.Booster):
        return np.asarray(model.predict(x, num_iteration=model.best_iteration))
    return np.asarray(model.predict_proba(x)[:, 1])


def permutation_importance(
    predict: Any, x: np.ndarray, y: np.ndarray, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Feature -> class -> drop of the class's one-vs-rest AUC when the feature is shuffled;
    `predict` maps inputs (n, 31) to probabilities (n, 5)."""
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(x))[:PERMUTATION_ROWS]
    x, y = x[rows], y[rows]

    def aucs(p: np.ndarray) -> np.ndarray:
        return np.array([roc_auc_score(y == k, p[:, k]) for k in range(K)])

    base = aucs(predict(x))
    out = {}
    for item in features.INPUTS:
        shuffled = x.copy()
        cols = list(item.columns)
        shuffled[:, cols] = x[rng.permutation(len(x))][:, cols]
        drop = base - aucs(predict(shuffled))
        out[item.name] = {c: float(drop[k]) for k, c in enumerate(CLASSES)}
    return out


def gain_per_class(booster: lgb.Booster) -> dict[str, dict[str, float]]:
    """Feature -> class -> its share of the gain of that class's trees (multiclass booster
    over the 31 inputs, in FEATURE_NAMES order)."""
    trees = booster.dump_model(num_iteration=booster.best_iteration)["tree_info"]
    gains = np.zeros((K, len(FEATURE_NAMES)))

    def walk(node: dict[str, Any], k: int) -> None:
        if "split_feature" in node:
            gains[k, node["split_feature"]] += node["split_gain"]
            walk(node["left_child"], k)
            walk(node["right_child"], k)

    for tree in trees:
        walk(tree["tree_structure"], tree["tree_index"] % K)
    shares = gains / np.maximum(gains.sum(axis=1, keepdims=True), 1e-12)
    return {
        item.name: {c: float(shares[k, list(item.columns)].sum()) for k, c in enumerate(CLASSES)}
        for item in features.INPUTS
    }
