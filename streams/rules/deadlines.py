"""Which entries of a table (or of a dict) are due, per partition, without reading them
all each tick.

Agents that wait (the face join, conversion tracking) keep `deadline_ms` and `partition`
in their entries. The index mirrors them and is rebuilt from the entries after every
rebalance, so the entries stay the only truth.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any


class DeadlineIndex:
    """Deadlines per partition in a heap, so a tick costs what is due, not what waits.

    A conversion waits for its window (30 minutes by default), so hundreds of thousands of
    entries can wait at once; a tick every SCORER_TICK_MS must not read them all.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._by_partition: dict[int, dict[str, int]] = {}
        self._heaps: dict[int, list[tuple[int, str]]] = {}
        self._built: set[int] = set()

    def __len__(self) -> int:
        """Entries waiting, over the partitions indexed so far."""
        return sum(len(keys) for keys in self._by_partition.values())

    def due(self, partition: int, now_ms: int) -> list[str]:
        """Keys of `partition` whose deadline has passed (again next time unless kept)."""
        if partition not in self._built:
            self._rebuild(partition)
        deadlines, heap = self._by_partition[partition], self._heaps[partition]
        due: dict[str, int] = {}
        while heap and heap[0][0] <= now_ms:
            deadline, key = heapq.heappop(heap)
            if deadlines.get(key) == deadline:  # else moved or gone since it was pushed
                due[key] = deadline
        for key, deadline in due.items():
            heapq.heappush(heap, (deadline, key))
        return list(due)

    def due_entries(self, partition: int, now_ms: int) -> list[tuple[str, dict[str, Any]]]:
        """The due keys of `partition` with their table entries; a key whose entry is gone
        is forgotten."""
        found = []
        for key in self.due(partition, now_ms):
            entry = self._table.get(key)
            if entry is None:
                self.keep(partition, key, None)
            else:
                found.append((key, entry))
        return found

    def keep(self, partition: int, key: str, entry: Mapping[str, Any] | None) -> None:
        """Record the entry's deadline, or forget the key when the entry is gone."""
        index = self._by_partition.setdefault(partition, {})
        if entry is None:
            index.pop(key, None)
        elif index.get(key) != entry["deadline_ms"]:
            index[key] = entry["deadline_ms"]
            heapq.heappush(self._heaps.setdefault(partition, []), (entry["deadline_ms"], key))

    def forget_all(self) -> None:
        """Partitions moved: rebuild each from the table on its next use."""
        self._by_partition.clear()
        self._heaps.clear()
        self._built.clear()

    def _rebuild(self, partition: int) -> None:
        self._by_partition[partition] = {
            key.decode() if isinstance(key, bytes) else key: entry["deadline_ms"]
            for key, entry in self._table.items()
            if entry is not None and entry.get("partition") == partition
        }
        self._heaps[partition] = [(d, k) for k, d in self._by_partition[partition].items()]
        heapq.heapify(self._heaps[partition])
        self._built.add(partition)
