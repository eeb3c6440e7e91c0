"""Bundles: what one batch sends to one partition of an internal topic, in one message.

A consumed Faust message costs a worker more CPU than joining and scoring a session
alone, so the hops between workers carry each batch's records for one partition in as
few messages as BUNDLE_MAX_BYTES allows: scoring.requests (a JSON array of requests,
streams/records.py) and scoring.recommendations-to-track (a RecommendationBundle,
schemas/recommendation_bundle.v1.avsc). At 1,000 sessions/s a batch sends one or two.
A bundle of one is its record alone, as it was before bundles, and readers take both
forms: workers of the release before read what a lightly loaded worker of this one sends.

While a backlog drains, one batch's records for a partition are few (with two workers
draining, 29 requests a message), so the join holds what it sends across its batches
(`Held`) until a partition's fill most of a bundle: about 80 requests a message, and the
worker that reads them scores batches that large.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from schemas.codec import Codec, InvalidDatum
from streams.kafka.publisher import Publisher

#: The most record bytes in one bundle: under the codec's MAX_MESSAGE_BYTES (64 KiB),
#: with room for the bundle's own header and lengths.
BUNDLE_MAX_BYTES = 48 * 1024

#: How a bundle is made of its records' values.
Pack = Callable[[list[bytes]], bytes]


def publish(
    publisher: Publisher, topic: str, records: Iterable[tuple[int, bytes, bytes]], pack: Pack
) -> int:
    """Publish (partition, key, value) records, those of one partition in order and in
    bundles of at most BUNDLE_MAX_BYTES (a record larger goes alone), each packed by
    `pack` and keyed by its first record's key. Returns the number of messages."""
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for partition, key, value in records:
        by_partition.setdefault(partition, []).append((key, value))
    sent = 0
    for partition, items in by_partition.items():
        for bundle in _cut(items):
            publisher.publish(topic, bundle[0][0], pack([value for _, value in bundle]), partition)
            sent += 1
    return sent


#: A partition's held records are published once they reach this share of a bundle.
HELD_FULL_BYTES = BUNDLE_MAX_BYTES * 3 // 4
#: The longest a record is held: what holding may add to the latency of a session sent on
#: while a backlog drains (when none does, nothing is held).
HOLD_MAX_S = 0.2


class Held:
    """Records for one internal topic, held across batches while their sender has a
    backlog. Published (by `publish`) when the sender has none, when a partition's
    records reach HELD_FULL_BYTES, when the oldest has been held HOLD_MAX_S, and before
    the publisher waits for its deliveries, which each commit and the stop do first: an
    input offset is committed only once what its processing sent is delivered."""

    def __init__(self, topic: str, pack: Pack) -> None:
        self.topic = topic
        self.pack = pack
        self._records: list[tuple[int, bytes, bytes]] = []
        self._bytes: dict[int, int] = {}
        self._since = 0.0
        self._backlog = False
        self._publisher: Publisher | None = None

    def add(
        self,
        publisher: Publisher,
        records: Iterable[tuple[int, bytes, bytes]],
        backlog: bool | None = None,
    ) -> int:
        """Hold (partition, key, value) records, or publish what is held with them;
        returns the number of messages published. `backlog` None: as last said."""
        if backlog is None:
            backlog = self._backlog
        self._backlog = backlog
        if publisher is not self._publisher:
            publisher.flush_before_waits(self.flush)
            self._publisher = publisher
        for partition, key, value in records:
            if not self._records:
                self._since = time.monotonic()
            self._records.append((partition, key, value))
            self._bytes[partition] = self._bytes.get(partition, 0) + len(value)
        if not self._records:
            return 0
        if (
            not backlog
            or max(self._bytes.values()) >= HELD_FULL_BYTES
            or time.monotonic() - self._since >= HOLD_MAX_S
        ):
            return self.flush()
        return 0

    def flush(self) -> int:
        """Publish every held record now; the number of messages."""
        if not self._records or self._publisher is None:
            return 0
        records, self._records, self._bytes = self._records, [], {}
        return publish(self._publisher, self.topic, records, self.pack)

    def __len__(self) -> int:
        return len(self._records)


def _cut(items: list[tuple[bytes, bytes]]) -> Iterator[list[tuple[bytes, bytes]]]:
    """`items` in runs of at most BUNDLE_MAX_BYTES of values (a larger value runs alone)."""
    run: list[tuple[bytes, bytes]] = []
    size = 0
    for key, value in items:
        if run and size + len(value) > BUNDLE_MAX_BYTES:
            yield run
            run, size = [], 0
        run.append((key, value))
        size += len(value)
    if run:
        yield run


def pack_recommendations(codec: Codec) -> Pack:
    """Recommendations (single-object encoded) as one RecommendationBundle, or alone."""

    def pack(values: list[bytes]) -> bytes:
        if len(values) == 1:
            return values[0]
        return codec.encode_built("RecommendationBundle", {"recommendations": values})

    return pack


def recommendations(codec: Codec, value: bytes | None) -> list[dict[str, Any]]:
    """The Recommendations of one message of scoring.recommendations-to-track, all decoded
    before any is returned; a CodecError (a dead letter's reason) when one does not."""
    if codec.writer_of(value).short_name != "RecommendationBundle":
        return [codec.decode(value, expect="Recommendation")]
    items = codec.decode(value)["recommendations"]
    if not items:
        raise InvalidDatum("an empty RecommendationBundle")
    return [codec.decode(item, expect="Recommendation") for item in items]
