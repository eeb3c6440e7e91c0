"""Track: did a recommended session end in an order? (keyed by session_id)

Takes the recommendations, the orders that carry a session_id (re-keyed by session_id by
the order stage into scoring.session-orders) and the shadow's results, co-partitioned,
and counts each decided session's log loss and its shadow's. What this worker scored for
the sessions it tracks comes in memory (`track_recommended`), the rest through
scoring.recommendations-to-track. The first order within SCORER_CONVERSION_WINDOW_S
decides the outcome, else NO_PURCHASE at the window's end; each outcome is published to
scoring.conversions once.

The state (a recommendation waiting for its order, an order waiting for its
recommendation, a decided session kept one more window) lives in memory, not in a
table: a partition this worker is handed is rebuilt from the inputs' tail (from the
window and SCORER_DEDUP_WINDOW_S before the oldest input handed again) through the same
rules, the outcomes in scoring.conversions recognised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from faust.types import EventT

from infra.kafka.client import key_partition
from infra.kafka.reading import Written, read_tail
from schemas.codec import CodecError
from streams import channels, metrics
from streams.assignment import owned
from streams.clock import now_ms, written_ms
from streams.deadletters import handle_or_dead_letter
from streams.kafka import bundles
from streams.kafka.outputs import ReadBack, RecentKeys, replay_start
from streams.rules import outcome_loss as loss
from streams.rules import track_conversions as rules
from streams.rules.deadlines import DeadlineIndex
from streams.runtime import current
from streams.tables import settled

log = logging.getLogger(__name__)

#: What a rebuild reads back: every recommendation, however it reached the tracker.
INPUTS = (channels.RECOMMENDATIONS, channels.SESSION_ORDERS, channels.SHADOW)
#: The inputs a new owner is handed again: its own, and the join's (scored, handed over).
HANDED_AGAIN = (
    channels.RECOMMENDATIONS_TO_TRACK,
    channels.SESSION_ORDERS,
    channels.SHADOW,
    channels.SESSIONS,
    channels.FACES,
)


class ConversionTracking:
    """Step 5 of a session's path: its recommendation paired with the order, or none."""

    def __init__(self, window_s: int, dedup_window_s: int, partitions: int) -> None:
        self.window_ms = window_s * 1000
        #: What a rebuild reads back: every entry still held began within it.
        self.span_ms = (window_s + dedup_window_s) * 1000
        self.partitions = partitions
        self.state: dict[str, dict[str, Any]] = {}  # session_id -> the rules' entry
        self.deadlines = DeadlineIndex(self.state)
        self.published = RecentKeys(channels.CONVERSIONS, self.span_ms)
        self.shadows = loss.Shadows(self.span_ms)  # shadow results waiting for an outcome
        self.read_back = ReadBack()  # open once the handed partitions' state is rebuilt
        self.owned: set[int] = set()
        self._route = channels.by_topic(
            {
                channels.RECOMMENDATIONS_TO_TRACK: self._on_recommendation,
                channels.SESSION_ORDERS: self._on_order,
                channels.SHADOW: self._on_shadow,
            }
        )

    async def take(self, event: EventT) -> None:
        """One recommendation (or bundle), order or shadow result."""
        await handle_or_dead_letter("track_conversions", event, self._handle)

    async def _handle(self, event: EventT) -> None:
        await self.read_back.wait()
        await self._route(event)

    def tracked_where(self, session_id: str) -> tuple[int, bool]:
        """The partition of the session's conversion, and whether this worker tracks it."""
        partition = key_partition(session_id.encode(), self.partitions)
        return partition, partition in self.owned

    async def track_recommended(self, records: Sequence[tuple[Mapping[str, Any], int]]) -> None:
        """Recommendations published here for sessions tracked here, with their
        partitions; one handed on meanwhile is left to its new owner, which reads it back."""
        await self.read_back.wait()
        for record, partition in records:
            if partition in self.owned:
                self._recommended(record, partition, now_ms())

    async def _on_recommendation(self, event: EventT) -> None:  # one, or a bundle
        for record in bundles.recommendations(current().codec, event.message.value):
            self._recommended(record, event.message.partition, written_ms(event))

    def _recommended(self, record: Mapping[str, Any], partition: int, input_ms: int) -> None:
        rec = rules.kept_recommendation(record)
        key = rec["session_id"]
        entry, outcome = rules.on_recommendation(
            self.state.get(key), rec, partition, now_ms(), self.window_ms
        )
        self._apply(key, entry, outcome, partition, input_ms)

    async def _on_order(self, event: EventT) -> None:
        record = current().codec.decode(event.message.value, expect="OrderPlaced")
        key = record["session_id"]
        partition = event.message.partition
        entry, outcome = rules.on_order(
            self.state.get(key), rules.kept_order(record), partition, now_ms(), self.window_ms
        )
        if entry is not None:
            self._apply(key, entry, outcome, partition, written_ms(event))

    async def _on_shadow(self, event: EventT) -> None:
        """A shadow's result: its loss once the session is decided, now if it is already."""
        record = current().codec.decode(event.message.value, expect="Recommendation")
        key, entry = record["session_id"], self.state.get(record["session_id"])
        if entry is not None and entry.get("label") is not None:
            _count_pair(loss.probabilities(record), entry["label"], entry["served_loss"])
        elif key not in self.published:
            self.shadows.hold(key, loss.probabilities(record), now_ms())

    async def decide_due(self) -> None:
        """NO_PURCHASE for each recommendation whose window closed; forget what is done."""
        if not (settled() and self.read_back.is_open()):
            return  # partitions are moving: they are rebuilt once they are settled
        now = now_ms()
        self.shadows.expire(now)
        for partition in sorted(self.owned):
            for key, entry in self.deadlines.due_entries(partition, now):
                kept, outcome = rules.on_tick(entry, now, self.window_ms)
                self._apply(key, kept, outcome, partition)

    def _apply(
        self,
        key: str,
        entry: dict[str, Any] | None,
        outcome: str | None,
        partition: int,
        input_ms: int | None = None,
    ) -> None:
        """Publish and count a decided outcome unless it is out already, then keep the
        entry (`input_ms`: when the deciding input was written; None for the timer)."""
        if outcome is not None and key not in self.published:
            assert entry is not None  # the rules decide only with an entry to keep
            _publish(entry["rec"], entry.get("order"), outcome)
            self.published.add(key, now_ms(), input_ms)
            entry = {**entry, **self._losses(key, entry, outcome)}
        if entry is None:
            self.state.pop(key, None)
        else:
            self.state[key] = entry
        self.deadlines.keep(partition, key, entry)

    def _losses(self, key: str, entry: dict[str, Any], outcome: str) -> dict[str, Any]:
        """Count the decided session's log loss, and its shadow's if that has come; what
        a shadow that comes later needs, kept in the entry."""
        label, served = loss.served_loss(entry, outcome)
        metrics.OUTCOME_LOG_LOSS.labels(model_version=entry["rec"]["model_version"]).observe(served)
        shadow = self.shadows.take(key)
        if shadow is not None:
            _count_pair(shadow, label, served)
        return {"label": label, "served_loss": served}

    async def rebuild(self) -> None:
        """Drop the partitions this worker lost; rebuild the ones it was handed from the
        tails of its inputs."""
        assigned = owned(channels.RECOMMENDATIONS_TO_TRACK)
        handed, lost = assigned - self.owned, self.owned - assigned
        for key in [k for k, e in self.state.items() if e.get("partition") in lost]:
            del self.state[key]
        self.owned.clear()
        self.owned.update(assigned)
        self.deadlines.forget_all()
        rt = current()
        since = await replay_start(
            rt.bootstrap, rt.settings.scorer_app_id, dict.fromkeys(HANDED_AGAIN, assigned)
        )
        await self.published.reload(rt.bootstrap, assigned, since)
        if not handed:
            return
        recs, orders, shadowed = [
            await asyncio.to_thread(read_tail, rt.bootstrap, topic, handed, since - self.span_ms)
            for topic in INPUTS
        ]
        self._hold_shadows(shadowed)
        entries, decided = rules.replay(_decoded(recs, orders), self.window_ms)
        self.state.update(entries)
        self.deadlines.forget_all()  # the timer may have indexed the state meanwhile
        for key, outcome in decided:  # decided before, but not published
            entry = entries.get(key)
            if key not in self.published and entry is not None and entry.get("rec") is not None:
                self._apply(key, entry, outcome, entry["partition"])

    def _hold_shadows(self, written: list[Written]) -> None:
        """The shadow results read back, for the sessions whose outcome is not out yet."""
        for w, packed in _readable(channels.SHADOW, written, "Recommendation", loss.probabilities):
            if w.key not in self.published:
                self.shadows.hold(w.key, packed, w.timestamp_ms)


