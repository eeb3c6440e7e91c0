"""What a worker remembers of its outputs: every key published within the window, in the
order published, and nothing older."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from streams.kafka.outputs import ReadBack, RecentKeys


def test_keys_are_kept_for_the_window_and_then_forgotten() -> None:
    recent = RecentKeys("scoring.recommendations", window_ms=1000)
    recent.add("s-1", 10_000)
    recent.add("s-2", 10_500)
    assert "s-1" in recent and "s-2" in recent and "s-3" not in recent
    recent.add("s-3", 11_000)  # s-1 is exactly 1000 ms old: still in the window
    assert "s-1" in recent
    recent.add("s-4", 11_001)
    assert "s-1" not in recent and "s-2" in recent and len(recent) == 3


def test_a_key_published_again_is_kept_from_its_latest_time() -> None:
    recent = RecentKeys("scoring.conversions", window_ms=1000)
    recent.add("s-1", 10_000)
    recent.add("s-2", 10_100)
    recent.add("s-1", 10_900)  # again: now the newest
    recent.add("s-3", 11_200)  # s-2 leaves the window, s-1 does not
    assert "s-2" not in recent and "s-1" in recent and "s-3" in recent


def test_a_quiet_worker_forgets_the_keys_past_the_window() -> None:
    recent = RecentKeys("scoring.recommendations", window_ms=1000)
    recent.add("s-1", 10_000)
    recent.add("s-2", 10_600)
    recent.expire(11_000)
    assert len(recent) == 2
    recent.expire(11_001)
    assert "s-1" not in recent and "s-2" in recent and len(recent) == 1
    recent.expire(20_000)
    assert len(recent) == 0


def test_an_agent_behind_its_input_keeps_its_keys_that_much_longer() -> None:
    """A copy queued in a backlog behind the original is still recognised when the agent
    reaches it: keys stay the window beyond how far the agent is behind its input."""
    recent = RecentKeys("scoring.recommendations", window_ms=1000)
    recent.add("s-1", 10_000, read_ms=9_990)
    recent.add("s-2", 12_000, read_ms=9_000)  # 3 s behind: s-1 stays until 14,000
    assert "s-1" in recent
    recent.expire(14_000)
    assert "s-1" in recent
    recent.expire(14_001)
    assert "s-1" not in recent and "s-2" in recent
    recent.add("s-3", 15_000, read_ms=14_999)  # caught up: the plain window again
    assert "s-2" not in recent and "s-3" in recent


def test_a_timer_decision_leaves_the_lag_as_it_was() -> None:
    recent = RecentKeys("scoring.conversions", window_ms=1000)
    recent.add("s-1", 10_000, read_ms=8_000)
    recent.add("s-2", 11_000)  # decided by a timer, not by an input: still 2 s behind
    recent.expire(13_000)
    assert "s-1" in recent
    recent.expire(13_001)
    assert "s-1" not in recent and "s-2" in recent


def test_the_read_back_gate_holds_an_agent_until_it_opens() -> None:
    gate = ReadBack()

    async def run() -> list[str]:
        seen: list[str] = []

        async def agent() -> None:
            await gate.wait()
            seen.append("handled")

        task = asyncio.create_task(agent())
        await asyncio.sleep(0.01)
        seen.append("still closed" if not task.done() else "passed early")
        gate.open()
        await task
        gate.close()
        seen.append("closed again" if not gate.is_open() else "open")
        return seen

    assert asyncio.run(run()) == ["still closed", "handled", "closed again"]


def test_an_assignment_closes_every_gate_before_faust_handles_it(
    scorer_app: faust.App, monkeypatch: Any
) -> None:
    """Faust calls the agents' handlers in no set order and may resume the streams before
    the last has started: so every gate closes before any of it."""

    gates = [ReadBack(), ReadBack()]
    for gate in gates:
        gate.open()
    seen: list[list[bool]] = []

    async def faust_handles(self: Any, assigned: set[Any], generation_id: int = 0) -> None:
        seen.append([gate.is_open() for gate in gates])

    monkeypatch.setattr(faust.App, "_on_partitions_assigned", faust_handles)
    asyncio.run(scorer_app._on_partitions_assigned(set()))
    assert seen == [[False, False]]
