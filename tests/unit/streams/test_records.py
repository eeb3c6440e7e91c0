"""The scorer's internal records: what goes on scoring.requests comes back the same, and
anything else is refused with a dead letter's reason."""

from __future__ import annotations

import pytest

from schemas.codec import InvalidDatum
from schemas.examples import FACE
from streams.records import ScoringRequest

REQUEST = ScoringRequest(
    "s-1", "st-1", 1_700_000_000_000, "u-1", dict(FACE), "joined", 1_700_000_000_300
)


def test_a_request_round_trips() -> None:
    assert ScoringRequest.all_from_bytes(REQUEST.to_bytes()) == [REQUEST]
    anonymous = ScoringRequest("s-2", "st-1", 1, None, None, "timed_out", 2)
    assert ScoringRequest.all_from_bytes(anonymous.to_bytes()) == [anonymous]


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\x00\x01 garbage",
        b"[1, 2]",
        b'{"session_id": "s"}',
        b"null",
        REQUEST.to_bytes().replace(b'"started_at_ms":1700000000000', b'"started_at_ms":"soon"'),
        REQUEST.to_bytes()[:-1] + b',"extra":1}',
    ],
)
def test_anything_else_is_invalid(value: bytes) -> None:
    with pytest.raises(InvalidDatum, match="not a ScoringRequest"):
        ScoringRequest.all_from_bytes(value)


def test_a_bundle_of_requests_round_trips_and_one_alone_is_the_request_itself() -> None:
    other = ScoringRequest("s-2", "st-1", 1, None, None, "timed_out", 2)
    assert ScoringRequest.all_from_bytes(
        ScoringRequest.bundle([REQUEST.to_bytes(), other.to_bytes()])
    ) == [REQUEST, other]
    assert ScoringRequest.bundle([REQUEST.to_bytes()]) == REQUEST.to_bytes()


@pytest.mark.parametrize(
    "value", [b"[]", b"[null]", b'[{"session_id": "s"}]', b"[" + REQUEST.to_bytes() + b", 7]"]
)
def test_a_bundle_with_anything_but_requests_is_invalid(value: bytes) -> None:
    with pytest.raises(InvalidDatum, match="not a ScoringRequest"):
        ScoringRequest.all_from_bytes(value)
