"""DeadlineIndex: due keys per partition, rebuilt from the table, cheap per tick."""

from __future__ import annotations

from streams.rules.deadlines import DeadlineIndex


def _entry(deadline: int, partition: int = 0) -> dict[str, int]:
    return {"deadline_ms": deadline, "partition": partition}


class Waiting:
    """A table and its index, written the way the agents write them: table first."""

    def __init__(self) -> None:
        self.table: dict[bytes, dict[str, int] | None] = {}
        self.index = DeadlineIndex(self.table)

    def keep(self, key: str, entry: dict[str, int] | None) -> None:
        self.table[key.encode()] = entry
        self.index.keep(0, key, entry)


def test_due_keys_come_back_until_resolved_and_moved_deadlines_count() -> None:
    w = Waiting()
    index = w.index
    assert index.due(0, 0) == []  # built from the (empty) table
    for key, deadline in (("a", 100), ("b", 300), ("c", 200)):
        w.keep(key, _entry(deadline))
    assert index.due(0, 50) == []
    assert sorted(index.due(0, 250)) == ["a", "c"]
    assert sorted(index.due(0, 250)) == ["a", "c"]  # not resolved yet: due again
    w.keep("a", None)  # resolved
    w.keep("c", _entry(400))  # waits longer
    w.keep("c", _entry(400))  # kept again unchanged: still listed once
    assert index.due(0, 350) == ["b"]
    assert sorted(index.due(0, 1000)) == ["b", "c"]
    assert index.due(1, 1000) == []
    assert len(index) == 2  # b and c wait (what scorer_state_entries shows)


def test_the_index_is_rebuilt_from_the_table_per_partition() -> None:
    table = {b"s1": _entry(100, 0), b"s2": _entry(100, 1), b"s3": None, b"s4": _entry(500, 0)}
    index = DeadlineIndex(table)
    assert index.due(0, 200) == ["s1"]
    assert index.due(1, 200) == ["s2"]
    table[b"s5"] = _entry(150, 0)
    index.forget_all()  # a rebalance: the table is the truth
    assert sorted(index.due(0, 200)) == ["s1", "s5"]


def test_a_tick_reads_only_what_is_due() -> None:
    w = Waiting()
    index = w.index
    for i in range(100_000):
        w.keep(f"k{i}", _entry(10_000 + i))
    heap = index._heaps[0]
    assert index.due(0, 10_004) == [f"k{i}" for i in range(5)]
    assert len(heap) == 100_000 and heap[0] == (10_000, "k0")


def test_due_entries_come_with_their_entries_and_gone_keys_are_forgotten() -> None:
    table: dict[str, dict[str, int]] = {"a": _entry(100), "b": _entry(150), "c": _entry(900)}
    index = DeadlineIndex(table)
    assert sorted(index.due_entries(0, 200)) == [("a", _entry(100)), ("b", _entry(150))]
    del table["b"]  # decided meanwhile
    assert index.due_entries(0, 200) == [("a", _entry(100))]
    assert index.due(0, 200) == ["a"]  # b is no longer waited for
