"""Reading a topic's records back: what the scorer published lately (its dedup read-backs)
and whole topics (the feature log and the conversions a model is retrained from)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple, TypeVar

from confluent_kafka import Consumer, KafkaException, TopicPartition

from infra.kafka.client import reader_config
from infra.kafka.cluster import BrokerError

#: How long `read_tail` reads before it gives up on partitions that do not end.
READ_TIMEOUT_S = 60.0
RETRY_S = 0.5  # between two questions to a broker that could not answer
_T = TypeVar("_T")


class Written(NamedTuple):
    """One record of a topic, as `read_tail` gives it."""

    timestamp_ms: int  # its producer's clock when it was sent
    partition: int
    key: str
    value: bytes


def read_tail(
    bootstrap: str,
    topic: str,
    partitions: Iterable[int] | None,
    since_ms: int,
    *,
    timeout_s: float = READ_TIMEOUT_S,
    strict: bool = False,
) -> list[Written]:
    """Every record of `topic` written since `since_ms`, in the given partitions (None:
    all of them), read committed, in the order of each partition. Where to start and end
    is asked again while the broker cannot say (it is restarting, say), for `timeout_s`
    at most, then refused with BrokerError; what is not read in `timeout_s` is left out,
    or, when `strict`, refused with BrokerError."""
    consumer = Consumer(reader_config(bootstrap, **{"isolation.level": "read_committed"}))
    deadline = time.monotonic() + timeout_s
    try:
        todo, ends = _asking_again(
            lambda: _span(consumer, topic, partitions, since_ms, strict),
            deadline,
            f"cannot find where to read {topic!r}",
        )
        found: list[Written] = []
        if not todo:
            return found
        consumer.assign(todo)
        remaining = {tp.partition for tp in todo}
        while remaining and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error():
                    continue
                p, offset = msg.partition() or 0, msg.offset() or 0
                key = (msg.key() or b"").decode(errors="replace")
                found.append(Written(msg.timestamp()[1], p, key, msg.value() or b""))
                if offset + 1 >= ends[p]:
                    remaining.discard(p)
        if remaining and strict:
            raise BrokerError(
                f"{topic!r} partitions {sorted(remaining)} could not be read to "
                f"their end in {timeout_s:g} s"
            )
        return found
    finally:
        consumer.close()


def _asking_again(ask: Callable[[], _T], deadline: float, failing: str) -> _T:
    """`ask()`, asked again every RETRY_S while the broker cannot answer (KafkaException)
    until the monotonic `deadline`; then BrokerError, `failing` and the broker's reason."""
    while True:
        try:
            return ask()
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise BrokerError(f"{failing}: {exc}") from exc
            time.sleep(RETRY_S)


def _span(
    consumer: Consumer, topic: str, partitions: Iterable[int] | None, since_ms: int, strict: bool
) -> tuple[list[TopicPartition], dict[int, int]]:
    """The partitions to read from their first record since `since_ms`, and where each
    ends."""
    if partitions is None:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        if meta.error is not None and strict:
            raise BrokerError(f"cannot read {topic!r}: {meta.error.str()}")
        partitions = list(meta.partitions)
    wanted = sorted(set(partitions))
    if not wanted:
        return [], {}
    starts = consumer.offsets_for_times(
        [TopicPartition(topic, p, since_ms) for p in wanted], timeout=10
    )
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in wanted
    }
    return [tp for tp in starts if 0 <= tp.offset < ends[tp.partition]], ends


def first_unconsumed_ms(
    bootstrap: str,
    group: str,
    wanted: Mapping[str, Iterable[int]],
    *,
    timeout_s: float = READ_TIMEOUT_S,
) -> int | None:
    """The producer time of the oldest record `group` has not committed in the `wanted`
    partitions (topic -> partitions): the oldest input a new owner is handed again. None
    when every partition is committed to its end; a partition with no commit counts from
    the start of its log. Asked again while the broker cannot say; BrokerError when the
    offsets or a partition's first uncommitted record cannot be read in `timeout_s`."""
    asked = [TopicPartition(t, p) for t, ps in wanted.items() for p in sorted(set(ps))]
    if not asked:
        return None
    config = reader_config(bootstrap, **{"group.id": group, "isolation.level": "read_committed"})
    consumer = Consumer(config)
    deadline = time.monotonic() + timeout_s
    try:
        return _asking_again(
            lambda: _first_unconsumed(consumer, asked, max(1.0, deadline - time.monotonic())),
            deadline,
            f"cannot read the committed offsets of {group!r}",
        )
    finally:
        consumer.close()


def _first_unconsumed(
    consumer: Consumer, asked: list[TopicPartition], timeout_s: float
) -> int | None:
    todo: list[TopicPartition] = []
    for tp in consumer.committed(asked, timeout=timeout_s):
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
        start = max(tp.offset, low) if tp.offset >= 0 else low
        if start < high:
            todo.append(TopicPartition(tp.topic, tp.partition, start))
    if not todo:
        return None
    consumer.assign(todo)
    first: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + timeout_s
    while len(first) < len(todo) and time.monotonic() < deadline:
        for msg in consumer.consume(len(todo), 0.5):
            where = (msg.topic() or "", msg.partition() or 0)
            if msg.error() or where in first:
                continue
            first[where] = msg.timestamp()[1]
            consumer.pause([TopicPartition(*where)])  # one record of each is enough
    if len(first) < len(todo):
        missing = sorted(
            f"{tp.topic}[{tp.partition}]" for tp in todo if (tp.topic, tp.partition) not in first
        )
        raise BrokerError(
            f"the first uncommitted record of {', '.join(missing)} could "
            f"not be read in {timeout_s:g} s"
        )
    return min(first.values())
