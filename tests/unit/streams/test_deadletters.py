"""Bad input is a dead letter; an error in the scorer's own code is not: it is logged with
its traceback, counted, and stops the agent."""

from __future__ import annotations

import asyncio
import importlib
import logging
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from schemas.codec import InvalidDatum

EVENT = SimpleNamespace(
    message=SimpleNamespace(topic="station.orders", partition=3, offset=41, key=b"k", value=b"v")
)


@pytest.fixture
def deadletters(scorer_app: faust.App, monkeypatch: pytest.MonkeyPatch) -> Any:
    """streams.deadletters with its dead-letter producer replaced by a list."""
    module = importlib.import_module("streams.deadletters")
    sent: list[tuple[str, str]] = []

    async def record(event: Any, reason: str, message: str, part: Any = None) -> None:
        sent.append((reason, message))

    monkeypatch.setattr(module, "send_dead_letter", record)
    return SimpleNamespace(
        handle_or_dead_letter=module.handle_or_dead_letter,
        crash_on_bug=module.crash_on_bug,
        sent=sent,
    )


def _handle(deadletters: Any, error: Exception) -> None:
    async def handler(_: Any) -> None:
        raise error

    asyncio.run(deadletters.handle_or_dead_letter("record_orders", EVENT, handler))


def test_input_the_codec_refuses_is_a_dead_letter_and_the_agent_carries_on(
    deadletters: Any,
) -> None:
    _handle(deadletters, InvalidDatum("amount=-5 is outside 0..10000000"))
    assert deadletters.sent == [("invalid_datum", "amount=-5 is outside 0..10000000")]


@pytest.mark.parametrize("error", [KeyError("city"), TypeError("bad operand"), ValueError("x")])
def test_an_error_of_the_scorers_own_code_is_no_dead_letter_and_goes_on_up(
    deadletters: Any, error: Exception
) -> None:
    with pytest.raises(type(error)) as raised:
        _handle(deadletters, error)
    assert deadletters.sent == []
    assert "record_orders was handling station.orders[3]@41" in raised.value.__notes__


def test_crash_on_bug_logs_the_traceback_counts_and_raises(
    deadletters: Any, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = importlib.import_module("streams.metrics")
    counter = metrics.PROGRAMMING_ERRORS.labels(agent="record_orders")
    before = counter._value.get()
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(KeyError),
        deadletters.crash_on_bug("record_orders"),
    ):
        raise KeyError("city")
    assert counter._value.get() - before == 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and "record_orders" in record.getMessage()


def test_crash_on_bug_lets_a_cancelled_agent_stop_quietly(deadletters: Any) -> None:
    metrics = importlib.import_module("streams.metrics")
    counter = metrics.PROGRAMMING_ERRORS.labels(agent="join_faces")
    before = counter._value.get()
    with pytest.raises(asyncio.CancelledError), deadletters.crash_on_bug("join_faces"):
        raise asyncio.CancelledError
    assert counter._value.get() == before


def test_crash_on_bug_counts_no_error_the_project_raises_itself(deadletters: Any) -> None:
    """Outputs undeliverable for good (DeliveryFailed) stop the worker too, but are no bug."""
    metrics = importlib.import_module("streams.metrics")
    failed = importlib.import_module("streams.kafka.publisher").DeliveryFailed
    counter = metrics.PROGRAMMING_ERRORS.labels(agent="score_sessions")
    before = counter._value.get()
    with pytest.raises(failed), deadletters.crash_on_bug("score_sessions"):
        raise failed("the broker has been away for 300 s")
    assert counter._value.get() == before
