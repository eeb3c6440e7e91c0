"""The reference pages of the docs say what the code says."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.dev import reference


def test_every_reference_page_equals_what_the_code_makes() -> None:
    assert reference.stale() == [], "run: .venv/bin/python -m infra.dev.reference"


def test_a_page_that_differs_from_the_code_is_found(tmp_path: Path) -> None:
    for name, make in reference.MAKERS.items():
        (tmp_path / name).write_text(make())
    assert reference.stale(tmp_path) == []
    settings = tmp_path / "settings.md"
    settings.write_text(
        settings.read_text().replace(
            "`SCORER_FACE_WAIT_MS` | `1500`", "`SCORER_FACE_WAIT_MS` | `1000`"
        )
    )
    assert reference.stale(tmp_path) == ["settings.md"]


@pytest.mark.parametrize("variable", ["SCORER_FACE_WAIT_MS", "KAFKA_BOOTSTRAP_SERVERS"])
def test_the_settings_page_lists_the_worker_and_the_kafka_settings(variable: str) -> None:
    assert f"`{variable}`" in reference.settings_page()


def test_the_metrics_page_lists_the_web_fronts_metric_too() -> None:
    page = reference.metrics_page()
    assert "`scorer_http_score_requests_total` | counter | status |" in page
    assert "`scorer_latency_seconds` | histogram |" in page
