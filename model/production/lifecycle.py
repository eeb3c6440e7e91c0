"""Which model version serves in which role: announcements on scoring.models.

The topic is compacted and keyed by role, so its latest record per role is the state of
the deployment: the LIVE version every worker serves, an optional SHADOW scored beside
it (results on scoring.shadow only) and an optional CANARY serving a share of sessions.
`python -m model promote|rollback|retire|models` write and read it (model/__main__.py);
every worker follows it (streams/kafka/model_follower.py).
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from infra.kafka.client import producer_config, reader_config
from schemas.codec import Codec, CodecError
from schemas.errors import ScorerError

ROLES = ("live", "shadow", "canary")


class AnnouncementError(ScorerError):
    """An announcement cannot be made or read; says why."""

    reason = "bad_announcement"


@dataclass(frozen=True)
class Announcement:
    """One role's version: None retires the role; `share` is the canary's (or sampled
    shadow's) share of sessions."""

    role: str
    version: str | None
    share: float = 1.0
    previous: str | None = None
    announced_by: str = ""
    announced_at_ms: int = 0

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AnnouncementError(f"role {self.role!r} is not one of {', '.join(ROLES)}")
        if self.role == "live" and self.version is None:
            raise AnnouncementError("the live role cannot be retired: promote another version")
        if not 0.0 <= self.share <= 1.0:
            raise AnnouncementError(f"share {self.share} is not between 0 and 1")

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Announcement:
        at = record["announced_at"]
        at_ms = at if isinstance(at, int) else int(at.timestamp() * 1000)
        return cls(
            record["role"].lower(),
            record["version"],
            float(record["share"]),
            record["previous"],
            record["announced_by"],
            at_ms,
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "role": self.role.upper(),
            "version": self.version,
            "share": self.share,
            "previous": self.previous,
            "announced_by": self.announced_by,
            "announced_at": self.announced_at_ms,
        }


def decode(codec: Codec, value: bytes) -> Announcement:
    """An announcement from its message; CodecError or AnnouncementError when it is bad."""
    return Announcement.from_record(codec.decode(value, expect="ModelAnnouncement"))


LEADER_PENDING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE})


def read(
    bootstrap: str, topic: str, codec: Codec, timeout: float = 30.0
) -> dict[str, Announcement]:
    """The latest announcement per role, the topic read to its end; an unreadable record
    is skipped (the workers skip it too)."""
    consumer = Consumer(reader_config(bootstrap))
    partition = TopicPartition(topic, 0)
    latest: dict[str, Announcement] = {}
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                start, end = consumer.get_watermark_offsets(partition, timeout=timeout)
                break
            except KafkaException as exc:
                # A topic made a moment ago may have no leader yet: wait it out.
                waiting = exc.args[0].code() in LEADER_PENDING or exc.args[0].retriable()
                if not waiting or time.monotonic() > deadline:
                    raise AnnouncementError(f"cannot read {topic!r}: {exc}") from exc
                time.sleep(0.2)
        if end <= start:
            return latest
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        position = start
        while position < end:
            if time.monotonic() > deadline:
                raise AnnouncementError(f"{topic!r} could not be read to its end in {timeout:g} s")
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            position = (msg.offset() or 0) + 1
            value = msg.value()
            if value is None:
                latest.pop((msg.key() or b"").decode(errors="replace"), None)
                continue
            try:
                announcement = decode(codec, value)
            except (CodecError, AnnouncementError):
                continue
            latest[announcement.role] = announcement
    finally:
        consumer.close()
    return latest


def publish(bootstrap: str, topic: str, codec: Codec, announcement: Announcement) -> None:
    """Write one announcement and wait until the broker has it."""
    producer = Producer(producer_config(bootstrap))
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    value = codec.encode("ModelAnnouncement", announcement.to_record())
    producer.produce(topic, key=announcement.role.encode(), value=value, on_delivery=delivered)
    if producer.flush(30) or errors:
        raise AnnouncementError(
            f"the announcement was not delivered to {topic!r}: {'; '.join(errors) or 'timed out'}"
        )


def announcement(
    role: str,
    version: str | None,
    share: float,
    current: dict[str, Announcement],
    by: str | None = None,
    sound: Callable[[str], bool] = lambda _: True,
) -> Announcement:
    """The announcement of `version` in `role`, naming the version it replaces: the one
    announced before, or, when that one is not `sound` (a corrupt version announced
    anyway, refused by every worker), the one before it, which they went on serving."""
    before = current.get(role)
    previous = None
    if before is not None:
        previous = before.version if before.version and sound(before.version) else before.previous
    return Announcement(role, version, share, previous, by or _user(), time.time_ns() // 1_000_000)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in this environment
        return "unknown"


def rollback(current: dict[str, Announcement], by: str | None = None) -> Announcement:
    """Back to the live version before the current one."""
    live = current.get("live")
    if live is None:
        raise AnnouncementError("no live version has been announced: nothing to roll back")
    if live.previous is None:
        raise AnnouncementError(f"live version {live.version} replaced none: nothing to go back to")
    return announcement("live", live.previous, 1.0, current, by)
