"""Avro single-object encoding over the schemas kept in this folder.

A message is `C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's Parsing Canonical Form, then the Avro binary body. Every version of every
schema is kept as `<name>.v<N>.avsc`; a reader finds the writer schema by its
fingerprint and resolves the body to the newest version of the same record (Avro
schema resolution), so events from producers on an older schema still decode.

Fields may carry `"x-range": [min, max]`; decode and encode both refuse a value
outside it. Decoding also bounds sizes, so that one hostile message cannot grow a
table entry or a changelog write past what the broker takes: a message longer than
`max_message_bytes` is refused before it is read, and a string longer than its field's
`"x-max-length"` (else `max_string`) after. Custom attributes are not part of the
Parsing Canonical Form, so they leave the fingerprints as they are. Every failure is a
CodecError subclass whose `reason` is the short, stable name the dead-letter topic
records.
"""

from __future__ import annotations

import io
import json
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from schemas.errors import ScorerError

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
SCHEMA_DIR = Path(__file__).resolve().parent
_FILE_NAME = re.compile(r"^(?P<stem>[a-z0-9_]+)\.v(?P<version>[1-9][0-9]*)\.avsc$")


class CodecError(ScorerError):
    """A message could not be encoded or decoded; `reason` names the kind of failure."""

    reason = "codec_error"


class BadMagic(CodecError):
    """The message does not start with the single-object marker C3 01."""

    reason = "bad_magic"


class UnknownFingerprint(CodecError):
    """The writer schema's fingerprint matches none of the kept schema versions."""

    reason = "unknown_fingerprint"


class TruncatedBody(CodecError):
    """The message ends before its header or body is complete."""

    reason = "truncated"


class InvalidDatum(CodecError):
    """The body decodes to, or the caller gave, a value the schema does not allow."""

    reason = "invalid_datum"


class TooLarge(CodecError):
    """The message is longer than the reader accepts."""

    reason = "too_large"


class TooLong(CodecError):
    """A string field is longer than its bound."""

    reason = "too_long"


class WrongSchema(CodecError):
    """The message is of another record type than the one the reader expects."""

    reason = "wrong_schema"


class SchemaSetError(ScorerError):
    """The schema files themselves are inconsistent (a bug in this folder, not in a message)."""

    reason = "bad_schema_set"


@dataclass(frozen=True)
class SchemaVersion:
    """One kept version of one record schema."""

    name: str  # full name, e.g. station.scorer.SessionStarted
    version: int
    path: Path
    raw: Mapping[str, Any]
    parsed: Any
    fingerprint: bytes  # 8 bytes, in the order they appear on the wire

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


def fingerprint_of(schema: Any) -> bytes:
    """The CRC-64-AVRO fingerprint of a schema's canonical form, as written on the wire."""
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def load_version(path: Path) -> SchemaVersion:
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise SchemaSetError(f"{path.name}: schema files are named <name>.v<N>.avsc")
    raw = json.loads(path.read_text())
    parsed = fastavro.parse_schema(raw)  # marked parsed: fastavro does not parse it again
    name = f"{raw.get('namespace', '')}.{raw['name']}".lstrip(".")
    return SchemaVersion(name, int(match["version"]), path, raw, parsed, fingerprint_of(raw))


class SchemaSet:
    """Every kept version of every schema in a folder, by name and by fingerprint."""

    def __init__(self, folder: Path = SCHEMA_DIR) -> None:
        versions = [load_version(p) for p in sorted(folder.glob("*.avsc"))]
        if not versions:
            raise SchemaSetError(f"no .avsc files in {folder}")
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        self.by_name: dict[str, list[SchemaVersion]] = {}
        for sv in versions:
            if sv.fingerprint in self.by_fingerprint:
                other = self.by_fingerprint[sv.fingerprint].path.name
                raise SchemaSetError(f"{sv.path.name} is the same schema as {other}")
            self.by_fingerprint[sv.fingerprint] = sv
            self.by_name.setdefault(sv.name, []).append(sv)
        for history in self.by_name.values():
            history.sort(key=lambda sv: sv.version)
        #: Each full name, by itself and by its short name (the first namespace wins).
        self._full: dict[str, str] = {}
        for full in self.by_name:
            self._full.setdefault(full.rsplit(".", 1)[-1], full)
        self._full.update({full: full for full in self.by_name})

    def current(self, name: str) -> SchemaVersion:
        """The newest version of a record, by full or short name."""
        return self.by_name[self.full_name(name)][-1]

    def full_name(self, name: str) -> str:
        full = self._full.get(name)
        if full is None:
            raise KeyError(f"no schema named {name!r}; known: {sorted(self.by_name)}")
        return full

    def __iter__(self) -> Iterator[SchemaVersion]:
        return iter(self.by_fingerprint.values())


