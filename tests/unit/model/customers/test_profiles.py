"""The customer model artifact: what is saved loads back the same; anything else is
refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.customers import bgnbd, customer_model
from model.customers.rfm import from_orders
from model.mlp.artifact import ArtifactError
from model.synthetic import generator


@pytest.fixture(scope="module")
def fitted() -> tuple[customer_model.CustomerModel, object]:
    orders, _, _ = generator.customer_orders(3000, seed=2)
    _, rfm = from_orders(orders, generator.START_MS + 540 * generator.DAY_MS)
    return customer_model.fit(rfm, k=4), rfm


def test_a_saved_model_loads_back_and_profiles_alike(fitted: tuple, tmp_path: Path) -> None:
    model, rfm = fitted
    version = customer_model.save(tmp_path, model, "2026-12-01T00:00:00+00:00")
    loaded = customer_model.load(tmp_path)
    assert loaded.version == version and version.startswith("cust-20261201-")
    a, b = customer_model.profile_columns(model, rfm), customer_model.profile_columns(loaded, rfm)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert (a["p_alive"] > 0).all() and (a["p_alive"] <= 1).all()
    assert (a["clv_fen"] >= 0).all() and np.isfinite(a["clv_fen"]).all()


def _edit(path: Path, change: object) -> None:
    meta = json.loads((path / customer_model.FILE).read_text())
    change(meta)  # type: ignore[operator]
    (path / customer_model.FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda m: m["params"]["bgnbd"].update(r=0.5), "corrupt"),
        (lambda m: m.update(format=99), "format 99"),
        (lambda m: m.pop("params"), "not a customer model"),
    ],
)
def test_a_changed_or_incomplete_artifact_is_refused(
    fitted: tuple, tmp_path: Path, change: object, why: str
) -> None:
    customer_model.save(tmp_path, fitted[0], "2026-12-01T00:00:00+00:00")
    _edit(tmp_path, change)
    with pytest.raises(ArtifactError, match=why):
        customer_model.load(tmp_path)


def test_bad_numbers_are_refused_even_with_a_matching_hash(fitted: tuple, tmp_path: Path) -> None:
    customer_model.save(tmp_path, fitted[0], "2026-12-01T00:00:00+00:00")

    def negative(meta: dict) -> None:
        meta["params"]["gamma_gamma"]["q"] = 0.5
        body = json.dumps(meta["params"], sort_keys=True).encode()
        meta["params_sha256"] = __import__("hashlib").sha256(body).hexdigest()

    _edit(tmp_path, negative)
    with pytest.raises(ArtifactError, match="q above 1"):
        customer_model.load(tmp_path)


def test_missing_and_garbage_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="missing"):
        customer_model.load(tmp_path)
    (tmp_path / customer_model.FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="not a customer model"):
        customer_model.load(tmp_path)


def test_alive_over_time_decays_between_purchases_and_ends_at_the_profiles_figure(
    fitted: tuple,
) -> None:
    model, _ = fitted
    day = generator.DAY_MS
    first = generator.START_MS
    recent = [first + 40 * day, first + 60 * day, first + 65 * day]  # 2 days before: 5 in all
    until = first + 200 * day
    times, alive = customer_model.alive_over_time(model, first, 5, recent, until, points=400)
    assert times[0] == recent[0] and times[-1] == until
    between = (times > recent[-1]) & (times <= until)
    assert (np.diff(alive[between]) <= 1e-12).all()  # no purchase: it only falls
    jump = np.searchsorted(times, recent[1])
    assert alive[jump] > alive[jump - 1]  # a purchase raises it
    x, t_x, T = 4, 65.0, 200.0
    assert alive[-1] == pytest.approx(float(bgnbd.p_alive(model.purchases, x, t_x, T)))
