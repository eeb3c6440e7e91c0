"""The evaluation report: the MLP against the Bayes ceiling and baselines, on one test set.

Writes `report.md`, `metrics.json`, `confusion_matrix.png` and `reliability.png`.
The test set is the held-out 15% of the artifact's own training data, regenerated
from the seed it records and checked against its fingerprint.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import lightgbm as lgb
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from model.mlp import artifact, propensity
from model.mlp.features import CLASS_LABELS, CLASSES
from model.mlp.train import Prepared, predict_proba, prepare
from model.synthetic import truth
from schemas.errors import ScorerError

K = len(CLASSES)


class EvaluationError(ScorerError):
    """The evaluation cannot be made as asked; the message says why."""


def summary(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Accuracy, log loss, macro F1, ECE and the buy/no-buy view of one model."""
    p = np.clip(p.astype(np.float64), 1e-15, 1)
    p /= p.sum(axis=1, keepdims=True)
    pred = p.argmax(axis=1)
    bought = (y != 0).astype(int)
    p_buy = 1 - p[:, 0]
    return {
        "accuracy": float((pred == y).mean()),
        "log_loss": float(log_loss(y, p, labels=list(range(K)))),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=list(range(K)))),
        "ece": expected_calibration_error(y, p),
        "buy_auc": float(roc_auc_score(bought, p_buy)),
        "buy_f1": float(f1_score(bought, (p_buy >= 0.5).astype(int))),
    }


def per_class(y: np.ndarray, p: np.ndarray) -> dict[str, dict[str, float]]:
    """The seed's table: one-vs-rest accuracy per class, with precision, recall and F1."""
    pred = p.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=list(range(K)), zero_division=0
    )
    return {
        CLASSES[k]: {
            "accuracy": float(((pred == k) == (y == k)).mean()),
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        for k in range(K)
    }


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: |confidence - accuracy| weighted over equal-width confidence bins."""
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(ece)


def baselines(data: Prepared) -> tuple[dict[str, tuple[np.ndarray, float]], lgb.Booster]:
    """Majority class, multinomial logistic regression and LightGBM on the same split:
    test probabilities and training seconds of each; and the LightGBM booster."""
    out: dict[str, tuple[np.ndarray, float]] = {}
    prior = np.bincount(data.train.y, minlength=K) / len(data.train.y)
    out["majority"] = (
        np.tile(np.eye(K)[prior.argmax()] * 0.999 + 0.001 / K, (len(data.test.y), 1)),
        0.0,
    )
    began = time.monotonic()
    logistic = LogisticRegression(max_iter=300)
    logistic.fit(data.train.x, data.train.y)
    out["logistic_regression"] = (logistic.predict_proba(data.test.x), time.monotonic() - began)
    began = time.monotonic()
    params = {
        "objective": "multiclass",
        "num_class": K,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "verbose": -1,
        "seed": 0,
    }
    booster = lgb.train(
        params,
        lgb.Dataset(data.train.x, data.train.y),
        num_boost_round=400,
        valid_sets=[lgb.Dataset(data.val.x, data.val.y)],
        callbacks=[lgb.early_stopping(20, verbose=False)],
    )
    test_p = np.asarray(booster.predict(data.test.x, num_iteration=booster.best_iteration))
    out["lightgbm"] = (test_p, time.monotonic() - began)
    return out, booster


def buy_view(data: Prepared, p: np.ndarray, bayes: np.ndarray) -> dict[str, Any]:
    """The buy/no-buy view: the binary models fitted here, the MLP and the truth."""
    bought = (data.train.y != 0).astype(int)
    test_bought = (data.test.y != 0).astype(int)
    out: dict[str, Any] = {
        "mlp": propensity.buy_scores(test_bought, 1 - p[:, 0]),
        "bayes": propensity.buy_scores(test_bought, 1 - bayes[:, 0]),
    }
    models = propensity.fit_buy_models(
        data.train.x, bought, data.val.x, (data.val.y != 0).astype(int)
    )
    for name, model in models.items():
        out[name] = propensity.buy_scores(test_bought, propensity.predict_buy(model, data.test.x))
    out["random_forest"]["trained_on"] = min(propensity.RF_ROWS, len(bought))
    return out


#: What a generated model records as its data's source (the second: models trained
#: before model/ had sub-packages).
GENERATED_BY = ("model.synthetic.generator", "model.generator")


def evaluate(model_dir: Path, out: Path) -> dict[str, Any]:
    """Evaluate an artifact and write the report; returns metrics.json's content."""
    model = artifact.load(model_dir)
    info = model.data
    if not {"sessions", "seed", "fingerprint"} <= info.keys():
        raise EvaluationError(f"{model_dir} does not record the data it was trained on")
    if info.get("generator") not in GENERATED_BY:
        raise EvaluationError(
            f"{model_dir} was trained on {info.get('source', 'sessions not generated')}: "
            "the report regenerates the training data, so it evaluates generated models only"
        )
    data = prepare(int(info["sessions"]), int(info["seed"]))
    if data.fingerprint != info["fingerprint"]:
        raise EvaluationError(
            f"regenerated data has fingerprint {data.fingerprint}, the artifact was trained "
            f"on {info['fingerprint']}: the generator changed since; retrain"
        )
    y = data.test.y
    p = predict_proba(model.network, data.test.x)
    metrics: dict[str, Any] = {
        "model_version": model.version,
        "n_test": len(y),
        **summary(y, p),
        "per_class": per_class(y, p),
    }
    bayes = truth.bayes_scores(data.test.x, y)
    posterior = truth.posterior(data.test.x)
    metrics.update(
        bayes_accuracy=bayes["accuracy"],
        bayes_log_loss=bayes["log_loss"],
        bayes=bayes,
        bayes_summary=summary(y, posterior),
    )
    metrics["baselines"] = {}
    fitted, booster = baselines(data)
    for name, (q, seconds) in fitted.items():
        metrics["baselines"][name] = {**summary(y, q), "train_seconds": round(seconds, 2)}
    metrics["buy_no_buy"] = buy_view(data, p, posterior)
    metrics["importance"] = {
        "mlp_permutation": propensity.permutation_importance(
            lambda x: predict_proba(model.network, x), data.test.x, y
        ),
        "bayes_permutation": propensity.permutation_importance(truth.posterior, data.test.x, y),
        "lightgbm_gain": propensity.gain_per_class(booster),
        "permutation_rows": min(propensity.PERMUTATION_ROWS, len(y)),
    }
    metrics["training"] = {k: v for k, v in model.metrics.items() if k != "history"}
    out.mkdir(parents=True, exist_ok=True)
    _plot_confusion(y, p, out / "confusion_matrix.png")
    _plot_reliability(y, p, out / "reliability.png")
    _plot_importance(metrics["importance"], out / "importance.png")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "report.md").write_text(render(metrics))
    return metrics


