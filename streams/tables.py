"""The scorer's Faust tables. Each is read and written only by the agent whose stream is
partitioned like it (DESIGN section 4). What was published needs no table: the output
topics record it (streams/kafka/outputs.py).

Keys are raw UTF-8 bytes, exactly as on the topics: Faust would otherwise serialise them
as JSON strings, and then route a key (GET /users/{id}) to the worker of another partition.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from faust.streams import _current_event
from faust.types import EventT

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
# track_conversions (keyed by session_id): recommendations waiting for an order, orders
# waiting for their recommendation, and decided sessions (kept one more window).
conversion_state = app.Table(
    "conversion-state", default=None, key_type=bytes, help="conversion tracking per session"
)


@contextmanager
def writing_for(event: EventT) -> Iterator[None]:
    """Let a table write inside a `take` batch go to the partition of `event`.

    Faust places a table write by the stream's current event, which inside a batch is
    not the event being handled (faust-streaming issue #497); this sets it for the write.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
