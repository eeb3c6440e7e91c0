"""Byte-level and behaviour tests of the single-object codec, without a broker."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import pytest

from schemas.codec import (
    BadMagic,
    Codec,
    InvalidDatum,
    SchemaSet,
    TooLarge,
    TooLong,
    TruncatedBody,
    UnknownFingerprint,
    WrongSchema,
    _read_body,
)
from schemas.examples import EXAMPLES

EVOLUTION = Path(__file__).parent / "evolution"
EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data: bytes) -> int:
    """The specification's reference fingerprint, written out independently of fastavro."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


def test_fingerprint_of_int_matches_the_specification_vector() -> None:
    assert crc64_avro(b'"int"') == 8247732601305521295  # from the Avro test vectors
    assert crc64_avro(b'"int"').to_bytes(8, "little").hex() == "8f5c393f1ad57572"


def test_every_schema_fingerprint_is_crc64_of_its_canonical_form(codec: Codec) -> None:
    for sv in codec.schemas:
        canonical = fastavro.schema.to_parsing_canonical_form(dict(sv.raw)).encode()
        assert sv.fingerprint == crc64_avro(canonical).to_bytes(8, "little"), sv.path.name


def test_station_golden_bytes(codec: Codec) -> None:
    record = {"station_id": "st-wuhan-001", "city": "Wuhan", "station_type": "supermarket"}
    fingerprint = bytes.fromhex("636b1cb3f747bc58")
    expected = b"\xc3\x01" + fingerprint + b"\x18st-wuhan-001" + b"\x0aWuhan" + b"\x04"
    assert codec.encode("Station", record) == expected
    assert codec.decode(expected) == record


def test_order_golden_bytes_with_nulls_and_timestamp(codec: Codec) -> None:
    record = {
        "order_id": "o1",
        "session_id": None,
        "user_id": "u",
        "station_id": "s",
        "lottery_type": "WELFARE_3D",
        "amount": 200,
        "placed_at": 1000,
    }
    data = codec.encode("OrderPlaced", record)
    body = data[10:]
    # o1 | union branch 0 (null) | branch 1 + "u" | "s" | enum 2 | 200 | 1000 ms
    assert (
        body == b"\x04o1" + b"\x00" + b"\x02\x02u" + b"\x02s" + b"\x04" + b"\x90\x03" + b"\xd0\x0f"
    )
    decoded = codec.decode(data)
    assert decoded["placed_at"] == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_round_trips(codec: Codec, name: str) -> None:
    data = codec.encode(name, EXAMPLES[name])
    assert data[:2] == b"\xc3\x01"
    assert codec.writer_of(data).short_name == name
    decoded = codec.decode(data, expect=name)
    for field, value in EXAMPLES[name].items():
        got = decoded[field]
        if isinstance(got, datetime):
            got = int(got.timestamp() * 1000)
        assert got == value, field


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", TruncatedBody, "empty"),
        (b"\x00\x01garbage-bytes", BadMagic, "0001"),
        (b'{"json": true}', BadMagic, "not c301"),
        (b"\xc3", TruncatedBody, "header"),
        (b"\xc3\x01\x01\x02\x03", TruncatedBody, "header"),
        (b"\xc3\x01" + b"\xff" * 8 + b"\x02a", UnknownFingerprint, "ffffffffffffffff"),
    ],
)
def test_bad_headers_are_refused_with_their_own_error(
    codec: Codec, data: bytes, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        codec.decode(data)


def test_every_cut_of_a_message_is_truncated_never_a_short_record(codec: Codec) -> None:
    data = codec.encode("FaceDetected", EXAMPLES["FaceDetected"])
    for cut in range(10, len(data)):
        with pytest.raises(TruncatedBody):
            codec.decode(data[:cut])


def test_trailing_bytes_are_invalid(codec: Codec) -> None:
    data = codec.encode("Station", EXAMPLES["Station"])
    with pytest.raises(InvalidDatum, match="1 bytes past its end"):
        codec.decode(data + b"\x00")


def test_enum_index_out_of_range_is_invalid(codec: Codec) -> None:
    data = bytearray(codec.encode("Station", EXAMPLES["Station"]))
    data[-1] = 0x7E  # enum index 63
    with pytest.raises(InvalidDatum):
        codec.decode(bytes(data))


def test_value_out_of_range_is_refused_on_decode(codec: Codec) -> None:
    # A producer that skips validation can still write beauty=150; the reader refuses it.
    sv = codec.schemas.current("FaceDetected")
    record = json.loads(json.dumps(EXAMPLES["FaceDetected"]))
    record["face"]["beauty"] = 150.0
    out = io.BytesIO()
    fastavro.schemaless_writer(out, sv.parsed, record)
    data = b"\xc3\x01" + sv.fingerprint + out.getvalue()
    with pytest.raises(InvalidDatum, match=r"face\.beauty=150\.0 is outside 0\.\.100"):
        codec.decode(data)


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("FaceDetected", {"match_score": 100.5}, "match_score"),
        ("FaceDetected", {"match_score": float("nan")}, "match_score"),
        ("OrderPlaced", {"amount": 0}, "amount"),
        ("SessionStarted", {"started_at": "yesterday"}, "started_at"),
        ("Station", {"station_type": "casino"}, "station_type"),
        ("Station", {"city": None}, "city"),
    ],
)
def test_invalid_records_are_refused_on_encode(
    codec: Codec, name: str, change: dict, words: str
) -> None:
    with pytest.raises(InvalidDatum, match=words):
        codec.encode(name, {**EXAMPLES[name], **change})


