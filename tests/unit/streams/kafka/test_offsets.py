"""The acked offsets' bookkeeping, and StuckHeads: a partition is sought back only once its
committed offset has gone unacked for the whole wait while later offsets were acked, and
again only after another whole wait."""

from __future__ import annotations

from faust.types import TP

from streams.kafka.offsets import StuckHeads, drop_below, put_back

A, B = TP("station.sessions", 0), TP("station.sessions", 1)


def test_a_partition_held_up_for_the_whole_wait_is_due_at_its_committed_offset() -> None:
    stuck = StuckHeads(after_s=10)
    assert stuck.due({A: (93, 95), B: (40, 40)}, now=0) == {}
    assert stuck.due({A: (93, 97), B: (40, 41)}, now=9.9) == {}
    assert stuck.due({A: (93, 99), B: (40, 40)}, now=10) == {A: 93}
    assert stuck.due({A: (93, 99)}, now=15) == {}  # waits a whole wait again
    assert stuck.due({A: (93, 99)}, now=20) == {A: 93}


def test_a_partition_that_moves_on_or_catches_up_starts_its_wait_again() -> None:
    stuck = StuckHeads(after_s=10)
    stuck.due({A: (93, 95), B: (40, 42)}, now=0)
    stuck.due({A: (96, 98), B: (40, 40)}, now=5)  # A committed further, B processed its head
    assert stuck.due({A: (96, 98), B: (40, 42)}, now=12) == {}
    assert stuck.due({A: (96, 98), B: (40, 42)}, now=15) == {A: 96}
    assert stuck.due({A: (96, 98), B: (40, 42)}, now=22) == {B: 40}


def test_unknown_positions_and_cleared_or_revoked_partitions_are_not_due() -> None:
    stuck = StuckHeads(after_s=10)
    stuck.due({A: (None, 95), B: (40, None)}, now=0)
    assert stuck.due({A: (None, 95), B: (40, None)}, now=20) == {}
    stuck.due({A: (93, 95), B: (40, 41)}, now=20)
    stuck.clear()  # a rebalance
    assert stuck.due({A: (93, 95), B: (40, 41)}, now=30) == {}
    stuck.due({B: (40, 41)}, now=35)  # A revoked
    assert stuck.due({A: (93, 95), B: (40, 41)}, now=40) == {B: 40}


def test_acks_dropped_below_the_committed_offset_and_put_back() -> None:
    acked, index = [3, 4, 9, 7], {3, 4, 9, 7}
    drop_below(acked, index, 5)
    assert (acked, index) == ([9, 7], {9, 7})
    put_back(acked, index, range(5, 8))
    assert (acked, index) == ([5, 6, 7, 9], {5, 6, 7, 9})
