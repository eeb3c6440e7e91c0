"""`python -m model train|evaluate|score|customers|store|promote|rollback|retire|models`:
the model's commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from infra.kafka.broker import BrokerError
from model import release
from model.artifact import ArtifactError
from model.customers import commands as customer_commands
from model.customers.cdnow import CdnowError
from model.customers.fitting import FitError
from model.features import RAW_COLUMNS, FeatureError
from model.lifecycle import AnnouncementError
from model.store import DEFAULT as DEFAULT_STORE
from model.store import ModelStore

BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m model", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="generate sessions and train the MLP")
    train.add_argument(
        "--sessions",
        type=positive_int,
        default=1_400_000,
        help="sessions to generate, split 70/15/15 (default 1,400,000)",
    )
    train.add_argument("--seed", type=int, default=20240701, help="seed of data and training")
    train.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    train.add_argument(
        "--store",
        type=Path,
        default=Path(os.environ.get("SCORER_MODEL_STORE", DEFAULT_STORE)),
        help=f"model store the artifact is also kept in (default SCORER_MODEL_STORE, else "
        f"{DEFAULT_STORE})",
    )
    train.add_argument("--epochs", type=positive_int, default=40, help="most epochs (default 40)")
    train.add_argument(
        "--class-weight",
        choices=["none", "balanced"],
        default="none",
        help="reweight the loss by class frequency (default none)",
    )
    evaluate = commands.add_parser("evaluate", help="write the evaluation report of an artifact")
    evaluate.add_argument("--model", type=Path, required=True, help="artifact folder")
    evaluate.add_argument("--out", type=Path, required=True, help="report folder to write")
    score = commands.add_parser(
        "score",
        help="score a CSV of sessions in batches",
        description="Columns of the input: "
        + "; ".join(f"{k}: {v}" for k, v in RAW_COLUMNS.items()),
    )
    score.add_argument("--model", type=Path, required=True, help="artifact folder")
    score.add_argument("--input", type=Path, required=True, help="CSV of sessions")
    score.add_argument("--output", type=Path, required=True, help="CSV to write")
    score.add_argument("--batch-size", type=positive_int, default=10_000)
    customer_commands.add_parser(commands, positive_int)
    release.add_parsers(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "train":
            return run_train(args)
        if args.command == "evaluate":
            return run_evaluate(args)
        if args.command == "customers":
            return customer_commands.run(args)
        if args.command in release.COMMANDS:
            return release.run(args)
        return run_score(args)
    except (ArtifactError, FeatureError, CdnowError, FitError, AnnouncementError, BrokerError,
            customer_commands.CommandError) as exc:  # fmt: skip
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run_train(args: argparse.Namespace) -> int:
    from model.train import train

    model = train(
        args.sessions, args.seed, args.out, epochs=args.epochs, class_weight=args.class_weight
    )
    m = model.metrics
    ModelStore(args.store).add(args.out)
    print(
        f"Trained {model.version} on {m['n_train']:,} sessions in {m['train_seconds']} s "
        f"(best epoch {m['best_epoch']}): validation accuracy {m['val_accuracy']:.4f}, "
        f"log loss {m['val_log_loss']:.4f}. Artifact: {args.out}, kept in {args.store}"
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from model.evaluate import EvaluationError, evaluate

    try:
        m = evaluate(args.model, args.out)
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{m['model_version']} on {m['n_test']:,} test sessions: accuracy {m['accuracy']:.4f} "
        f"(Bayes {m['bayes_accuracy']:.4f}), log loss {m['log_loss']:.4f} "
        f"(Bayes {m['bayes_log_loss']:.4f}). Report: {args.out / 'report.md'}"
    )
    return 0


def run_score(args: argparse.Namespace) -> int:
    from model.features import CLASSES
    from model.predictor import Predictor

    predictor = Predictor.from_artifact(args.model)
    try:
        chunks = pd.read_csv(
            args.input,
            chunksize=args.batch_size,
            dtype={
                "expression": object,
                "emotion": object,
                "city": object,
                "station_type": object,
                "frequent_type": object,
                "is_new_user": str,
            },
        )
    except (FileNotFoundError, pd.errors.EmptyDataError) as exc:
        print(f"error: {args.input}: {exc}", file=sys.stderr)
        return 1
    written = 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for chunk in chunks:
        frame = chunk.reset_index(drop=True)
        if "is_new_user" in frame:
            frame["is_new_user"] = frame["is_new_user"].map(
                lambda v: BOOLEANS.get(str(v).strip().lower(), v)
            )
        try:
            scores = predictor.score_frame(frame)
        except FeatureError as exc:
            if exc.row is None:
                raise
            line = written + exc.row + 2  # header is line 1
            print(
                f"error: {args.input}, line {line} (row {written + exc.row + 1}), column "
                f"{exc.column!r}: {exc.detail}",
                file=sys.stderr,
            )
            return 1
        out = chunk.copy()
        for k, name in enumerate(CLASSES):
            out[f"p_{name.lower()}"] = scores.probabilities[:, k].round(6)
        out["top_pick"] = [scores.ranked(i)["top_pick"] for i in range(len(frame))]
        out["predicted_class"] = [CLASSES[i] for i in scores.probabilities.argmax(axis=1)]
        out["model_version"] = predictor.version
        out.to_csv(args.output, mode="a" if written else "w", header=not written, index=False)
        written += len(frame)
    print(f"Scored {written:,} sessions with {predictor.version} into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
