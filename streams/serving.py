"""The models a worker serves, and the one place they change (docs/concepts/model.md).

`Serving` is what one scoring batch uses from start to end: the live model, an optional
shadow and an optional canary with their shares. The follower of scoring.models
(streams/kafka/model_follower.py) loads an announced version in its own thread and hands it to
`ModelSet.offer`; the next batch's `ModelSet.serving()` swaps it in. So a swap falls
between two micro-batches, costs the batch nothing but a pointer, and every
recommendation names the version that scored it.
"""

from __future__ import annotations

import logging
import threading
import zlib
from dataclasses import dataclass, replace

from model.mlp.artifact import ArtifactError
from model.mlp.predictor import Predictor
from model.production.lifecycle import Announcement
from model.production.store import ModelStore
from streams import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Role:
    """A model in a role beside the live one, with its share of sessions."""

    predictor: Predictor
    share: float


@dataclass(frozen=True)
class Serving:
    live: Predictor
    shadow: Role | None = None
    canary: Role | None = None

    def version(self, role: str) -> str | None:
        served = self.live if role == "live" else getattr(self, role)
        if served is None:
            return None
        return served.version if isinstance(served, Predictor) else served.predictor.version


def in_share(session_id: str, share: float, salt: bytes) -> bool:
    """A stable choice of `share` of all sessions: the same session, the same answer, on
    every worker and after every restart (CRC-32 of the salted id)."""
    return zlib.crc32(salt + session_id.encode()) < share * 0x1_0000_0000


class ModelSet:
    """The serving models, swapped between batches; loads go through the model store."""

    def __init__(self, store: ModelStore, live: Predictor) -> None:
        self.store = store
        self._serving = Serving(live)
        self._next: Serving | None = None
        self._lock = threading.Lock()
        self._publish_info(self._serving)

    def serving(self) -> Serving:
        """The models for the next batch: the one place a swap takes effect."""
        with self._lock:
            if self._next is not None:
                before, self._serving, self._next = self._serving, self._next, None
                swapped = True
            else:
                swapped = False
            now = self._serving
        if swapped:
            for role in ("live", "shadow", "canary"):
                if before.version(role) != now.version(role):
                    log.info(
                        "now serving %s as %s (was %s)",
                        now.version(role),
                        role,
                        before.version(role),
                    )
            self._publish_info(now)
        return now

    def offer(self, announced: Announcement) -> bool:
        """Load what an announcement names (blocking: the follower's thread) and queue it
        for the next batch. A version that does not load is refused: counted, logged, and
        the current model goes on serving. True when it was taken."""
        with self._lock:
            ahead = self._next or self._serving
        role = announced.role
        held: Role | None = None if role == "live" else getattr(ahead, role)
        if ahead.version(role) == announced.version and (
            held is None or held.share == announced.share
        ):
            return True  # already served (a re-read announcement, a role retired twice)
        loaded: Predictor | None = None
        if announced.version is not None:
            known = {ahead.version(r): r for r in ("live", "shadow", "canary")}
            try:
                loaded = self._predictor(ahead, known.get(announced.version)) or Predictor(
                    self.store.load(announced.version)
                )
            except ArtifactError as exc:
                metrics.MODEL_LOAD_FAILURES.labels(role=role).inc()
                log.error(
                    "refused model %s as %s, still serving %s: %s",
                    announced.version,
                    role,
                    ahead.version(role),
                    exc,
                )
                return False
        with self._lock:
            base = self._next or self._serving
            if role == "live":
                assert loaded is not None  # an Announcement never retires the live role
                changed = replace(base, live=loaded)
            else:
                kept = None if loaded is None else Role(loaded, announced.share)
                changed = (
                    replace(base, shadow=kept) if role == "shadow" else replace(base, canary=kept)
                )
            self._next = changed
        log.info("loaded %s as %s: it serves from the next batch", announced.version, role)
        return True

    @staticmethod
    def _predictor(serving: Serving, role: str | None) -> Predictor | None:
        """The predictor already loaded for another role (a shadow promoted live)."""
        if role is None:
            return None
        if role == "live":
            return serving.live
        held: Role | None = getattr(serving, role)
        return held.predictor if held else None

    @staticmethod
    def _publish_info(now: Serving) -> None:
        metrics.MODEL_INFO.clear()
        for role in ("live", "shadow", "canary"):
            version = now.version(role)
            if version is not None:
                metrics.MODEL_INFO.labels(version=version, role=role).set(1)
