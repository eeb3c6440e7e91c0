"""What the scorer already published, read back from its own output topics.

A worker killed without notice may have published an outcome whose state change never
reached its table's changelog; on restart it would then publish it again. An output topic
keyed like the agent's input (session_id) tells the truth partition by partition, so on
every assignment the agent reads the recent tail of the output partitions it now owns
and skips what is there. The tail covers far more than what is ever reprocessed after a
crash (Faust commits every few seconds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from confluent_kafka import Consumer, TopicPartition

TAIL_MS = 15 * 60 * 1000


def recent_keys(bootstrap: str, topic: str, partitions: Iterable[int],
                tail_ms: int = TAIL_MS) -> dict[int, set[str]]:  # fmt: skip
    """Keys written to each partition of `topic` in the last `tail_ms`, read committed."""
    wanted = sorted(set(partitions))
    found: dict[int, set[str]] = {p: set() for p in wanted}
    if not wanted:
        return found
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "log_level": 3})  # fmt: skip
    try:
        since = int(time.time() * 1000) - tail_ms
        starts = consumer.offsets_for_times([TopicPartition(topic, p, since) for p in wanted],
                                            timeout=10)  # fmt: skip
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in wanted}  # fmt: skip
        todo = [tp for tp in starts if tp.offset >= 0 and tp.offset < ends[tp.partition]]
        if not todo:
            return found
        consumer.assign(todo)
        remaining = {tp.partition for tp in todo}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            p, offset = msg.partition() or 0, msg.offset() or 0
            found[p].add((msg.key() or b"").decode(errors="replace"))
            if offset + 1 >= ends[p]:
                remaining.discard(p)
        return found
    finally:
        consumer.close()


class PublishedLog:
    """Session ids recently published to one output topic, per owned partition."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._keys: dict[int, set[str]] = {}

    async def reload(self, bootstrap: str, partitions: Iterable[int]) -> None:
        self._keys = await asyncio.to_thread(recent_keys, bootstrap, self.topic, partitions)

    def __contains__(self, item: tuple[int, str]) -> bool:
        partition, key = item
        return key in self._keys.get(partition, ())

    def add(self, partition: int, key: str) -> None:
        self._keys.setdefault(partition, set()).add(key)
