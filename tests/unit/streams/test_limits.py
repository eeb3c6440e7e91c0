"""HTTP scoring admission: the rate, the burst and the cap on requests in flight."""

from __future__ import annotations

import pytest

from streams.web.limits import Admission


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_taken_then_the_rate() -> None:
    clock = Clock()
    gate = Admission(rate=8, burst=3, clock=clock)  # steps of 1/16 s: exact in binary
    assert [gate.enter() for _ in range(3)] == [None] * 3
    for _ in range(3):
        gate.leave()
    assert gate.enter() == 0.125  # the bucket is empty: one more in 1/8 s
    clock.now += 0.0625
    assert gate.enter() == 0.0625
    clock.now += 0.0625
    assert gate.enter() is None
    gate.leave()
    clock.now += 60  # refills to the burst, not beyond
    assert [gate.enter() for _ in range(4)][3] is not None


def test_requests_in_flight_are_capped_whatever_the_tokens() -> None:
    clock = Clock()
    gate = Admission(rate=1000, burst=2, clock=clock)
    assert gate.enter() is None and gate.enter() is None
    clock.now += 10
    assert gate.enter() == pytest.approx(0.001)  # two still in flight
    gate.leave()
    assert gate.enter() is None and gate.in_flight == 2
