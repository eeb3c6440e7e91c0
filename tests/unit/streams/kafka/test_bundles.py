"""Bundles on the hops between workers: each partition's records in order, in messages of
at most BUNDLE_MAX_BYTES, and read back as they were written."""

from __future__ import annotations

from typing import Any, cast

import pytest

from schemas.codec import Codec, CodecError, WrongSchema
from schemas.examples import EXAMPLES
from streams.kafka import bundles
from streams.kafka.publisher import Publisher
from streams.records import ScoringRequest


class Recorder:
    """What `bundles.publish` hands the publisher: (topic, key, value, partition)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int | None]] = []

    def publish(self, topic: str, key: bytes | None, value: bytes,
                partition: int | None = None) -> None:  # fmt: skip
        self.sent.append((topic, key, value, partition))


def _request(i: int, padding: int = 0) -> ScoringRequest:
    face = {"face_token": "f" * padding} if padding else None
    return ScoringRequest(f"s-{i}", "st-1", 1, f"u-{i}", face, "joined", 2)


def test_each_partition_in_order_in_messages_cut_at_the_byte_bound() -> None:
    big = 20 * 1024  # three of them pass BUNDLE_MAX_BYTES, two do not
    requests = [(i % 2, _request(i, big if i < 6 else 0)) for i in range(10)]
    out = Recorder()
    sent = bundles.publish(cast(Publisher, out), "t", [(p, r.key(), r.to_bytes())
                                                       for p, r in requests],
                           ScoringRequest.bundle)  # fmt: skip
    got = [(partition, key, ScoringRequest.all_from_bytes(value))
           for _, key, value, partition in out.sent]  # fmt: skip
    # partition 0: s-0 s-2 (big, big) | s-4 (big) s-6 s-8; partition 1 alike, from s-1
    assert [(p, [r.session_id for r in rs]) for p, _, rs in got] == [
        (0, ["s-0", "s-2"]), (0, ["s-4", "s-6", "s-8"]),
        (1, ["s-1", "s-3"]), (1, ["s-5", "s-7", "s-9"]),
    ]  # fmt: skip
    assert sent == 4 and all(len(value) <= 64 * 1024 for _, _, value, _ in out.sent)
    assert [key for _, key, _ in got] == [b"u-0", b"u-4", b"u-1", b"u-5"]  # the first's key


def test_a_record_larger_than_the_bound_goes_alone() -> None:
    out = Recorder()
    values = [b"x" * (bundles.BUNDLE_MAX_BYTES + 1), b"y", b"z"]
    bundles.publish(cast(Publisher, out), "t", [(3, b"k", v) for v in values], b"|".join)
    assert [value for _, _, value, _ in out.sent] == [values[0], b"y|z"]


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


def _recommendation(codec: Codec, session_id: str) -> bytes:
    return codec.encode("Recommendation", {**EXAMPLES["Recommendation"], "session_id": session_id})


def test_recommendations_come_back_from_a_bundle_and_alone(codec: Codec) -> None:
    values = [_recommendation(codec, f"s-{i}") for i in range(3)]
    pack = bundles.pack_recommendations(codec)
    bundle = pack(values)
    assert codec.writer_of(bundle).short_name == "RecommendationBundle"
    assert [r["session_id"] for r in bundles.recommendations(codec, bundle)] == [
        "s-0",
        "s-1",
        "s-2",
    ]
    assert pack(values[:1]) == values[0]  # alone, as readers of the release before expect
    assert [r["session_id"] for r in bundles.recommendations(codec, values[0])] == ["s-0"]


def test_a_bundle_of_anything_else_is_refused_with_its_reason(codec: Codec) -> None:
    order = codec.encode("OrderPlaced", EXAMPLES["OrderPlaced"])
    cases: dict[str, Any] = {
        "wrong_schema": codec.encode("RecommendationBundle",
                                     {"recommendations": [_recommendation(codec, "s"), order]}),
        "bad_magic": codec.encode("RecommendationBundle", {"recommendations": [b"\x00junk"]}),
        "invalid_datum": codec.encode("RecommendationBundle", {"recommendations": []}),
    }  # fmt: skip
    for reason, value in cases.items():
        with pytest.raises(CodecError) as caught:
            bundles.recommendations(codec, value)
        assert caught.value.reason == reason, reason
    with pytest.raises(WrongSchema):
        bundles.recommendations(codec, order)
