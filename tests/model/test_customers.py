"""The customer model on data whose truth is known (the generator's step 8), and the
commands that fit and validate it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from model.customers import calibration, cdnow, customer_model
from model.customers.commands import MONTH_MS, truth_table
from model.customers.rfm import from_orders
from model.synthetic import generator

pytestmark = pytest.mark.slow
CUSTOMERS = 50_000


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return generator.customer_orders(CUSTOMERS, seed=20240701)[0]


def test_the_fit_recovers_the_generators_parameters(orders: pd.DataFrame) -> None:
    _, rfm = from_orders(orders, generator.START_MS + 18 * MONTH_MS)
    table = truth_table(customer_model.fit(rfm))
    # 50,000 customers, five seeds: r +1 to +4%, alpha +5 to +8% (two purchases on one
    # day are one purchase day, so rates look a little lower), a and b within 3%, p within
    # 6% and gamma within 8% (they trade off along a ridge), q within 1%.
    for row in table:
        assert abs(row["error_pct"]) < 10.0, row


def test_holdout_purchases_are_predicted_bucket_by_bucket(orders: pd.DataFrame) -> None:
    start = generator.START_MS
    _, table = calibration.holdout_table(orders, start + 12 * MONTH_MS, start + 18 * MONTH_MS)
    assert len(table) == calibration.BUCKETS
    weights = table["customers"]
    overall = (weights * table["predicted"]).sum() / (weights * table["actual"]).sum()
    assert 0.9 < overall < 1.15
    for row in table.to_dict("records"):
        assert abs(row["predicted"] - row["actual"]) < 0.2 * row["actual"] + 0.06, row


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model", "customers", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_validate_cdnow_prints_the_published_figures() -> None:
    done = _run("validate-cdnow")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    for model in ("bgnbd", "gamma_gamma"):
        for name, published in cdnow.PUBLISHED[model].items():
            bound = 0.5 if name == "log_likelihood" else 0.01
            assert abs(got[model][name] - published) <= bound, (model, name)
    assert abs(got["expected_purchases"] - cdnow.PUBLISHED["expected_purchases"]) <= 0.005


def test_fit_from_a_csv_writes_a_loadable_model(orders: pd.DataFrame, tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    orders.head(20_000).to_csv(csv, index=False)
    done = _run("fit", "--orders", str(csv), "--out", str(tmp_path / "m"), "--clusters", "4")
    assert done.returncode == 0, done.stderr
    model = customer_model.load(tmp_path / "m")
    assert len(model.clusters.labels) == 4 and model.version in done.stdout
    assert "## Segments" in (tmp_path / "m" / "report.md").read_text()


def test_bad_inputs_get_an_error_that_names_them(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,placed_at_ms,amount\nu1,1719792000000,200\nu2,1719792000000,-5\n")
    done = _run("fit", "--orders", str(bad), "--out", str(tmp_path / "m"))
    assert done.returncode == 1 and "line 3, column 'amount'" in done.stderr
    bad.write_text("user,when\nu1,2\n")
    done = _run("fit", "--orders", str(bad), "--out", str(tmp_path / "m"))
    assert done.returncode == 1 and "lacks column(s) amount, placed_at_ms, user_id" in done.stderr
    done = _run("validate-cdnow", "--wheel", str(tmp_path / "none.whl"))
    assert done.returncode == 1 and "make cdnow" in done.stderr
