"""Bundles: what one batch sends to one partition of an internal topic, in one message.

A consumed Faust message costs a worker more CPU than joining and scoring a session
alone, so the hops between workers carry each batch's records for one partition in as
few messages as BUNDLE_MAX_BYTES allows: scoring.requests (a JSON array of requests,
streams/records.py) and scoring.recommendations-to-track (a RecommendationBundle,
schemas/recommendation_bundle.v1.avsc). At 1,000 sessions/s a batch sends one or two,
while a backlog drains a few dozen to a message. A bundle of one is its record alone,
as it was before bundles, and readers take both forms: workers of the release before
read what a lightly loaded worker of this one sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from schemas.codec import Codec, InvalidDatum
from streams.kafka.publisher import Publisher

#: The most record bytes in one bundle: under the codec's MAX_MESSAGE_BYTES (64 KiB),
#: with room for the bundle's own header and lengths.
BUNDLE_MAX_BYTES = 48 * 1024


def publish(publisher: Publisher, topic: str, records: Iterable[tuple[int, bytes, bytes]],
            pack: Callable[[list[bytes]], bytes]) -> int:  # fmt: skip
    """Publish (partition, key, value) records, those of one partition in order and in
    bundles of at most BUNDLE_MAX_BYTES (a record larger goes alone), each packed by
    `pack` and keyed by its first record's key. Returns the number of messages."""
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for partition, key, value in records:
        by_partition.setdefault(partition, []).append((key, value))
    sent = 0
    for partition, items in by_partition.items():
        for bundle in _cut(items):
            publisher.publish(topic, bundle[0][0], pack([value for _, value in bundle]),
                              partition)  # fmt: skip
            sent += 1
    return sent


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


def pack_recommendations(codec: Codec) -> Callable[[list[bytes]], bytes]:
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
