"""Score: micro-batches of joined sessions through the MLP (keyed by user_id).

Each batch is one forward pass; the user history table is read here, never written (the
order stage owns it). What is scored is published as a Recommendation, a shadow's to
scoring.shadow, and the feature log's share to scoring.features; each recommendation
then goes to its conversion's tracker, in memory when this worker tracks it, else
through scoring.recommendations-to-track (bundled: streams/kafka/bundles.py). A request
repeated after a restart is dropped: the sessions recommended lately are kept in memory
and, on every assignment, read back from the whole of scoring.recommendations (keyed by
session, not by this stage's stream).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from faust.types import EventT

from model.customers import history
from schemas import topics
from schemas.codec import CodecError
from streams import channels, metrics
from streams.assignment import owned
from streams.clock import now_ms, written_ms
from streams.deadletters import send_dead_letter
from streams.kafka import bundles
from streams.kafka.outputs import ReadBack, RecentKeys, replay_start
from streams.records import Recommendation, ScoringRequest
from streams.rules.customer_figures import segments_and_values
from streams.rules.score_sessions import (
    FEATURES_SALT,
    Scored,
    recommendation,
    score_served,
    served_features,
    session_row,
)
from streams.runtime import current
from streams.serving import Serving, in_share
from streams.stages.track import ConversionTracking
from streams.tables import user_history, writing_to


class Ready(NamedTuple):
    """A session to score: its request, the partition of the user history table that
    holds its customer, and when its input was written (None: a timer's decision)."""

    request: ScoringRequest
    partition: int
    input_ms: int | None


class Scoring:
    """Step 3 of a session's path: scored, published, handed to its conversion's tracker."""

    def __init__(self, tracking: ConversionTracking, dedup_window_ms: int) -> None:
        self.tracking = tracking
        self.recommended = RecentKeys(channels.RECOMMENDATIONS, dedup_window_ms)
        self.read_back = ReadBack()  # open once `recommended` holds the topic's tail

    async def take(self, events: list[EventT]) -> None:
        """Score a batch of scoring.requests (each one request or a bundle of them)."""
        metrics.EVENTS.labels(topic=topics.SCORING_REQUESTS.name).inc(len(events))
        read_at = now_ms()
        items, by_session = [], {}
        for event in events:
            written_at = written_ms(event)
            try:
                requests = ScoringRequest.all_from_bytes(event.message.value)
            except CodecError as exc:
                await send_dead_letter(event, exc.reason, str(exc))
                continue
            for request in requests:
                metrics.HOP_REQUESTED.observe(max(0, read_at - written_at) / 1000)
                items.append(Ready(request, event.message.partition, written_at))
                by_session[request.session_id] = event
        for item in await self.score(items, read_at):  # left the registry since the join
            event, request = by_session[item.request.session_id], item.request
            await send_dead_letter(
                event,
                "unknown_station",
                f"station {request.station_id!r} left the registry",
                (request.key(), request.to_bytes()),
            )

    async def score(self, items: Sequence[Ready], read_at: int) -> list[Ready]:
        """Score the sessions not recommended yet in one forward pass and publish a
        Recommendation for each; those whose station is not in the registry are
        returned, unscored."""
        rt = current()
        await self.read_back.wait()
        stations, unknown = [], []
        for item in items:
            station = await rt.registry.lookup(item.request.station_id)
            if station is None:
                unknown.append(item)
            else:
                stations.append((item, station))
        handed: list[tuple[Recommendation, int]] = []
        to_track: list[tuple[int, bytes, bytes]] = []
        try:  # nothing in it awaits: no other batch can score one of these meanwhile
            self._score_and_publish(stations, read_at, handed, to_track)
        finally:  # what was published reaches its tracker, even if a later session failed
            bundles.publish(
                rt.publisher,
                channels.RECOMMENDATIONS_TO_TRACK,
                to_track,
                bundles.pack_recommendations(rt.codec),
            )
            if handed:
                await self.tracking.track_recommended(handed)
        return unknown

    def _score_and_publish(
        self,
        items: list[tuple[Ready, dict[str, str]]],
        read_at: int,
        handed: list[tuple[Recommendation, int]],
        to_track: list[tuple[int, bytes, bytes]],
    ) -> None:
        """Score and publish; a recommendation whose conversion this worker tracks goes
        into `handed` with its partition, the others into `to_track` (for their
        tracker's topic)."""
        rt = current()
        serving = rt.models.serving()  # a new model version swaps in here, between batches
        rows, kept, summaries, inputs_ms = [], [], [], []
        seen: set[str] = set()
        for item, station in items:
            request = item.request
            if request.session_id in self.recommended or request.session_id in seen:
                continue  # replayed after a restart, or twice in the batch: recommended once
            seen.add(request.session_id)
            user = request.user_id
            summary = None
            if user:
                with writing_to(channels.SCORING_REQUESTS, item.partition):  # its store
                    summary = history.summary(user_history.get(user))
            rows.append(session_row(request.started_at_ms, request.face, station, summary))
            kept.append(request)
            summaries.append(summary)
            inputs_ms.append(item.input_ms)
        if not rows:
            return
        with metrics.INFERENCE.time():
            scored = score_served(serving, rows, [r.session_id for r in kept])
        values = segments_and_values(summaries, [r.started_at_ms for r in kept], rt.customers)
        metrics.BATCH_SIZE.observe(len(rows))
        scored_at = now_ms()
        metrics.HOP_SCORED.observe(max(0, scored_at - read_at) / 1000)
        for request, ranked, version, worth, input_ms in zip(
            kept, scored.results, scored.versions, values, inputs_ms, strict=True
        ):
            record = recommendation(request, ranked, version, scored_at, worth)
            value = rt.codec.encode_built("Recommendation", record)
            self.recommended.add(request.session_id, scored_at, input_ms)
            key = request.session_id.encode()
            rt.publisher.publish(channels.RECOMMENDATIONS, key, value)
            partition, here = self.tracking.tracked_where(request.session_id)
            if here:
                handed.append((record, partition))
            else:
                to_track.append((partition, key, value))
            published = now_ms()
            metrics.HOP_PUBLISHED.observe(max(0, published - scored_at) / 1000)
            metrics.LATENCY.observe(max(0, published - request.event_time_ms) / 1000)
        _count_picks(scored.results)
        _count_versions(serving, scored.versions)
        rt.drift.add(scored.inputs, scored_at / 1000)
        if scored.shadow:
            _publish_shadow(serving, kept, scored, values, scored_at)
        share = rt.settings.scorer_feature_log_share
        if share > 0:
            _log_features(share, kept, rows, scored, scored_at)

    async def rebuild(self) -> None:
        """The sessions recommended lately, read back from the whole output topic."""
        rt = current()
        handed = sorted(owned(channels.SCORING_REQUESTS))
        since = await replay_start(
            rt.bootstrap, rt.settings.scorer_app_id, {channels.SCORING_REQUESTS: handed}
        )
        await self.recommended.reload(rt.bootstrap, None, since)


def _log_features(
    share: float,
    kept: list[ScoringRequest],
    rows: list[dict[str, Any]],
    scored: Scored,
    scored_at: int,
) -> None:
    """The served inputs of the feature log's share of sessions to scoring.features."""
    rt = current()
    logged = 0
    for i, request in enumerate(kept):
        if share < 1.0 and not in_share(request.session_id, share, FEATURES_SALT):
            continue
        record = served_features(request, rows[i], scored.inputs[i], scored.versions[i], scored_at)
        value = rt.codec.encode_built("ServedFeatures", record)
        rt.publisher.publish(channels.FEATURES, request.session_id.encode(), value)
        logged += 1
    metrics.FEATURES_LOGGED.inc(logged)


def _count_picks(results: list[dict[str, Any]]) -> None:
    """Recommendations per top pick and sessions by new user, one inc per label a batch."""
    for pick, n in Counter(r["top_pick"] for r in results).items():
        metrics.RECOMMENDATIONS.labels(top_pick=pick).inc(n)
    new = sum(bool(r["imputed_history"]) for r in results)
    if new:
        metrics.SESSIONS_SCORED.labels(new_user="true").inc(new)
    if new < len(results):
        metrics.SESSIONS_SCORED.labels(new_user="false").inc(len(results) - new)


def _count_versions(serving: Serving, versions: list[str]) -> None:
    if serving.canary is None:
        metrics.SCORED_BY.labels(model_version=versions[0], role="live").inc(len(versions))
        return
    canary = serving.canary.predictor.version
    on_canary = sum(v == canary for v in versions)
    metrics.SCORED_BY.labels(model_version=canary, role="canary").inc(on_canary)
    live = serving.live.version
    metrics.SCORED_BY.labels(model_version=live, role="live").inc(len(versions) - on_canary)


def _publish_shadow(
    serving: Serving,
    kept: list[ScoringRequest],
    scored: Scored,
    values: list[tuple[str | None, float | None]],
    scored_at: int,
) -> None:
    """The shadow's recommendations to scoring.shadow, never to the clerks' topic."""
    rt = current()
    assert serving.shadow is not None
    version = serving.shadow.predictor.version
    agree = 0
    for i, ranked in scored.shadow.items():
        request = kept[i]
        record = recommendation(request, ranked, version, scored_at, values[i])
        value = rt.codec.encode_built("Recommendation", record)
        rt.publisher.publish(channels.SHADOW, request.session_id.encode(), value)
        agree += ranked["top_pick"] == scored.results[i]["top_pick"]
    metrics.SCORED_BY.labels(model_version=version, role="shadow").inc(len(scored.shadow))
    metrics.SHADOW_AGREEMENT.labels(agree="true").inc(agree)
    metrics.SHADOW_AGREEMENT.labels(agree="false").inc(len(scored.shadow) - agree)
