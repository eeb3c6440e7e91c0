"""The outlook's report: metrics.json, report.md and its two plots, from what evaluate judged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from model.outlook import profitability
from model.outlook.artifact import OutlookModel
from model.outlook.next_class import Prepared
from model.outlook.profitability import CLASSES, WINDOW

SHARES_PLOT = "class_shares.png"
LOYALTY_PLOT = "loyalty.png"
TRAINING_LIMIT_S = 600
NAMES = {
    "sequence": "GRU (this artifact)",
    "persistence": "persistence",
    "logistic": "logistic regression (lagged)",
    "bayes": "Bayes (the generator's truth)",
}


def class_shares(data: Prepared) -> dict[str, list[dict[str, Any]]]:
    """Each class's share for windows of every length ending at the last month, and in the
    3-month window ending at each month."""
    lengths = list(range(1, data.days.shape[1] + 1))
    by_length = profitability.shares_by_length(data.days, data.spend, lengths)
    by_month = [
        {
            "month": i + WINDOW - 1,
            **{c: float((data.labels[:, i] == k).mean()) for k, c in enumerate(CLASSES)},
        }
        for i in range(data.labels.shape[1])
    ]
    rows = [{str(k): v for k, v in r.items()} for r in by_length.to_dict("records")]
    return {"by_window_length": rows, "by_month": by_month}


def spread(rows: list[dict[str, Any]], key: str, first: int) -> float:
    """The largest range of any class's share over the rows whose `key` is `first` or more."""
    kept = [r for r in rows if r[key] >= first]
    return max(max(r[c] for r in kept) - min(r[c] for r in kept) for c in CLASSES)


