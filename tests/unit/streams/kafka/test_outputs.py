"""What a worker remembers of its outputs: every key published within the window, in the
order published, and nothing older."""

from __future__ import annotations

from streams.kafka.outputs import RecentKeys


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
