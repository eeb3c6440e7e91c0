"""The worker's Faust app for unit tests: built as the worker builds it, with settings
naming a broker that is never asked."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import faust
import pytest

from infra.kafka.settings import kafka_settings
from streams.settings import settings


@pytest.fixture
def scorer_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[faust.App]:
    """streams.app's app; building it does not connect (the broker is never asked)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    kafka_settings.cache_clear()
    settings.cache_clear()
    try:
        yield importlib.import_module("streams.app").app
    finally:
        kafka_settings.cache_clear()
        settings.cache_clear()
