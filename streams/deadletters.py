"""Sending what cannot be processed to scoring.dead-letters, with the reason."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.types import EventT

from schemas.codec import CodecError
from schemas.errors import ScorerError
from streams import channels, metrics
from streams.clock import now_ms
from streams.rules.inputs import implausible_time
from streams.runtime import current

log = logging.getLogger(__name__)
#: Most of an event's raw key and value a dead letter carries: with its message (at most
#: 4,000 characters) a dead letter stays under the codec's default bound of 64 KiB, so any
#: consumer can read every dead letter, whatever the size of the message it is about.
KEPT_VALUE_BYTES = 57_344
KEPT_KEY_BYTES = 1024


async def send_dead_letter(
    event: EventT, reason: str, message: str, part: tuple[bytes, bytes] | None = None
) -> None:
    """Publish the event's raw key and value with why it failed; the agent carries on.
    `part`: the key and value of the one record of a bundle (streams/kafka/bundles.py)
    that failed, kept instead of the whole message's."""
    msg = event.message
    key, value = part or (msg.key, msg.value)
    key = key[:KEPT_KEY_BYTES] if isinstance(key, bytes) else None
    value = value if isinstance(value, bytes) else None
    if value is not None and len(value) > KEPT_VALUE_BYTES:
        message = f"{message} (value cut to its first {KEPT_VALUE_BYTES} of {len(value)} bytes)"
        value = value[:KEPT_VALUE_BYTES]
    record = {
        "source_topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "key": key,
        "value": value,
        "error_class": reason,
        "error_message": message[:4000],
        "failed_at": now_ms(),
    }
    log.warning(
        "dead letter from %s[%d]@%d: %s: %.300s",
        msg.topic,
        msg.partition,
        msg.offset,
        reason,
        message,
    )
    metrics.DEAD_LETTERS.labels(reason=reason, topic=channels.catalogue_name(msg.topic)).inc()
    await channels.dead_letters.send(key=key, value=current().codec.encode("DeadLetter", record))


async def handle_or_dead_letter(agent: str, event: EventT, handle: channels.Handler) -> None:
    """`handle` the event; when its content is bad (a CodecError, raised where an input is
    read and checked), send it to the dead letters with the reason, so that the agent
    carries on. Any other error is the scorer's own: it goes on up (`crash_on_bug`), with
    a note of the event it was handling."""
    try:
        await handle(event)
    except CodecError as exc:  # a value this agent reads (any topic) that is not valid
        await send_dead_letter(event, exc.reason, str(exc))
    except Exception as exc:
        msg = event.message
        exc.add_note(f"{agent} was handling {msg.topic}[{msg.partition}]@{msg.offset}")
        raise


@contextmanager
def crash_on_bug(agent: str) -> Iterator[None]:
    """An error of the scorer's own code (not of its input, which is a dead letter) is
    logged with its traceback and counted, then stops the agent: its supervisor stops the
    worker, which leaves non-zero so that a supervisor starts it again, and what it had
    not committed is handed again. It is never filed as a dead letter. The project's own
    errors (ScorerError: outputs undeliverable for good, ...) stop the worker as they did,
    and are not counted here."""
    try:
        yield
    except ScorerError:
        raise  # the project's own, which says what failed (the broker gone for good, ...)
    except Exception:
        log.exception("%s: an error in the scorer's own code; the worker stops", agent)
        metrics.PROGRAMMING_ERRORS.labels(agent=agent).inc()
        raise


async def decode_or_dead_letter(event: EventT, schema: str) -> dict[str, Any] | None:
    """The event's record of `schema` at a station the registry knows, read to its end
    (streams/kafka/registry.py); else None, after a dead letter."""
    rt = current()
    try:
        record = rt.codec.decode(event.message.value, expect=schema)
    except CodecError as exc:
        await send_dead_letter(event, exc.reason, str(exc))
        return None
    problem = implausible_time(record, schema, rt.settings, now_ms())
    if problem is not None:
        await send_dead_letter(event, "implausible_time", problem)
        return None
    if await rt.registry.lookup(record["station_id"]) is None:
        await send_dead_letter(
            event, "unknown_station", f"station {record['station_id']!r} is not in the registry"
        )
        return None
    return record
