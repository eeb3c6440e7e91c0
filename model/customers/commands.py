"""`python -m model customers fit|validate-cdnow`: the customer model's commands."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.customers import bgnbd, calibration, cdnow, clv, customer_model, gamma_gamma
from model.customers.clusters import silhouettes
from model.customers.history import DAY_MS
from model.customers.rfm import from_orders
from model.outlook import commands as outlook_commands
from model.synthetic import generator
from schemas.errors import ScorerError

MONTH_MS = int(clv.DAYS_PER_MONTH * DAY_MS)
ORDER_COLUMNS = "user_id, placed_at_ms (epoch ms) or placed_at (ISO 8601), amount (fen)"


class CommandError(ScorerError):
    """A command's input cannot be used; says which and why."""


def add_parser(commands: Any, positive_int: Any) -> None:
    customers = commands.add_parser(
        "customers", help="customer analytics: RFM, BG/NBD, CLV, the outlook"
    )
    sub = customers.add_subparsers(dest="customers_command", required=True)
    fit = sub.add_parser(
        "fit",
        help="fit the customer model from generated or CSV orders",
        description=f"Columns of --orders: {ORDER_COLUMNS}.",
    )
    fit.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    fit.add_argument("--orders", type=Path, help="CSV of orders (default: generate them)")
    fit.add_argument(
        "--as-of",
        type=int,
        help="epoch ms the RFM is taken at (default: the "
        "last order; generated: the end of the 18 months)",
    )
    fit.add_argument(
        "--customers",
        type=positive_int,
        default=50_000,
        help="customers to generate (default 50,000)",
    )
    fit.add_argument("--seed", type=int, default=20240701, help="seed of the generated orders")
    fit.add_argument("--clusters", type=positive_int, default=6, help="k of k-means (default 6)")
    fit.add_argument(
        "--monthly-discount",
        type=float,
        default=0.01,
        help="discount rate a month for the CLV (default 0.01)",
    )
    check = sub.add_parser("validate-cdnow", help="fit CDNOW and print the parameters as JSON")
    check.add_argument("--wheel", type=Path, default=cdnow.WHEEL, help="the Lifetimes wheel")
    outlook_commands.add_parsers(sub, positive_int)


def run(args: argparse.Namespace) -> int:
    if args.customers_command == "validate-cdnow":
        print(json.dumps(validate_cdnow(args.wheel)))
        return 0
    if args.customers_command == "train-outlook":
        return outlook_commands.run_train(args)
    if args.customers_command == "evaluate":
        return outlook_commands.run_evaluate(args)
    return run_fit(args)


def validate_cdnow(wheel: Path) -> dict[str, Any]:
    """The published CDNOW fits, done again: the JSON `validate-cdnow` prints."""
    data = cdnow.summary(wheel)
    purchases = bgnbd.fit(data["x"], data["t_x"], data["T"])
    repeat = data[data["x"] > 0]
    spend = gamma_gamma.fit(repeat["x"], repeat["zbar"])
    expected = bgnbd.expected_purchases(purchases, 39, 2, 30.43, 38.86)
    return {
        "bgnbd": _rounded(purchases.as_dict()),
        "gamma_gamma": _rounded(spend.as_dict()),
        "expected_purchases": round(float(expected), 6),
    }


def run_fit(args: argparse.Namespace) -> int:
    if not 0 <= args.monthly_discount < 1:
        raise CommandError(f"--monthly-discount {args.monthly_discount} must be in [0, 1)")
    started = time.perf_counter()
    source: dict[str, Any]
    if args.orders is not None:
        orders, truth = read_orders(args.orders), None
        as_of = args.as_of if args.as_of is not None else int(orders["placed_at_ms"].max())
        source = {"orders_csv": str(args.orders)}
    else:
        orders, truth, _ = generator.customer_orders(args.customers, args.seed)
        as_of = args.as_of if args.as_of is not None else generator.START_MS + 18 * MONTH_MS
        source = {"generator": {"customers": args.customers, "seed": args.seed}}
    users, rfm = from_orders(orders, as_of)
    if len(users) < args.clusters:
        raise CommandError(f"{len(users)} customers with orders: too few for the model")
    model = customer_model.fit(rfm, args.clusters, monthly_discount=args.monthly_discount)
    columns = customer_model.profile_columns(model, rfm)
    facts: dict[str, Any] = {
        "source": source,
        "as_of_ms": as_of,
        "customers": len(users),
        "orders": len(orders),
        "fit_seconds": 0.0,
        "silhouette": silhouettes(rfm, range(2, 9)),
    }
    facts.update(_mix(columns))
    facts["fit_seconds"] = round(time.perf_counter() - started, 2)
    if truth is not None:
        facts["truth"] = truth_table(model)
        facts["holdout"] = _holdout(orders, args.out)
    model = customer_model.CustomerModel(**{**model.__dict__, "facts": facts})
    version = customer_model.save(args.out, model, datetime.now(UTC).isoformat(timespec="seconds"))
    (args.out / "report.md").write_text(report(version, model))
    print(
        f"Fitted {version} on {len(users):,} customers ({len(orders):,} orders) in "
        f"{facts['fit_seconds']} s: {_params_line(model)}. Artifact: {args.out}"
    )
    return 0


