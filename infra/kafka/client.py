"""Client settings every Kafka client of the project shares.

`client_config` is where every confluent-kafka client gets its cluster and, with
KAFKA_SECURITY_PROTOCOL=SASL_SSL, its SCRAM credentials and trusted certificates
(infra/kafka/settings.py); Faust gets the same through streams/app.py.

Co-partitioning (docs/concepts/architecture.md, Topology) only holds when every producer maps a key
to the same
partition as Faust's own producer does: murmur2 of the key bytes, as in the Java client.
confluent-kafka's default partitioner is CRC32-based, so its producers must ask for
murmur2 explicitly; this module is the one place that does.
"""

from __future__ import annotations

import struct
from typing import Any

from infra.kafka.settings import kafka_settings

PARTITIONER = "murmur2_random"
_M, _MASK = 0x5BD1E995, 0xFFFFFFFF


def key_partition(key: bytes, partitions: int) -> int:
    """The partition of `partitions` that PARTITIONER, Faust and Java put `key` in."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def murmur2(data: bytes) -> int:
    """MurmurHash2 of `data` with the Java client's seed, as an unsigned 32-bit integer.

    aiokafka's pure-Python one reads a byte at a time (about 7 µs for a 22-byte key, and
    the join hashes two keys a session); this reads whole 32-bit words (about 2 µs).
    """
    length = len(data)
    words = length // 4
    h = 0x9747B28C ^ length
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[words * 4 :]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


def client_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """The cluster and its security settings, then `extra`."""
    return {"bootstrap.servers": bootstrap, **kafka_settings().librdkafka_security(), **extra}


def reader_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """confluent-kafka consumer settings for a reader that assigns its partitions itself and
    commits nothing (the registry, the model follower, read-backs): no group is joined."""
    return client_config(
        bootstrap, **{"group.id": "unused", "enable.auto.commit": False, "log_level": 3, **extra}
    )


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """confluent-kafka producer settings that partition keys like Faust and Java do."""
    return client_config(
        bootstrap,
        **{
            "partitioner": PARTITIONER,
            "enable.idempotence": True,
            "linger.ms": 5,
            "log_level": 3,
            **extra,
        },
    )


def faust_credentials() -> Any:
    """The same security for a Faust app's aiokafka clients (`broker_credentials`): None
    for PLAINTEXT, else SCRAM over TLS trusting the same certificates."""
    conf = kafka_settings()
    if not conf.secure:
        return None
    import ssl

    from faust import SASLCredentials

    user, password = conf.sasl_credentials()
    ca = conf.ca_file()
    context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    return SASLCredentials(
        username=user, password=password, ssl_context=context, mechanism=conf.kafka_sasl_mechanism
    )
