"""Which model version serves in which role: announcements on scoring.models.

The topic is compacted and keyed by role, so its latest record per role is the state of
the deployment: the LIVE version every worker serves, an optional SHADOW scored beside
it (results on scoring.shadow only) and an optional CANARY serving a share of sessions.
`python -m model promote|rollback|retire|models` write and read it (model/__main__.py,
through model/production/kafka_io.py); every worker follows it
(streams/kafka/model_follower.py). This module is the rules, without Kafka.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.codec import Codec
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
