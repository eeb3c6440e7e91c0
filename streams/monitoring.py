"""Metrics that are sampled rather than counted: consumer lag, and the model served."""

from __future__ import annotations

import asyncio
import logging

from streams import channels, metrics, topics
from streams.admin import consumer_lag
from streams.app import app
from streams.runtime import current

log = logging.getLogger(__name__)
# The topics the agents consume (ticks are the scorer's own clock, not work to do).
WATCHED = (topics.SESSIONS, topics.FACES, topics.ORDERS, topics.SCORING_REQUESTS,
           topics.RECOMMENDATIONS, topics.SESSION_ORDERS)  # fmt: skip


def publish_model_info() -> None:
    metrics.MODEL_INFO.labels(version=current().predictor.version).set(1)


@app.timer(interval=10.0)
async def sample_consumer_lag() -> None:
    """Lag of each partition this worker owns; other workers report theirs."""
    rt = current()
    bootstrap = rt.settings.kafka_bootstrap_servers or ""
    owned = {(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()}
    metrics.CONSUMER_LAG.clear()
    for spec in WATCHED:
        topic = topics.named(spec, channels.PREFIX)
        try:
            lag = await asyncio.to_thread(consumer_lag, bootstrap, rt.settings.scorer_app_id, topic)
        except Exception as exc:  # a missed sample is not worth stopping the worker for
            log.warning("consumer lag of %s not sampled: %s", topic, exc)
            continue
        for partition, value in lag.items():
            if (topic, partition) in owned:
                metrics.CONSUMER_LAG.labels(topic=spec.name, partition=str(partition)).set(value)
