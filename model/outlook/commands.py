"""`python -m model customers train-outlook|evaluate`: the outlook's commands.

train-outlook draws the journeys (model/outlook/journeys.py), splits the customers as
the evaluation will, and fits on the training customers the two models the product
serves: the GRU of next month's class and MF + LightGBM of the loyalty score. evaluate
draws the same journeys again from the seed the artifact records, checks them against its
fingerprint, fits the baselines on the same training customers and judges everything on
the held out ones against the generator's truth (model/outlook/report.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from model.outlook import artifact as outlook_artifact
from model.outlook import journeys, loyalty
from model.outlook import next_class as outlook
from model.outlook import report as outlook_report
from model.outlook.artifact import OutlookModel
from schemas.errors import ScorerError

GENERATOR = "model.outlook.journeys"
#: The same, as an outlook trained before model/ had sub-packages records it.
EARLIER_GENERATORS = ("model.customers.journeys",)


class OutlookError(ScorerError):
    """The outlook cannot be trained or evaluated as asked; says why."""


def add_parsers(sub: Any, positive_int: Any) -> None:
    train = sub.add_parser(
        "train-outlook",
        help="train next month's class (GRU) and the loyalty score (MF + LightGBM)",
        description="On generated customer journeys whose truth is known; a fifth of the "
        "customers is held out for `evaluate`.",
    )
    train.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    train.add_argument(
        "--customers",
        type=positive_int,
        default=50_000,
        help="customers to generate (default 50,000)",
    )
    train.add_argument(
        "--months",
        type=positive_int,
        default=18,
        help="months of journeys (default 18; at least 6)",
    )
    train.add_argument("--seed", type=int, default=20240701, help="seed of data and training")
    train.add_argument(
        "--epochs", type=positive_int, default=30, help="most epochs of the GRU (default 30)"
    )
    evaluate = sub.add_parser(
        "evaluate", help="write the outlook's report: the models against baselines and the truth"
    )
    evaluate.add_argument("--model", type=Path, required=True, help="outlook artifact folder")
    evaluate.add_argument("--out", type=Path, required=True, help="report folder to write")


def fingerprint(drawn: journeys.Journeys) -> str:
    """A digest of the journeys' months and loyalty: evaluate checks it draws the same."""
    h = hashlib.sha256()
    for column in ("state", "purchase_days", "spend"):
        h.update(np.ascontiguousarray(drawn.months[column].to_numpy()).tobytes())
    h.update(np.ascontiguousarray(drawn.customers["loyalty"].to_numpy()).tobytes())
    return h.hexdigest()[:16]


def _step(text: str) -> float:
    print(text, file=sys.stderr, flush=True)
    return time.perf_counter()


def run_train(args: argparse.Namespace) -> int:
    if args.months < 6:
        raise OutlookError(
            f"--months {args.months}: at least 6 are needed (a 3-month window, "
            "and months to learn from and predict)"
        )
    started = _step(f"drawing {args.customers:,} journeys of {args.months} months")
    drawn = journeys.generate(args.customers, args.months, args.seed)
    data = outlook.prepare(drawn, args.seed)
    seconds: dict[str, float] = {"data": time.perf_counter() - started}
    began = _step("fitting the sequence model")
    trained = outlook.fit_sequence(data, args.seed, epochs=args.epochs)
    seconds["sequence"] = time.perf_counter() - began
    began = _step("fitting the loyalty score: embeddings compared, then MF + LightGBM")
    inputs = loyalty.Inputs.of(drawn, data.days, data.spend)
    fitted = loyalty.fit(inputs, data.train, args.seed, progress=True)
    seconds["loyalty"] = time.perf_counter() - began
    seconds["total"] = time.perf_counter() - started
    facts = {
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "sequence": {"epochs": trained.epochs, "best_val_log_loss": trained.best_val_loss},
        "loyalty": {"embeddings": fitted.choices, "rounds": fitted.booster.best_iteration},
        "train_customers": len(data.train),
    }
    source = {
        "generator": GENERATOR,
        "n_customers": args.customers,
        "months": args.months,
        "seed": args.seed,
        "fingerprint": fingerprint(drawn),
    }
    model = OutlookModel(data.fitted[-1], trained.network, fitted, data=source, facts=facts)
    version = outlook_artifact.save(
        args.out, model, datetime.now(UTC).isoformat(timespec="seconds")
    )
    print(
        f"Trained {version} on {len(data.train):,} of {args.customers:,} customers in "
        f"{seconds['total']:.1f} s (sequence {seconds['sequence']:.1f} s, loyalty "
        f"{seconds['loyalty']:.1f} s). Artifact: {args.out}"
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    model = outlook_artifact.load(args.model)
    src = model.data
    if src.get("generator") not in (GENERATOR, *EARLIER_GENERATORS):
        raise OutlookError(f"{args.model} does not record the journeys it was trained on")
    began = _step(f"drawing the {src['n_customers']:,} journeys again (seed {src['seed']})")
    drawn = journeys.generate(int(src["n_customers"]), int(src["months"]), int(src["seed"]))
    drawn_print = fingerprint(drawn)
    if drawn_print != src["fingerprint"]:
        raise OutlookError(
            f"the journeys drawn again have fingerprint {drawn_print}, "
            f"the artifact was trained on {src['fingerprint']}: the generator "
            "changed since; retrain"
        )
    data = outlook.prepare(drawn, int(src["seed"]))
    _step("judging next month's class: persistence, logistic regression, the GRU, the truth")
    classes = outlook.judge(data, model.network, int(src["seed"]))
    _step("judging the loyalty score: the mean, LightGBM, MF + LightGBM, the noise floor")
    inputs = loyalty.Inputs.of(drawn, data.days, data.spend)
    scores = loyalty.judge(
        inputs,
        data.days,
        data.spend,
        data.train,
        data.test,
        model.loyalty,
        int(src["seed"]),
        progress=True,
    )
    metrics = outlook_report.metrics(model, data, classes, scores)
    metrics["evaluate_seconds"] = round(time.perf_counter() - began, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    outlook_report.plot_shares(metrics["class_shares"], args.out / outlook_report.SHARES_PLOT)
    outlook_report.plot_loyalty(scores, args.out / outlook_report.LOYALTY_PLOT)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (args.out / "report.md").write_text(outlook_report.render(metrics))
    p, lo = metrics["profitability"], metrics["loyalty"]
    print(
        f"Evaluated {model.version}: next month's class macro F1 GRU "
        f"{p['sequence']['macro_f1']:.3f} (persistence {p['persistence']['macro_f1']:.3f}, "
        f"logistic {p['logistic']['macro_f1']:.3f}), accuracy {p['sequence']['accuracy']:.3f} "
        f"against Bayes {p['bayes']['accuracy']:.3f}; loyalty RMSE MF + LightGBM "
        f"{lo['mf_gbdt']['rmse']:.3f} (LightGBM {lo['gbdt']['rmse']:.3f}, noise floor "
        f"{lo['noise_floor_rmse']:.3f}). Report: {args.out / 'report.md'}"
    )
    return 0