def _plot_confusion(y: np.ndarray, p: np.ndarray, path: Path) -> None:
    matrix = confusion_matrix(y, p.argmax(axis=1), labels=list(range(K)), normalize="true")
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    labels = [CLASS_LABELS[c] for c in CLASSES]
    ax.set_xticks(range(K), labels, rotation=30, ha="right")
    ax.set_yticks(range(K), labels)
    for i in range(K):
        for j in range(K):
            ax.text(
                j,
                i,
                f"{matrix[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if matrix[i, j] > 0.5 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (row-normalised)")
    fig.colorbar(image)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_reliability(y: np.ndarray, p: np.ndarray, path: Path, bins: int = 15) -> None:
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    xs, ys, ns = [], [], []
    for b in range(bins):
        mask = which == b
        if mask.sum() >= 20:
            xs.append(confidence[mask].mean())
            ys.append(correct[mask].mean())
            ns.append(int(mask.sum()))
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(xs, ys, "o-", label="MLP (top label)")
    ax.set_xlabel("predicted probability of the top class")
    ax.set_ylabel("observed accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_importance(importance: dict[str, Any], path: Path) -> None:
    """One panel per measure: each feature's importance for each class, as grouped bars."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    titles = {
        "mlp_permutation": "MLP: one-vs-rest AUC lost when shuffled",
        "bayes_permutation": "the true posterior: the same",
        "lightgbm_gain": "LightGBM: share of each class's gain",
    }
    for ax, (key, title) in zip(axes, titles.items(), strict=True):
        table = importance[key]
        features = list(table)
        width = 0.8 / K
        for k, c in enumerate(CLASSES):
            ax.bar(
                np.arange(len(features)) + k * width,
                [table[f][c] for f in features],
                width,
                label=CLASS_LABELS[c],
            )
        ax.set_xticks(np.arange(len(features)) + 0.4 - width / 2, features, rotation=40, ha="right")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _importance_rows(table: dict[str, dict[str, float]], digits: int) -> list[str]:
    lines = [
        "| feature | " + " | ".join(CLASS_LABELS[c] for c in CLASSES) + " |",
        "|---" * (K + 1) + "|",
    ]
    order = sorted(table, key=lambda f: -sum(table[f].values()))
    for f in order:
        lines.append(f"| {f} | " + " | ".join(f"{table[f][c]:.{digits}f}" for c in CLASSES) + " |")
    return lines


def _buy_rows(view: dict[str, Any]) -> list[str]:
    names = {
        "mlp": "MLP (this artifact)",
        "bayes": "Bayes-optimal (true posterior)",
        "logistic_regression": "logistic regression",
        "random_forest": "random forest",
        "xgboost": "XGBoost",
        "lightgbm": "LightGBM",
    }
    lines = ["| model | accuracy | precision | recall | F1 | AUC |", "|---|---|---|---|---|---|"]
    for key, name in names.items():
        r = view[key]
        lines.append(
            f"| {name} | {r['accuracy']:.4f} | {r['precision']:.4f} | "
            f"{r['recall']:.4f} | {r['f1']:.4f} | {r['auc']:.4f} |"
        )
    return lines


def render(m: dict[str, Any]) -> str:
    """report.md from the metrics."""
    lines = [
        f"# Evaluation of {m['model_version']}",
        "",
        f"Test set: {m['n_test']:,} generated sessions (held-out 15%, stratified).",
        "",
        "## Per class (one-vs-rest), as in the seed's table",
        "",
        "| class | accuracy | precision | recall | F1 | support |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in m["per_class"].items():
        lines.append(
            f"| {CLASS_LABELS[name]} | {row['accuracy']:.3f} | {row['precision']:.3f} | "
            f"{row['recall']:.3f} | {row['f1']:.3f} | {row['support']:,} |"
        )
    lines += [
        "",
        "## Against the ceiling and the baselines",
        "",
        "| model | accuracy | log loss | macro F1 | ECE | buy AUC | buy F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [("MLP (this artifact)", m), ("Bayes-optimal (true posterior)", m["bayes_summary"])]
    rows += [(name.replace("_", " "), b) for name, b in m["baselines"].items()]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['accuracy']:.4f} | {r['log_loss']:.4f} | "
            f"{r['macro_f1']:.4f} | {r['ece']:.4f} | {r['buy_auc']:.4f} | "
            f"{r['buy_f1']:.4f} |"
        )
    gap = (m["bayes_accuracy"] - m["accuracy"]) * 100
    excess = (m["log_loss"] / m["bayes_log_loss"] - 1) * 100
    t = m["training"]
    lines += [
        "",
        "## Targets",
        "",
        f"- Accuracy {m['accuracy']:.4f} against Bayes-optimal {m['bayes_accuracy']:.4f}: "
        f"{gap:.2f} points below (target: within 1.5).",
        f"- Log loss {m['log_loss']:.4f} against Bayes {m['bayes_log_loss']:.4f}: "
        f"{excess:.2f}% above (target: within 5%).",
        f"- Logistic regression accuracy {m['baselines']['logistic_regression']['accuracy']:.4f}"
        f", log loss {m['baselines']['logistic_regression']['log_loss']:.4f}.",
        f"- Training: {t.get('n_train', 0):,} sessions, data {t.get('data_seconds')} s, "
        f"data and training {t.get('train_seconds')} s in all, best epoch "
        f"{t.get('best_epoch')}.",
        "",
        "Expected Bayes accuracy (mean of the top true probability): "
        f"{m['bayes']['expected_accuracy']:.4f}; expected Bayes log loss (conditional "
        f"entropy): {m['bayes']['expected_log_loss']:.4f}.",
        "",
        "![confusion matrix](confusion_matrix.png) ![reliability](reliability.png)",
        "",
        "## Buy or not",
        "",
        "Each model told a buying session from a No Buy (P(buy) = 1 - P(No Buy) for the "
        "MLP and the truth; the others fitted on buy/no-buy alone, the random forest on "
        f"{m['buy_no_buy']['random_forest']['trained_on']:,} training sessions), at 0.5:",
        "",
        *_buy_rows(m["buy_no_buy"]),
        "",
        "## Feature importance per class",
        "",
        "MLP, permutation: one-vs-rest AUC lost when the feature is shuffled across "
        f"{m['importance']['permutation_rows']:,} test sessions:",
        "",
        *_importance_rows(m["importance"]["mlp_permutation"], 4),
        "",
        "The same for the true posterior (model/synthetic/truth.py), what the features "
        "really carry:",
        "",
        *_importance_rows(m["importance"]["bayes_permutation"], 4),
        "",
        "LightGBM, gain: the feature's share of the split gain of each class's trees:",
        "",
        *_importance_rows(m["importance"]["lightgbm_gain"], 3),
        "",
        "![feature importance](importance.png)",
        "",
    ]
    return "\n".join(lines)
