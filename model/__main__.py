"""`python -m model train|evaluate|score|customers|store|promote|rollback|retire|models`:
the model's commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from model.customers import commands as customer_commands
from model.mlp.features import RAW_COLUMNS, FeatureError
from model.production import release
from model.production.store import DEFAULT as DEFAULT_STORE
from model.production.store import ModelStore
from schemas.errors import ScorerError

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
    train = commands.add_parser(
        "train",
        help="train the MLP on generated sessions, a file of sessions, or the feature log",
        description="Trains on SESSIONS generated sessions unless --from-file or --from-topic "
        "names other data; any of them is split 70/15/15.",
    )
    data = train.add_mutually_exclusive_group()
    data.add_argument(
        "--sessions",
        type=positive_int,
        default=1_400_000,
        help="sessions to generate (default 1,400,000)",
    )
    data.add_argument(
        "--from-file",
        type=Path,
        metavar="CSV",
        help="labelled sessions: the columns of `score`'s input and `class` (one of "
        "NO_BUY, TWO_COLOR_BALL, TEN_TIMES_GOOD_LUCK, WELFARE_3D, OTHER)",
    )
    data.add_argument(
        "--from-topic",
        metavar="TOPIC",
        help="the feature log (scoring.features; SCORER_TOPIC_PREFIX goes before it) "
        "joined with scoring.conversions: the sessions served, labelled by their outcome",
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
    except ScorerError as exc:  # every refusal of the project's own says what and why
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run_train(args: argparse.Namespace) -> int:
    from model.mlp import train

    options = {"epochs": args.epochs, "class_weight": args.class_weight}
    if args.from_topic:
        model = train_from_log(args, options)
    elif args.from_file:
        frame = read_labelled_sessions(args.from_file)
        source = {"source": f"file {args.from_file.name}"}
        model = train.train_frame(frame, args.seed, args.out, source, **options)
    else:
        model = train.train(args.sessions, args.seed, args.out, **options)
    m = model.metrics
    ModelStore(args.store).add(args.out)
    print(
        f"Trained {model.version} on {m['n_train']:,} sessions in {m['train_seconds']} s "
        f"(best epoch {m['best_epoch']}): validation accuracy {m['val_accuracy']:.4f}, "
        f"log loss {m['val_log_loss']:.4f}. Artifact: {args.out}, kept in {args.store}"
    )
    return 0


def train_from_log(args: argparse.Namespace, options: dict[str, Any]) -> Any:
    """Read the feature log and the conversions, refuse skew, train on the joined sessions."""
    from infra.kafka.cluster import bootstrap_servers
    from infra.kafka.settings import KafkaSettings, load_settings
    from model.mlp import train
    from model.production import feature_log
    from schemas import topics

    prefix = load_settings(KafkaSettings).scorer_topic_prefix
    features = prefix + args.from_topic
    conversions = topics.named(topics.CONVERSIONS, prefix)
    logged = feature_log.read(bootstrap_servers(), features, conversions)
    print(
        f"{features}: {logged.logged:,} sessions logged, {len(logged.frame):,} with an "
        f"outcome in {conversions} ({logged.undecided:,} undecided, {logged.unreadable:,} "
        f"unreadable records skipped); served by {logged.versions}"
    )
    found = feature_log.skew(logged, ModelStore(args.store))
    print(
        f"skew check: {found.checked:,} sessions encoded again, {found.differing:,} differ "
        f"from what they were served (largest difference {found.max_difference:.3g})"
        + (
            f"; versions not in {args.store}, unchecked: {', '.join(found.unchecked_versions)}"
            if found.unchecked_versions
            else ""
        )
    )
    if found.differing:
        raise feature_log.FeatureLogError(
            f"training/serving skew: {found.differing:,} logged sessions encode differently "
            "from what they were served; not training on them"
        )
    frame = logged.frame.drop(columns=["model_version"])
    source = {
        "source": f"feature log {features} joined with {conversions}",
        "served_by": logged.versions,
    }
    return train.train_frame(frame, args.seed, args.out, source, **options)


#: How `score` and `train --from-file` read a CSV of sessions (floats exactly as written).
_CSV = {
    "float_precision": "round_trip",
    "dtype": {
        **{
            name: object
            for name in (
                "expression",
                "emotion",
                "city",
                "station_type",
                "frequent_type",
                "class",
                "session_id",
            )
        },
        "is_new_user": str,
    },
}


def read_session_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """A CSV of sessions (RAW_COLUMNS) in chunks of `rows`; booleans may be written
    true/false, 1/0 or yes/no."""
    try:
        reader = pd.read_csv(path, chunksize=rows, **_CSV)  # type: ignore[call-overload]
    except (FileNotFoundError, pd.errors.EmptyDataError) as exc:
        raise FeatureError(f"{path}: {exc}") from exc
    return (_booleans(chunk) for chunk in reader)


def read_labelled_sessions(path: Path) -> pd.DataFrame:
    """A CSV of sessions (RAW_COLUMNS) and the class each fell in (`class`), with `label`."""
    from model.mlp.features import CLASSES

    try:
        frame = _booleans(pd.read_csv(path, **_CSV))  # type: ignore[call-overload]
    except (FileNotFoundError, pd.errors.EmptyDataError) as exc:
        raise FeatureError(f"{path}: {exc}") from exc
    if "class" not in frame:
        raise FeatureError(f"{path}: no `class` column: labelled sessions need one")
    unknown = sorted(set(frame["class"].dropna()) - set(CLASSES))
    if unknown or frame["class"].isna().any():
        raise FeatureError(
            f"{path}: `class` must be one of {', '.join(CLASSES)}; found "
            f"{', '.join(map(str, unknown)) or 'empty values'}"
        )
    frame["label"] = frame["class"].map(CLASSES.index).astype("int64")
    return frame


def _booleans(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    if "is_new_user" in frame:
        frame["is_new_user"] = frame["is_new_user"].map(
            lambda v: BOOLEANS.get(str(v).strip().lower(), v)
        )
    return frame


def run_evaluate(args: argparse.Namespace) -> int:
    from model.mlp.evaluate import EvaluationError, evaluate

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
    from model.mlp.features import CLASSES
    from model.mlp.predictor import Predictor

    predictor = Predictor.from_artifact(args.model)
    try:
        chunks = read_session_chunks(args.input, args.batch_size)
    except FeatureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    written = 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for chunk in chunks:
        frame = chunk
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
        out["top_pick"] = [r["top_pick"] for r in scores.ranked()]
        out["predicted_class"] = [CLASSES[i] for i in scores.probabilities.argmax(axis=1)]
        out["model_version"] = predictor.version
        out.to_csv(args.output, mode="a" if written else "w", header=not written, index=False)
        written += len(frame)
    print(f"Scored {written:,} sessions with {predictor.version} into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
