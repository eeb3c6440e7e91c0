"""The scorer's Faust tables. Each is read and written only by the agent whose stream is
partitioned like it (docs/concepts/architecture.md, Topology). What was published needs no table:
the output
topics record it (streams/kafka/outputs.py), and conversion tracking rebuilds its state
from the topics it reads (streams/stages/track.py).

Keys are raw UTF-8 bytes, exactly as on the topics: Faust would otherwise serialise them
as JSON strings, and then route a key (GET /users/{id}) to the worker of another partition.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import cast

from faust.streams import _current_event
from faust.types import EventT

from schemas.topics import TopicSpec
from streams.app import app

# join_faces (keyed by session_id): sessions and faces waiting for each other.
pending = app.Table(
    "pending-sessions",
    default=None,
    key_type=bytes,
    help="sessions and faces waiting for their other half",
)
# record_orders writes, score_sessions reads (both keyed by user_id).
user_history = app.Table(
    "user-history",
    default=None,
    key_type=bytes,
    help="purchase history per user (model/customers/history.py)",
)


def changelog_topics() -> list[TopicSpec]:
    """The tables' changelog topics as Faust declares them: compacted, partitioned like the
    app's topics. The worker creates them before Faust starts (streams/worker.py)."""
    compacted = {"cleanup.policy": "compact"}
    return [
        TopicSpec(table.changelog_topic.get_topic_name(), "key", "JSON", config=compacted)
        for table in app.tables.values()
    ]


def settled() -> bool:
    """No rebalance or table recovery under way: a timer may act on the partitions."""
    return not (app.rebalancing or app.in_recovery) and app.flow_control.is_active()


class _Place:
    """What Faust reads of an event to place a table write: its topic and partition."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition)


@contextmanager
def writing_to(topic: str, partition: int) -> Iterator[None]:
    """Place table reads and writes on `partition` where no stream's event does: a
    timer's, a micro-batch's (the current event is its last, or none), and a read of
    another key's partition (the join reading a customer's history).

    Faust places a table write, in RocksDB and in the changelog, by the stream's current
    event, and refuses one without it; a RocksDB read with a current event looks only in
    that event's partition. This sets a stand-in for the reads and writes inside.
    """
    place = _Place(topic, partition)
    token = _current_event.set(weakref.ref(cast(EventT, place)))
    try:
        yield
    finally:
        _current_event.reset(token)
