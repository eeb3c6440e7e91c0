"""Bundles on the hops between workers: each partition's records in order, in messages of
at most BUNDLE_MAX_BYTES, and read back as they were written."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from schemas.codec import Codec, CodecError, WrongSchema
from schemas.examples import EXAMPLES, FACE
from streams.kafka import bundles
from streams.kafka.publisher import Publisher
from streams.records import ScoringRequest


class Recorder:
    """What `bundles.publish` hands the publisher: (topic, key, value, partition)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int | None]] = []
        self.flushers: list[Callable[[], object]] = []

    def flush_before_waits(self, flush: Callable[[], object]) -> None:
        self.flushers.append(flush)

    def publish(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        self.sent.append((topic, key, value, partition))


def _request(i: int, padding: int = 0) -> ScoringRequest:
    face = {**FACE, "face_token": "f" * padding} if padding else None
    return ScoringRequest(f"s-{i}", "st-1", 1, f"u-{i}", face, "joined", 2)


def test_each_partition_in_order_in_messages_cut_at_the_byte_bound() -> None:
    big = 20 * 1024  # three of them pass BUNDLE_MAX_BYTES, two do not
    requests = [(i % 2, _request(i, big if i < 6 else 0)) for i in range(10)]
    out = Recorder()
    sent = bundles.publish(
        cast(Publisher, out),
        "t",
        [(p, r.key(), r.to_bytes()) for p, r in requests],
        ScoringRequest.bundle,
    )
    got = [
        (partition, key, ScoringRequest.all_from_bytes(value))
        for _, key, value, partition in out.sent
    ]
    # partition 0: s-0 s-2 (big, big) | s-4 (big) s-6 s-8; partition 1 alike, from s-1
    assert [(p, [r.session_id for r in rs]) for p, _, rs in got] == [
        (0, ["s-0", "s-2"]),
        (0, ["s-4", "s-6", "s-8"]),
        (1, ["s-1", "s-3"]),
        (1, ["s-5", "s-7", "s-9"]),
    ]
    assert sent == 4 and all(len(value) <= 64 * 1024 for _, _, value, _ in out.sent)
    assert [key for _, key, _ in got] == [b"u-0", b"u-4", b"u-1", b"u-5"]  # the first's key


def test_a_record_larger_than_the_bound_goes_alone() -> None:
    out = Recorder()
    values = [b"x" * (bundles.BUNDLE_MAX_BYTES + 1), b"y", b"z"]
    bundles.publish(cast(Publisher, out), "t", [(3, b"k", v) for v in values], b"|".join)
    assert [value for _, _, value, _ in out.sent] == [values[0], b"y|z"]


def _held(out: Recorder) -> tuple[bundles.Held, Callable[..., int]]:
    held = bundles.Held("t", ScoringRequest.bundle)

    def add(ids: range, backlog: bool | None, padding: int = 0) -> int:
        records = [(i % 2, r.key(), r.to_bytes()) for i in ids for r in [_request(i, padding)]]
        return held.add(cast(Publisher, out), records, backlog)

    return held, add


def _sessions(out: Recorder) -> list[tuple[int | None, list[str]]]:
    return [
        (partition, [r.session_id for r in ScoringRequest.all_from_bytes(value)])
        for _, _, value, partition in out.sent
    ]


def test_held_records_wait_until_the_backlog_is_over() -> None:
    out = Recorder()
    held, add = _held(out)
    assert add(range(0, 4), backlog=True) == 0 and add(range(4, 8), backlog=None) == 0
    assert out.sent == [] and len(held) == 8
    assert add(range(8, 10), backlog=False) == 2  # one message per partition, in order
    assert _sessions(out) == [
        (0, ["s-0", "s-2", "s-4", "s-6", "s-8"]),
        (1, ["s-1", "s-3", "s-5", "s-7", "s-9"]),
    ]
    assert len(held) == 0 and add(range(10, 11), backlog=None) == 1  # as last said: none


def test_held_records_go_once_a_partition_fills_most_of_a_bundle() -> None:
    out = Recorder()
    held, add = _held(out)
    each = 4 * 1024
    n = 0
    while not out.sent and n < 200:  # a bound, should nothing ever go
        add(range(n, n + 2), backlog=True, padding=each)
        n += 2
    held_per_partition = bundles.HELD_FULL_BYTES // each  # about, with the JSON around
    assert held_per_partition - 1 <= n // 2 <= held_per_partition + 1
    assert len(held) == 0 and {p for p, _ in _sessions(out)} == {0, 1}


def test_held_records_go_once_the_oldest_has_waited_long_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(bundles, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    out = Recorder()
    held, add = _held(out)
    add(range(0, 2), backlog=True)
    clock[0] += bundles.HOLD_MAX_S * 0.6
    assert add(range(2, 4), backlog=True) == 0
    clock[0] += bundles.HOLD_MAX_S * 0.6
    assert add((), backlog=True) == 2 and len(held) == 0  # a tick with nothing new


def test_the_publisher_is_told_to_flush_what_is_held_before_it_waits() -> None:
    out = Recorder()
    held, add = _held(out)
    add(range(0, 3), backlog=True)
    add(range(3, 4), backlog=True)
    assert out.flushers == [held.flush]  # registered once
    assert out.flushers[0]() == 2 and len(held) == 0 and len(_sessions(out)) == 2
    assert held.flush() == 0


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
        "wrong_schema": codec.encode(
            "RecommendationBundle", {"recommendations": [_recommendation(codec, "s"), order]}
        ),
        "bad_magic": codec.encode("RecommendationBundle", {"recommendations": [b"\x00junk"]}),
        "invalid_datum": codec.encode("RecommendationBundle", {"recommendations": []}),
    }
    for reason, value in cases.items():
        with pytest.raises(CodecError) as caught:
            bundles.recommendations(codec, value)
        assert caught.value.reason == reason, reason
    with pytest.raises(WrongSchema):
        bundles.recommendations(codec, order)
