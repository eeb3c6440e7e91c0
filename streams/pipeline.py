"""A session's path through the worker, from the station's bytes to the recommendation.

    station.sessions ─┐
    station.faces ────┴─▶ 1 join ─▶ 2 resolve ─▶ 3 score ─▶ 4 publish ─▶ 5 track
                          (session_id)            (user_id)               (session_id)
    station.orders ──▶ record orders ─▶ user history ─┘      scoring.conversions ◀─┘

1. **Join** (streams/stages/join.py, keyed by session_id): a session waits for its face,
   embedded, from station.faces, or until SCORER_FACE_WAIT_MS runs out.
2. **Resolve** (here, `hand_on`): the customer is the session's user_id, else the
   face-library match at or above SCORER_MATCH_THRESHOLD, else new.
3. **Score** (streams/stages/score.py, keyed by user_id, beside the user history that
   streams/stages/orders.py keeps): one forward pass a micro-batch.
4. **Publish**: the recommendation to scoring.recommendations, then to its tracker.
5. **Track** (streams/stages/track.py, keyed by session_id): the order that followed, or
   none within SCORER_CONVERSION_WINDOW_S, to scoring.conversions.

Two hops change the key, and each has a short cut. A consumed Kafka message costs a
worker more CPU than joining and scoring a session, so when this worker owns the
partition the next stage reads, it hands the session over in memory instead of sending
it: `hand_on` below decides it for join → score (`scoring_partitions_held`), and the
tracker's `tracked_where` for score → track. Everything else travels through
scoring.requests and scoring.recommendations-to-track, bundled per partition
(streams/kafka/bundles.py). The agents in streams/agents/ only feed Faust's streams and
timers into the stages made here.
"""

from __future__ import annotations

from infra.kafka.client import key_partition
from streams import channels
from streams.app import app
from streams.assignment import owned, rebuild_on_assignment
from streams.kafka import bundles
from streams.records import Joined, ScoringRequest
from streams.rules import join_faces as join_rules
from streams.runtime import current
from streams.settings import settings
from streams.stages.join import FaceJoin
from streams.stages.score import Ready, Scoring
from streams.stages.track import ConversionTracking

_conf = settings()

tracking = ConversionTracking(
    _conf.scorer_conversion_window_s, _conf.scorer_dedup_window_s, _conf.scorer_partitions
)
scoring = Scoring(tracking, _conf.scorer_dedup_window_s * 1000)
# What the join sends on to scoring.requests, held while a backlog drains (a full batch).
requests_out = bundles.Held(channels.SCORING_REQUESTS, ScoringRequest.bundle)


def resolve(joined: Joined) -> ScoringRequest:
    """Step 2: the customer of a joined session, and what scoring needs of it."""
    session, match = joined["session"], joined["match"]
    user_id = join_rules.resolve_user(
        session["user_id"],
        match and match["matched_user_id"],
        match and match["match_score"],
        current().settings.scorer_match_threshold,
    )
    return ScoringRequest(
        session_id=session["session_id"],
        station_id=session["station_id"],
        started_at_ms=session["started_at_ms"],
        user_id=user_id,
        face=joined["face"],
        join=joined["join"],
        event_time_ms=joined["event_ms"],
    )


def scoring_partitions_held() -> set[int]:
    """The partitions of scoring.requests (and so of the user history) this worker owns.
    A new customer's key is the session's own: always here, since Faust assigns
    partition p of every co-partitioned topic to one worker."""
    return owned(channels.SCORING_REQUESTS)


async def hand_on(ready: list[Joined], read_at: int, backlog: bool | None) -> None:
    """Steps 2 to 4 for what the join made ready: score here the sessions whose
    customer's history this worker holds; send the others to scoring.requests, keyed by
    customer, for the worker that holds theirs (held with those sent before while the
    join has a `backlog`; None: as its last batch said)."""
    rt = current()
    if not ready:
        requests_out.add(rt.publisher, (), backlog)
        return
    partitions = rt.settings.scorer_partitions
    held = scoring_partitions_held()
    here: list[Ready] = []
    away: list[Ready] = []
    for joined in ready:
        request = resolve(joined)
        partition = key_partition(request.key(), partitions)
        item = Ready(request, partition, joined["event_ms"])
        (here if partition in held else away).append(item)
    if here:
        away += await scoring.score(here, read_at)  # those whose station left the registry
    requests_out.add(
        rt.publisher,
        [(item.partition, item.request.key(), item.request.to_bytes()) for item in away],
        backlog,
    )


join = FaceJoin(hand_on, _conf.scorer_dedup_window_s * 1000)

# On every assignment each stage reads back what it needs before it acts again.
rebuild_on_assignment(tracking.read_back, tracking.rebuild)
rebuild_on_assignment(scoring.read_back, scoring.rebuild)
rebuild_on_assignment(join.read_back, join.rebuild)


async def _forget_join_deadlines(_app: object, *args: object, **kwargs: object) -> None:
    join.forget_deadlines()


app.on_partitions_revoked.connect(_forget_join_deadlines)  # type: ignore[arg-type]
# Tables are recovered by now: an index a timer built from a table still recovering
# would miss the entries that came after.
app.on_rebalance_complete.connect(_forget_join_deadlines)  # type: ignore[arg-type]