def _count_pair(shadow: bytes, label: int, served_loss: float) -> None:
    metrics.SHADOW_LOG_LOSS.labels(scored_as="shadow").observe(loss.log_loss(shadow, label))
    metrics.SHADOW_LOG_LOSS.labels(scored_as="served").observe(served_loss)


def _publish(rec: dict[str, Any], order: dict[str, Any] | None, outcome: str) -> None:
    rt = current()
    station = rt.registry.get(rec["station_id"]) or {"city": "unknown", "station_type": "other"}
    record = rules.conversion(rec, order, outcome, station, now_ms())
    rt.publisher.publish(
        channels.CONVERSIONS,
        rec["session_id"].encode(),
        rt.codec.encode_built("Conversion", record),
    )
    metrics.CONVERSIONS.labels(
        outcome=outcome.lower(),
        top_pick=rec["top_pick"],
        station_type=station["station_type"],
        city=station["city"],
    ).inc()
    metrics.CONVERSIONS_BY_MODEL.labels(
        model_version=rec["model_version"], outcome=outcome.lower()
    ).inc()


def _decoded(
    recs: list[Written], orders: list[Written]
) -> list[tuple[int, int, str, str, dict[str, Any]]]:
    """What the rules replay, from the records read back."""
    return [
        (w.timestamp_ms, w.partition, kind, w.key, record)
        for kind, topic, schema, keep, written in (
            ("rec", channels.RECOMMENDATIONS, "Recommendation", rules.kept_recommendation, recs),
            ("order", channels.SESSION_ORDERS, "OrderPlaced", rules.kept_order, orders),
        )
        for w, record in _readable(topic, written, schema, keep)
    ]


def _readable(
    topic: str, written: list[Written], schema: str, keep: Callable[[dict[str, Any]], Any]
) -> Iterator[tuple[Written, Any]]:
    """What `keep` takes of each record of `topic` read back that decodes; one that does
    not went to the dead letters when the stage first read it, and is passed over,
    logged and counted."""
    codec = current().codec
    skipped = 0
    for w in written:
        try:
            record = keep(codec.decode(w.value, expect=schema))
        except CodecError as exc:
            skipped += 1
            log.debug("read back: %s[%d] does not decode: %s", topic, w.partition, exc)
            continue
        yield w, record
    if skipped:
        name = channels.catalogue_name(topic)
        log.warning("read back: %d records of %s that do not decode passed over", skipped, name)
        metrics.READ_BACK_SKIPPED.labels(topic=name).inc(skipped)
