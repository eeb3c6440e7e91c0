"""Metrics that are sampled rather than counted: consumer lag, input drift, the customer
model served, and the state the stages hold.

Lag is what the worker's own consumer knows: the highwater of each partition it owns
(every fetch response carries it) less the offset committed for it. The worker sends no
admin request of its own for it: librdkafka crashes the whole process (SIGSEGV in its
own thread) when a "list consumer group offsets" request meets a coordinator still
loading after a broker restart (librdkafka #5040, confluent-kafka-python #1982), which
is how a 20 s broker outage once killed every worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sized

from schemas import topics
from streams import channels, logs, metrics, pipeline
from streams.app import app
from streams.kafka.consumer import ExactConsumer
from streams.runtime import current

# The topics the agents consume (ticks are the scorer's own clock, not work to do).
WATCHED = frozenset(
    spec.name
    for spec in (
        topics.SESSIONS,
        topics.FACES,
        topics.ORDERS,
        topics.SCORING_REQUESTS,
        topics.RECOMMENDATIONS_TO_TRACK,
        topics.SESSION_ORDERS,
    )
)

# What each kind of state holds, read from its stage when /metrics is scraped.
HELD: dict[str, Sized] = {
    "joins_waiting": pipeline.join.deadlines,  # mirrors the pending-sessions table
    "conversions_waiting": pipeline.tracking.state,
    "shadows_waiting": pipeline.tracking.shadows,
    "join_dedup_keys": pipeline.join.scored,
    "scorer_dedup_keys": pipeline.scoring.recommended,
    "conversion_dedup_keys": pipeline.tracking.published,
}
for _topic in WATCHED:  # exported at 0 from the start: a rise is what the alert looks for
    metrics.CONSUMER_REWINDS.labels(topic=_topic)
for _agent in ("join_faces", "score_sessions", "record_orders", "track_conversions"):
    metrics.PROGRAMMING_ERRORS.labels(agent=_agent)  # at 0 from the start, for the alert
for _state, _held in HELD.items():
    metrics.STATE.labels(state=_state).set_function(_held.__len__)


def publish_model_info() -> None:
    """The customer model's version (the scoring models' come from streams/serving.py)."""
    metrics.CUSTOMER_MODEL_INFO.labels(version=current().customers.version).set(1)


@app.timer(interval=10.0)
async def export_input_drift() -> None:
    """scorer_feature_psi per input, against the live model's training shares (an
    artifact trained before drift was measured has none: nothing is exported)."""
    rt = current()
    now = time.time()
    trained = rt.models.serving().live.artifact.input_shares
    metrics.FEATURE_PSI.clear()
    for feature, value in rt.drift.psi(trained, now).items():
        metrics.FEATURE_PSI.labels(feature=feature).set(value)
    metrics.DRIFT_SESSIONS.set(rt.drift.sessions(now))


@app.timer(interval=10.0)
async def sample_consumer_lag() -> None:
    """Lag of each partition this worker owns; other workers report theirs."""
    consumer = app.consumer
    metrics.CONSUMER_LAG.clear()
    if not isinstance(consumer, ExactConsumer):
        return
    for tp in app.assignor.assigned_actives():
        name = channels.catalogue_name(tp.topic)
        lag = consumer.lag(tp) if name in WATCHED else None
        if lag is not None:
            metrics.CONSUMER_LAG.labels(topic=name, partition=str(tp.partition)).set(lag)


@app.task
async def limit_repeated_logs() -> None:
    """Faust has set up the log handlers by the time its tasks start: from now on a line
    repeated many times (every reconnect attempt while the broker is away) is written a
    few times per window, then once with a count."""
    logs.limit_repeats(logging.getLogger())
