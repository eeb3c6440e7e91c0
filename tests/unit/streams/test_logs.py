"""Repeated log lines are held back per kind, and counted when the window turns."""

from __future__ import annotations

import logging

from streams.logs import RepeatFilter


def record(msg: str, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("node 1",), None)


def test_a_kind_passes_burst_times_per_window_then_says_how_many_it_held() -> None:
    now = [0.0]
    f = RepeatFilter(window_s=30, burst=3, clock=lambda: now[0])
    passed = [f.filter(record("Unable connect to %s")) for _ in range(1000)]
    assert passed.count(True) == 3
    assert f.filter(record("Metadata of %s failed"))  # another kind has its own count
    assert f.filter(record("Unable connect to %s", name="faust"))  # so does another logger
    now[0] = 31.0
    first = record("Unable connect to %s")
    assert f.filter(first)
    assert first.getMessage() == "Unable connect to node 1 [997 more like this held back in 30 s]"
    second = record("Unable connect to %s")
    assert f.filter(second) and second.getMessage() == "Unable connect to node 1"