@pytest.mark.parametrize("name", ["Recommendation", "Conversion"])
def test_a_built_record_encodes_to_the_same_bytes_and_a_wrong_one_is_still_refused(
    codec: Codec, name: str
) -> None:
    assert codec.encode_built(name, EXAMPLES[name]) == codec.encode(name, EXAMPLES[name])
    field = "p_no_buy" if name == "Recommendation" else "amount"
    with pytest.raises((TypeError, ValueError)):  # the writer's own type check
        codec.encode_built(name, {**EXAMPLES[name], field: "much"})
    if name == "Recommendation":
        with pytest.raises(InvalidDatum, match="p_no_buy"):  # the declared range
            codec.encode_built(name, {**EXAMPLES[name], "p_no_buy": 1.5})
    with pytest.raises((TypeError, ValueError)):
        codec.encode_built(name, {k: v for k, v in EXAMPLES[name].items() if k != "session_id"})


def test_a_value_out_of_range_in_an_array_of_records_is_refused_by_its_place(
    codec: Codec,
) -> None:
    record = json.loads(json.dumps(EXAMPLES["Recommendation"]))
    record["ranking"][2]["probability"] = 1.5
    with pytest.raises(InvalidDatum, match=r"ranking\[2\]\.probability=1\.5 is outside 0\.\.1"):
        codec.encode_built("Recommendation", record)
    record["ranking"][2]["probability"] = float("nan")
    with pytest.raises(InvalidDatum, match=r"ranking\[2\]\.probability=nan"):
        codec.encode("Recommendation", record)


def test_expecting_another_record_type_is_refused(codec: Codec) -> None:
    data = codec.encode("Station", EXAMPLES["Station"])
    with pytest.raises(WrongSchema, match="expected SessionStarted, got Station"):
        codec.decode(data, expect="SessionStarted")


def test_v1_writer_is_read_by_v2_reader_with_defaults() -> None:
    schemas = SchemaSet(EVOLUTION)
    codec = Codec(schemas)
    old = codec.encode("Probe", {"probe_id": "p1", "kind": "beta", "level": 3}, version=1)
    assert codec.writer_of(old).version == 1
    assert codec.decode(old) == {"probe_id": "p1", "kind": "beta", "level": 3, "note": None}


def test_new_enum_symbol_reads_as_the_default_for_an_old_reader() -> None:
    schemas = SchemaSet(EVOLUTION)
    codec = Codec(schemas)
    new = codec.encode("Probe", {"probe_id": "p2", "kind": "gamma", "level": 1, "note": "x"})
    v1, v2 = schemas.by_name["station.scorer.test.Probe"]
    assert _read_body(new, writer=v2, reader=v1) == {"probe_id": "p2", "kind": "alpha", "level": 1}


def test_timestamps_may_be_given_as_datetimes(codec: Codec) -> None:
    when = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
    data = codec.encode("SessionStarted", {**EXAMPLES["SessionStarted"], "started_at": when})
    assert codec.decode(data)["started_at"] == when


def test_runaway_varint_is_a_codec_error(codec: Codec) -> None:
    # A long whose varint never ends (all continuation bits) must not leak a raw error.
    sv = codec.schemas.current("Station")
    with pytest.raises((TruncatedBody, InvalidDatum)):
        codec.decode(b"\xc3\x01" + sv.fingerprint + b"\xff" * 12)


def test_a_message_over_the_size_bound_is_refused_before_it_is_read() -> None:
    codec = Codec(max_message_bytes=2048)
    order = {**EXAMPLES["OrderPlaced"], "order_id": "x" * 3000}
    data = Codec(max_string=10_000).encode("OrderPlaced", order)  # the writer has no bound
    with pytest.raises(TooLarge, match=f"{len(data)} bytes, at most 2048"):
        codec.decode(data)
    assert TooLarge.reason == "too_large"


def test_a_string_over_its_bound_is_refused_with_the_field_named() -> None:
    codec = Codec(max_string=40)
    ok = {**EXAMPLES["OrderPlaced"], "order_id": "o" * 40}
    assert codec.decode(codec.encode("OrderPlaced", ok))["order_id"] == "o" * 40
    with pytest.raises(TooLong, match="order_id is 41 characters, at most 40"):
        codec.decode(codec.encode("OrderPlaced", {**ok, "order_id": "o" * 41}))
    face = {**EXAMPLES["FaceDetected"]["face"], "face_token": "t" * 41}
    with pytest.raises(TooLong, match=r"face\.face_token is 41"):
        codec.decode(codec.encode("FaceDetected", {**EXAMPLES["FaceDetected"], "face": face}))


def test_a_field_bound_of_its_own_overrides_the_default(codec: Codec) -> None:
    letter = {**EXAMPLES["DeadLetter"], "error_message": "e" * 4000}
    assert codec.decode(codec.encode("DeadLetter", letter))["error_message"] == "e" * 4000
