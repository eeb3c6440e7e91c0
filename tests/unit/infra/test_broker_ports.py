"""Which ports the local broker tries first: no broker is started here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.dev import broker
from infra.kafka.settings import KafkaSettings, SettingsError, kafka_settings, load_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    kafka_settings.cache_clear()
    yield
    kafka_settings.cache_clear()


def _ports() -> dict[str, int | None]:
    kafka_settings.cache_clear()
    return broker.last_ports()


def test_a_broker_folder_starts_on_the_port_asked_then_keeps_its_last(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The suite's two brokers start side by side: each asks a port of its own first."""
    monkeypatch.setenv("SCORER_BROKER_DIR", str(tmp_path))
    monkeypatch.delenv("SCORER_BROKER_PORT", raising=False)
    assert _ports() == {"port": 9092, "controller_port": None}
    monkeypatch.setenv("SCORER_BROKER_PORT", "9192")
    assert _ports() == {"port": 9192, "controller_port": None}
    (tmp_path / "ports.json").write_text('{"port": 40001, "controller_port": 40002}')
    assert _ports() == {"port": 40001, "controller_port": 40002}
    monkeypatch.setenv("SCORER_BROKER_PORT", "80")
    with pytest.raises(SettingsError, match="SCORER_BROKER_PORT='80'"):
        load_settings(KafkaSettings)