def read_orders(path: Path) -> pd.DataFrame:
    """Orders from a CSV; CommandError names the line and column of anything wrong."""
    try:
        raw = pd.read_csv(path, dtype={"user_id": str})
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise CommandError(f"{path}: {exc}") from exc
    if "placed_at_ms" not in raw and "placed_at" in raw:
        stamps = pd.to_datetime(raw["placed_at"], utc=True, errors="coerce")
        raw["placed_at_ms"] = stamps.astype("int64") // 1_000_000
        raw.loc[stamps.isna(), "placed_at_ms"] = np.nan
    missing = {"user_id", "placed_at_ms", "amount"} - set(raw.columns)
    if missing:
        raise CommandError(
            f"{path} lacks column(s) {', '.join(sorted(missing))} (expected: {ORDER_COLUMNS})"
        )
    for column in ("placed_at_ms", "amount"):
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() | (values < (1 if column == "amount" else 0))
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise CommandError(
                f"{path}, line {line}, column {column!r}: "
                f"{raw[column].iloc[line - 2]!r} is not a positive number"
            )
        raw[column] = values.astype(np.int64)
    if raw["user_id"].isna().any():
        line = int(np.flatnonzero(raw["user_id"].isna().to_numpy())[0]) + 2
        raise CommandError(f"{path}, line {line}, column 'user_id': empty")
    return raw[["user_id", "placed_at_ms", "amount"]]


def truth_table(model: customer_model.CustomerModel) -> list[dict[str, Any]]:
    """Each fitted parameter beside the generator's truth."""
    truth = generator.BTYD_TRUTH
    fitted = {**model.purchases.as_dict(), **model.spend.as_dict()}
    return [
        {
            "parameter": name,
            "truth": getattr(truth, name),
            "fitted": round(fitted[name], 4),
            "error_pct": round(100 * (fitted[name] / getattr(truth, name) - 1), 2),
        }
        for name in ("r", "alpha", "a", "b", "p", "q", "gamma")
    ]


def _holdout(orders: pd.DataFrame, out: Path) -> dict[str, Any]:
    end = generator.START_MS + 12 * MONTH_MS
    model, table = calibration.holdout_table(orders, end, generator.START_MS + 18 * MONTH_MS)
    out.mkdir(parents=True, exist_ok=True)
    calibration.plot(
        table, str(out / "calibration.png"), "BG/NBD fitted on months 1-12, months 13-18 held out"
    )
    return {"bgnbd": _rounded(model.as_dict()), "table": table.round(4).to_dict("records")}


def _mix(columns: dict[str, np.ndarray]) -> dict[str, Any]:
    def shares(values: np.ndarray) -> dict[str, int]:
        names, counts = np.unique(values.astype(str), return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts, strict=True)}

    return {
        "segments": shares(columns["segment"]),
        "clusters": shares(columns["cluster"]),
        "mean_clv_fen": round(float(np.mean(columns["clv_fen"])), 1),
        "mean_p_alive": round(float(np.mean(columns["p_alive"])), 4),
    }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in values.items()}


def _params_line(model: customer_model.CustomerModel) -> str:
    p, s = model.purchases, model.spend
    return (
        f"BG/NBD r {p.r:.3f} alpha {p.alpha:.2f} a {p.a:.3f} b {p.b:.3f}; "
        f"Gamma-Gamma p {s.p:.2f} q {s.q:.2f} gamma {s.gamma:.1f}"
    )


def report(version: str, model: customer_model.CustomerModel) -> str:
    """The fit's report in Markdown: what a planner reads before trusting the model."""
    f = model.facts
    lines = [
        f"# Customer model {version}",
        "",
        f"Source: `{json.dumps(f['source'])}`; "
        f"{f['customers']:,} customers, {f['orders']:,} orders, as of {f['as_of_ms']} ms; "
        f"fitted in {f['fit_seconds']} s.",
        "",
        _params_line(model) + ".",
        "",
    ]
    if "truth" in f:
        lines += [
            "## Against the generator's truth",
            "",
            "| parameter | truth | fitted | error |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {t['parameter']} | {t['truth']} | {t['fitted']} | {t['error_pct']:+.2f}% |"
            for t in f["truth"]
        ]
        lines += [
            "",
            "## Calibration (months 1-12) and holdout (months 13-18)",
            "",
            "| repeat days (calibration) | customers | actual | predicted |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['repeat_days']} | {r['customers']:,} | {r['actual']:.3f} | "
            f"{r['predicted']:.3f} |"
            for r in f["holdout"]["table"]
        ]
        lines += ["", "![calibration](calibration.png)", ""]
    lines += ["## Clusters (k-means on scaled RFM)", "", "| k | silhouette |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in f["silhouette"].items()]
    lines += ["", f"k = {len(model.clusters.labels)}:", ""]
    lines += [f"- {label}: {f['clusters'].get(label, 0):,}" for label in model.clusters.labels]
    lines += ["", "## Segments", ""]
    lines += [
        f"- {name}: {count:,}"
        for name, count in sorted(f["segments"].items(), key=lambda kv: -kv[1])
    ]
    lines += [
        "",
        f"Mean CLV over {model.months} months: {f['mean_clv_fen'] / 100:.2f} yuan; "
        f"mean P(alive) {f['mean_p_alive']:.3f}.",
        "",
    ]
    return "\n".join(lines)