#: Bytes put past a body before it is read: fastavro's C reader reads a plain buffer with
#: no Python call per read (a buffer class that raised on a short read cost about 7 µs a
#: message), and a body cut short is known by the reader ending inside the padding.
_PAD = bytes(16)


#: Longest message `decode` reads (the largest valid event is well under 4 KiB).
MAX_MESSAGE_BYTES = 65_536
#: Longest string of a decoded field without an `x-max-length` of its own.
MAX_STRING = 256


class Codec:
    """Encodes records to, and decodes them from, Avro single-object encoding."""

    def __init__(
        self,
        schemas: SchemaSet | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_string: int = MAX_STRING,
    ) -> None:
        self.schemas = schemas or SchemaSet()
        self.max_message_bytes = max_message_bytes
        self.max_string = max_string

    def encode(self, name: str, record: Mapping[str, Any], version: int | None = None) -> bytes:
        """Encode a record with the current (or the given) version of schema `name`."""
        sv = self._writer(name, version)
        try:
            validate(record, sv.parsed, raise_errors=True)
        except ValidationError as exc:
            raise InvalidDatum(f"{sv.short_name}: {exc}") from exc
        return self._write(sv, record)

    def encode_built(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Encode a record the scorer built itself from decoded inputs (a Recommendation,
        a Conversion) with the current version of schema `name`: without `encode`'s
        validation pass (about 40 of its 95 µs), which only makes a wrong type's message
        clearer; fastavro's writer still refuses a wrong type or a missing field
        (TypeError, ValueError), and the declared ranges are still checked."""
        return self._write(self._writer(name, None), record)

    def _write(self, sv: SchemaVersion, record: Mapping[str, Any]) -> bytes:
        check_ranges(sv.raw, record)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(sv.fingerprint)
        fastavro.schemaless_writer(out, sv.parsed, dict(record))
        return out.getvalue()

    def decode(self, data: bytes | None, expect: str | None = None) -> dict[str, Any]:
        """Decode a message into a record of the current version of its schema.

        With `expect`, a message of any other record type is refused (WrongSchema).
        """
        return self.decode_with_schema(data, expect)[1]

    def decode_with_schema(
        self, data: bytes | None, expect: str | None = None
    ) -> tuple[SchemaVersion, dict[str, Any]]:
        """Like decode, also returning the version the message was written with."""
        writer = self.writer_of(data)
        assert data is not None  # writer_of refuses None
        if expect is not None and writer.name != self.schemas.full_name(expect):
            raise WrongSchema(f"expected {expect}, got {writer.short_name}")
        reader = self.schemas.current(writer.name)
        record = _read_body(data, writer, reader)
        check_ranges(reader.raw, record, max_string=self.max_string)
        return writer, record

    def writer_of(self, data: bytes | None) -> SchemaVersion:
        """The schema version a message was written with, from its header."""
        if not data:
            raise TruncatedBody("empty message")
        if len(data) > self.max_message_bytes:
            raise TooLarge(f"message is {len(data)} bytes, at most {self.max_message_bytes}")
        if not MAGIC.startswith(data[:2]):
            raise BadMagic(f"message starts with {data[:2].hex()}, not c301")
        if len(data) < HEADER_SIZE:
            raise TruncatedBody(f"header is {len(data)} bytes, needs {HEADER_SIZE}")
        fingerprint = bytes(data[2:HEADER_SIZE])
        writer = self.schemas.by_fingerprint.get(fingerprint)
        if writer is None:
            raise UnknownFingerprint(f"no kept schema has fingerprint {fingerprint.hex()}")
        return writer

    def _writer(self, name: str, version: int | None) -> SchemaVersion:
        try:
            history = self.schemas.by_name[self.schemas.full_name(name)]
        except KeyError as exc:
            raise InvalidDatum(str(exc)) from exc
        if version is None:
            return history[-1]
        for sv in history:
            if sv.version == version:
                return sv
        raise InvalidDatum(f"{name} has no version {version}")


def _read_body(data: bytes, writer: SchemaVersion, reader: SchemaVersion) -> dict[str, Any]:
    """The record of a message's body, read with `writer` into `reader`'s version.

    Any read that goes past the body (a string or a number cut off) ends beyond its last
    byte, in the padding or at the padding's end, and is TruncatedBody; a read that ends
    before the body's end leaves bytes past it (InvalidDatum)."""
    end = len(data)
    buf = io.BytesIO(data + _PAD)
    buf.seek(HEADER_SIZE)
    # The same version needs no resolution: fastavro reads it about twice as fast alone.
    resolve_to = None if reader is writer else reader.parsed
    try:
        record = fastavro.schemaless_reader(buf, writer.parsed, resolve_to)
    except (EOFError, struct.error) as exc:
        raise TruncatedBody(f"{writer.short_name} body ends early: {exc}") from exc
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        UnicodeDecodeError,
        OverflowError,
        fastavro.read.SchemaResolutionError,
    ) as exc:
        if buf.tell() > end:
            raise TruncatedBody(f"{writer.short_name} body ends early") from exc
        raise InvalidDatum(f"{writer.short_name} body does not decode: {exc}") from exc
    if buf.tell() > end:
        raise TruncatedBody(f"{writer.short_name} body ends early, {buf.tell() - end} bytes short")
    if buf.tell() < end:
        raise InvalidDatum(f"{writer.short_name} body has {end - buf.tell()} bytes past its end")
    if not isinstance(record, dict):
        raise InvalidDatum(f"{writer.short_name} body is not a record")
    return record


