"""Client settings every producer of the project shares.

Co-partitioning (DESIGN section 4) only holds when every producer maps a key to the same
partition as Faust's own producer does: murmur2 of the key bytes, as in the Java client.
confluent-kafka's default partitioner is CRC32-based, so its producers must ask for
murmur2 explicitly; this module is the one place that does.
"""

from __future__ import annotations

from typing import Any

PARTITIONER = "murmur2_random"


def reader_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """confluent-kafka consumer settings for a reader that assigns its partitions itself and
    commits nothing (the registry, the model follower, read-backs): no group is joined."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": "unused",
        "enable.auto.commit": False,
        "log_level": 3,
        **extra,
    }


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """confluent-kafka producer settings that partition keys like Faust and Java do."""
    return {
        "bootstrap.servers": bootstrap,
        "partitioner": PARTITIONER,
        "enable.idempotence": True,
        "linger.ms": 5,
        "log_level": 3,
        **extra,
    }