def metrics(
    model: OutlookModel, data: Prepared, classes: dict[str, Any], scores: dict[str, Any]
) -> dict[str, Any]:
    shares = class_shares(data)
    loyalty = {k: v for k, v in scores.items() if k != "points"}
    loyalty["embeddings"] = model.facts.get("loyalty", {}).get("embeddings", [])
    p, seconds = {k: classes[k] for k in NAMES}, model.facts.get("seconds", {})
    targets = {
        "sequence_macro_f1_at_least_persistence": p["sequence"]["macro_f1"]
        >= p["persistence"]["macro_f1"],
        "sequence_macro_f1_at_least_logistic": p["sequence"]["macro_f1"]
        >= p["logistic"]["macro_f1"],
        "sequence_accuracy_within_2_points_of_bayes": p["bayes"]["accuracy"]
        - p["sequence"]["accuracy"]
        <= 0.02,
        "at_least_50000_customers": classes["n_customers"] >= 50_000,
        "mf_gbdt_below_gbdt": scores["mf_gbdt"]["rmse"] < scores["gbdt"]["rmse"],
        "mf_gbdt_within_5_percent_of_noise_floor": scores["mf_gbdt"]["rmse"]
        <= 1.05 * scores["noise_floor_rmse"],
        "training_under_10_minutes": seconds.get("total", np.inf) < TRAINING_LIMIT_S,
    }
    return {
        "model_version": model.version,
        **{
            k: classes[k]
            for k in ("n_customers", "months", "window_months", "held_out_customers", "examples")
        },
        "profitability": p,
        "loyalty": loyalty,
        "class_shares": {
            **shares,
            "spread_from_3_months": spread(shares["by_window_length"], "months", WINDOW),
            "spread_second_half": spread(shares["by_month"], "month", classes["months"] // 2),
        },
        "training": model.facts,
        "targets": {k: bool(v) for k, v in targets.items()},
    }


def plot_shares(shares: dict[str, Any], path: Path) -> None:
    """The class shares of metrics.json: as windows lengthen, and month by month."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for c in CLASSES:
        left.plot(
            [r["months"] for r in shares["by_window_length"]],
            [r[c] for r in shares["by_window_length"]],
            "o-",
            label=c,
        )
        right.plot(
            [r["month"] for r in shares["by_month"]],
            [r[c] for r in shares["by_month"]],
            "o-",
            label=c,
        )
    left.set_xlabel("window length (months, ending at the last month)")
    left.set_ylabel("share of customers")
    right.set_xlabel(f"month (the {WINDOW}-month window ending there)")
    left.set_title("as windows lengthen")
    right.set_title("month by month")
    left.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_loyalty(scores: dict[str, Any], path: Path, points: int = 4000) -> None:
    pts = scores["points"]
    rows = np.random.default_rng(0).permutation(len(pts["loyalty"]))[:points]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(
        pts["bayes"][rows],
        pts["loyalty"][rows],
        s=3,
        alpha=0.3,
        label=f"E[L | orders] (RMSE {scores['noise_floor_rmse']:.2f})",
    )
    ax.scatter(
        pts["mf_gbdt"][rows],
        pts["loyalty"][rows],
        s=3,
        alpha=0.3,
        label=f"MF + LightGBM (RMSE {scores['mf_gbdt']['rmse']:.2f})",
    )
    lo, hi = np.percentile(pts["loyalty"], [0.5, 99.5])
    ax.plot([lo, hi], [lo, hi], "--", color="grey")
    ax.set_xlabel("estimated loyalty")
    ax.set_ylabel("loyalty on record")
    ax.legend(markerscale=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _class_rows(p: dict[str, Any]) -> list[str]:
    lines = ["| model | accuracy | macro F1 | log loss |", "|---|---|---|---|"]
    for key, name in NAMES.items():
        r = p[key]
        lines.append(
            f"| {name} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['log_loss']:.4f} |"
        )
    lines += [
        "",
        "Per class (precision / recall / F1):",
        "",
        "| model | " + " | ".join(CLASSES) + " |",
        "|---|---|---|---|",
    ]
    for key, name in NAMES.items():
        cells = [
            f"{c['precision']:.3f} / {c['recall']:.3f} / {c['f1']:.3f}"
            for c in p[key]["per_class"].values()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _loyalty_rows(lo: dict[str, Any]) -> list[str]:
    lines = [
        "| model | RMSE |",
        "|---|---|",
        f"| the mean | {lo['mean']['rmse']:.3f} |",
        f"| LightGBM on history | {lo['gbdt']['rmse']:.3f} |",
        f"| MF ({lo['mf_gbdt']['weighting']}, rank {lo['mf_gbdt']['rank']}) + LightGBM "
        f"(this artifact) | {lo['mf_gbdt']['rmse']:.3f} |",
        f"| noise floor: E[L given the orders], the generator's posterior | "
        f"{lo['noise_floor_rmse']:.3f} |",
        f"| the true L (needs the hidden drive and taste) | {lo['known_latent_rmse']:.3f} |",
        "",
        "Embedding chosen on training customers only (validation RMSE):",
        "",
        "| weighting | rank | RMSE |",
        "|---|---|---|",
    ]
    lines += [f"| {r['weighting']} | {r['rank']} | {r['rmse']:.3f} |" for r in lo["embeddings"]]
    return lines


def render(m: dict[str, Any]) -> str:
    p, lo, t = m["profitability"], m["loyalty"], m["training"]
    gap = (p["bayes"]["accuracy"] - p["sequence"]["accuracy"]) * 100
    ratio = lo["mf_gbdt"]["rmse"] / lo["noise_floor_rmse"]
    lines = [
        f"# Customer outlook: {m['model_version']}",
        "",
        f"{m['n_customers']:,} generated customers over {m['months']} months; "
        f"{m['held_out_customers']:,} held out ({m['examples']:,} customer-months judged).",
        "",
        "## Next month's profitability class",
        "",
        *_class_rows(p),
        "",
        "## Loyalty score",
        "",
        *_loyalty_rows(lo),
        "",
        f"The noise on record has SD {lo['noise_sd']}; the floor adds what the orders cannot "
        f"tell of the hidden drive and taste (expected {lo['noise_floor_expected_rmse']:.3f} "
        "from the posterior variances, against the realised figure above).",
        "",
        "## Class shares",
        "",
        f"Largest range of a class's share over windows of {WINDOW} months or more, all "
        f"ending at the last month: {m['class_shares']['spread_from_3_months'] * 100:.1f} "
        f"points; over the {WINDOW}-month windows of the second half of the months: "
        f"{m['class_shares']['spread_second_half'] * 100:.1f} points.",
        "",
        f"![class shares]({SHARES_PLOT}) ![loyalty]({LOYALTY_PLOT})",
        "",
        "## Targets",
        "",
        f"- GRU macro F1 {p['sequence']['macro_f1']:.4f} against persistence "
        f"{p['persistence']['macro_f1']:.4f} and logistic {p['logistic']['macro_f1']:.4f}.",
        f"- GRU accuracy {p['sequence']['accuracy']:.4f} against Bayes "
        f"{p['bayes']['accuracy']:.4f}: {gap:.2f} points below (target: within 2).",
        f"- MF + LightGBM RMSE {lo['mf_gbdt']['rmse']:.3f} against LightGBM alone "
        f"{lo['gbdt']['rmse']:.3f} and the noise floor {lo['noise_floor_rmse']:.3f}: "
        f"{(ratio - 1) * 100:.1f}% above it (target: within 5%).",
        f"- Training: {t.get('seconds', {}).get('total')} s in all (target: under "
        f"{TRAINING_LIMIT_S} s).",
        "",
        "| target | met |",
        "|---|---|",
        *[f"| {k.replace('_', ' ')} | {'yes' if v else 'no'} |" for k, v in m["targets"].items()],
        "",
    ]
    return "\n".join(lines)