def check_ranges(
    schema: Mapping[str, Any],
    record: Mapping[str, Any],
    path: str = "",
    max_string: int | None = None,
) -> None:
    """Refuse any field value outside the field's declared `x-range` (NaN included) and,
    with `max_string`, any string longer than its field's `x-max-length` or `max_string`."""
    for name, bounds, longest, nested in _checks_of(schema, max_string is not None):
        value = record.get(name)
        if value is None:
            continue
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise InvalidDatum(f"{path}{name}={value!r} is outside {bounds[0]}..{bounds[1]}")
        if max_string is not None and isinstance(value, str):
            most = max_string if longest is None else longest
            if len(value) > most:
                raise TooLong(f"{path}{name} is {len(value)} characters, at most {most}")
        if nested is not None:
            records, each = nested
            for i, item in enumerate(value) if each else ((-1, value),):
                if isinstance(item, Mapping):
                    where = f"{path}{name}." if i < 0 else f"{path}{name}[{i}]."
                    for inner in records:
                        check_ranges(inner, item, where, max_string)


#: What is checked of a record's fields: name, `x-range`, `x-max-length`, and the record
#: schemas its value (`each`: each item of its array) is checked against, or None. Worked
#: out once per schema (kept with them, so that its id is not reused): a walk of the schema
#: per message cost about 10 µs of a Recommendation's 26. Without string bounds (encoding),
#: only fields with a range or a nested record are left.
_Check = tuple[str, Any, int | None, tuple[tuple[Mapping[str, Any], ...], bool] | None]
_CHECKS: dict[tuple[int, bool], tuple[Mapping[str, Any], list[_Check]]] = {}


def _checks_of(schema: Mapping[str, Any], strings: bool) -> list[_Check]:
    known = _CHECKS.get((id(schema), strings))
    if known is not None and known[0] is schema:
        return known[1]
    checks = [
        (field["name"], field.get("x-range"), field.get("x-max-length"), _nested(field["type"]))
        for field in schema.get("fields", ())
    ]
    if not strings:
        checks = [check for check in checks if check[1] is not None or check[3] is not None]
    _CHECKS[(id(schema), strings)] = (schema, checks)
    return checks


def _records_in(ftype: Any) -> tuple[Mapping[str, Any], ...]:
    """The record schemas a value of `ftype` may be: itself, or its union's records."""
    branches = ftype if isinstance(ftype, list) else [ftype]
    return tuple(b for b in branches if isinstance(b, dict) and b.get("type") == "record")


def _nested(ftype: Any) -> tuple[tuple[Mapping[str, Any], ...], bool] | None:
    if isinstance(ftype, dict) and ftype.get("type") == "array":
        items = _records_in(ftype["items"])
        return (items, True) if items else None
    records = _records_in(ftype)
    return (records, False) if records else None
