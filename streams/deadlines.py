"""Which entries of a table are due, per partition, without reading the table each tick.

Agents that wait (the face join, conversion tracking) keep `deadline_ms` and `partition`
in their table entries. The index mirrors them in memory and is rebuilt from the table
after every rebalance, so the table stays the only truth.
"""

from __future__ import annotations

from typing import Any


class DeadlineIndex:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._by_partition: dict[int, dict[str, int]] = {}
        self._built: set[int] = set()

    def due(self, partition: int, now_ms: int) -> list[str]:
        """Keys of `partition` whose deadline has passed."""
        if partition not in self._built:
            self._rebuild(partition)
        return [k for k, d in self._by_partition[partition].items() if d <= now_ms]

    def keep(self, partition: int, key: str, entry: dict[str, Any] | None) -> None:
        """Record the entry's deadline, or forget the key when the entry is gone."""
        index = self._by_partition.setdefault(partition, {})
        if entry is None:
            index.pop(key, None)
        else:
            index[key] = entry["deadline_ms"]

    def forget_all(self) -> None:
        """Partitions moved: rebuild each from the table on its next use."""
        self._by_partition.clear()
        self._built.clear()

    def _rebuild(self, partition: int) -> None:
        self._by_partition[partition] = {
            key.decode() if isinstance(key, bytes) else key: entry["deadline_ms"]
            for key, entry in self._table.items()
            if entry is not None and entry.get("partition") == partition
        }
        self._built.add(partition)
