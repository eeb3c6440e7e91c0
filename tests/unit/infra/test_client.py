"""Keys are placed as the Java client places them: key_partition is what the join uses to
tell whether this worker holds a customer's history."""

from __future__ import annotations

import random

import pytest

from infra.kafka.client import key_partition, murmur2

# The Java client's own test cases (org.apache.kafka.common.utils.UtilsTest), as signed ints.
JAVA_CASES = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "signed"), JAVA_CASES.items())
def test_murmur2_is_the_java_clients(key: bytes, signed: int) -> None:
    assert murmur2(key) == signed & 0xFFFFFFFF


def test_every_length_hashes_like_the_byte_at_a_time_reference() -> None:
    from aiokafka.partitioner import murmur2 as reference

    rng = random.Random(7)
    for length in range(70):  # every tail length, and keys of many words
        for _ in range(30):
            key = rng.randbytes(length)
            assert murmur2(key) == reference(key), key


def test_a_partition_is_the_positive_hash_modulo_the_count() -> None:
    assert key_partition(b"21", 6) == (-973932308 & 0x7FFFFFFF) % 6
    assert {key_partition(f"user-{i}".encode(), 6) for i in range(100)} == set(range(6))
