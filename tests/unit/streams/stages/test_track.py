"""The tracker's rebuild passes over records it cannot decode, and says so."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import faust
import pytest

from infra.kafka.reading import Written
from schemas.codec import Codec
from schemas.examples import EXAMPLES
from streams import runtime


@pytest.fixture
def track(scorer_app: faust.App) -> Iterator[Any]:
    """streams.stages.track with a runtime that has only the codec it reads with."""
    before = runtime.installed()
    runtime.install(cast(runtime.Runtime, SimpleNamespace(codec=Codec())))
    try:
        yield importlib.import_module("streams.stages.track")
    finally:
        runtime._runtime = before


def test_a_record_that_does_not_decode_is_passed_over_and_counted(track: Any) -> None:
    metrics = importlib.import_module("streams.metrics")
    rules = importlib.import_module("streams.rules.track_conversions")
    good = Codec().encode("OrderPlaced", EXAMPLES["OrderPlaced"])
    written = [
        Written(1, 0, "s-1", b"\x00not avro"),
        Written(2, 0, "s-2", good),
        Written(3, 1, "s-3", good[:5]),
    ]
    counter = metrics.READ_BACK_SKIPPED.labels(topic="scoring.session-orders")
    before = counter._value.get()
    kept = list(track._readable("scoring.session-orders", written, "OrderPlaced", rules.kept_order))
    assert [w.key for w, _ in kept] == ["s-2"]
    assert kept[0][1]["order_id"] == EXAMPLES["OrderPlaced"]["order_id"]
    assert counter._value.get() - before == 2
