"""The scorer's internal records: what goes on scoring.requests comes back the same, and
anything else is refused with a dead letter's reason."""

from __future__ import annotations

import dataclasses

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


def _with(**fields: object) -> bytes:
    return dataclasses.replace(REQUEST, **fields).to_bytes()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        _with(face={"beauty": 50}),  # a face missing its fields
        _with(face={**FACE, "beauty": "pretty"}),
        _with(face={**FACE, "beauty": 180.0}),  # outside its declared 0..100
        _with(face={**FACE, "expression": {"type": "wink", "probability": 0.5}}),
        _with(face={**FACE, "expression": None}),
        _with(join="guessed"),
        _with(event_time_ms=2**70),  # no Avro long holds it
    ],
)
def test_a_request_whose_face_or_join_the_join_never_makes_is_invalid(value: bytes) -> None:
    """What scoring reads of a request is checked where it is read: a request with any
    other shape is a dead letter (invalid_datum), never an error in the scorer's code."""
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
