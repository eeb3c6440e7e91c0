"""The topics the agents read (Faust topic objects) and write, from the catalogue in
topics.py. Outputs other than dead letters are produced by name through the worker's
publisher (streams/kafka/publisher.py), which costs a fraction of a Faust send.

Values of the product's topics are raw bytes here: agents decode them with the schemas'
codec themselves, so that a bad message becomes a dead letter with its partition and
offset instead of an exception inside Faust's deserialiser.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faust.types import EventT

from schemas import topics
from streams import metrics
from streams.app import app
from streams.settings import settings

PREFIX = settings().scorer_topic_prefix
SESSIONS = topics.named(topics.SESSIONS, PREFIX)
FACES = topics.named(topics.FACES, PREFIX)
RECOMMENDATIONS = topics.named(topics.RECOMMENDATIONS, PREFIX)
SESSION_ORDERS = topics.named(topics.SESSION_ORDERS, PREFIX)
CONVERSIONS = topics.named(topics.CONVERSIONS, PREFIX)
CUSTOMER_PROFILES = topics.named(topics.CUSTOMER_PROFILES, PREFIX)
SHADOW = topics.named(topics.SHADOW, PREFIX)
FEATURES = topics.named(topics.FEATURES, PREFIX)
SCORING_REQUESTS = topics.named(topics.SCORING_REQUESTS, PREFIX)
RECOMMENDATIONS_TO_TRACK = topics.named(topics.RECOMMENDATIONS_TO_TRACK, PREFIX)
_CATALOGUE = {topics.named(spec, PREFIX): spec.name for spec in topics.ALL}


def catalogue_name(topic: str) -> str:
    """The topic's name without SCORER_TOPIC_PREFIX: a stable metrics label."""
    return _CATALOGUE.get(topic, "other")


Handler = Callable[[EventT], Awaitable[None]]


def by_topic(handlers: Mapping[str, Handler]) -> Handler:
    """One handler for a stream of co-partitioned topics: each event is counted for its
    topic and goes to the handler of its topic."""

    consumed = {topic: metrics.EVENTS.labels(topic=catalogue_name(topic)) for topic in handlers}

    async def handle(event: EventT) -> None:
        topic = event.message.topic
        consumed[topic].inc()
        await handlers[topic](event)

    return handle


def _raw(*names: str) -> Any:
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


orders = _raw(topics.named(topics.ORDERS, PREFIX))
# Conversion tracking reads the recommendations scored on other workers, orders and
# shadow results by session as one stream (those scored here are handed over in memory).
conversion_input = _raw(RECOMMENDATIONS_TO_TRACK, SESSION_ORDERS, SHADOW)
dead_letters = _raw(topics.named(topics.DEAD_LETTERS, PREFIX))
# The face join reads sessions and faces as one co-partitioned stream.
join_input = _raw(SESSIONS, FACES)
scoring_requests = _raw(SCORING_REQUESTS)
