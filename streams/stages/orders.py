"""Record orders: each order into its customer's history, once per order_id (keyed by
user_id), and the customer's new profile to customer.profiles
(streams/rules/customer_figures.py).

Orders are taken in micro-batches so that the profiles of a batch's customers are
computed in one vectorised pass: one customer at a time, numpy's per-call overhead made
a profile cost about 260 µs.

Anonymous orders (no user_id) leave no history and no profile. Every order with a
session_id is also passed on, keyed by session_id, to scoring.session-orders for
conversion tracking.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from faust.types import EventT

from model.customers import history
from schemas.codec import CodecError
from streams import channels, metrics
from streams.clock import to_ms
from streams.deadletters import decode_or_dead_letter, handle_or_dead_letter, send_dead_letter
from streams.rules.customer_figures import profile_records
from streams.runtime import current
from streams.tables import user_history, writing_to

log = logging.getLogger(__name__)


async def record_batch(events: list[EventT]) -> None:
    """Record a micro-batch of orders, then publish the profiles of their customers."""
    recorded: dict[str, tuple[dict[str, Any], int]] = {}  # user -> (history, as of)
    for event in events:  # each event's table writes go to its own partition
        with writing_to(event.message.topic, event.message.partition):
            await handle_or_dead_letter("record_orders", event, partial(_record, recorded))
    if recorded:
        _publish_profiles(recorded)


async def _record(recorded: dict[str, tuple[dict[str, Any], int]], event: EventT) -> None:
    metrics.EVENTS.labels(topic=channels.catalogue_name(event.message.topic)).inc()
    order = await decode_or_dead_letter(event, "OrderPlaced")
    if order is None:
        return
    if order["session_id"]:  # conversion tracking is keyed by session
        current().publisher.publish(
            channels.SESSION_ORDERS, order["session_id"].encode(), event.message.value or b""
        )
    user = order["user_id"]
    if not user:
        metrics.ORDERS.labels(result="anonymous").inc()
        return
    station = current().registry.get(order["station_id"])
    assert station is not None  # decode_or_dead_letter checked it
    order["placed_at_ms"] = to_ms(order["placed_at"])
    horizon_ms = current().settings.scorer_order_dedup_days * history.DAY_MS
    position = (event.message.partition, event.message.offset)
    updated, added = history.add_order(
        user_history.get(user),
        order,
        station["city"],
        station["station_type"],
        position,
        horizon_ms,
    )
    if added == "outside_horizon":
        why = (
            f"placed at {order['placed_at_ms']} ms, at or before the newest order whose id "
            "the user's history forgot (SCORER_ORDER_DEDUP_DAYS): it cannot be told from "
            "a repeat"
        )
        await send_dead_letter(event, "order_outside_dedup_horizon", why)
        return
    if added == "recorded":
        user_history[user] = updated
        recorded[user] = (updated, order["placed_at_ms"])
    metrics.ORDERS.labels(result="recorded" if added == "recorded" else "redelivered").inc()


def _publish_profiles(recorded: dict[str, tuple[dict[str, Any], int]]) -> None:
    """The new profile of each customer the batch recorded an order of, to
    customer.profiles (compacted, keyed by user_id): one vectorised pass for the batch."""
    rt = current()
    users = list(recorded)
    summaries = [history.summary(recorded[u][0]) for u in users]
    records = profile_records(
        users,
        summaries,  # type: ignore[arg-type]
        rt.customers,
        [recorded[u][1] for u in users],
        rt.outlook,
    )
    for user, record in zip(users, records, strict=True):
        try:
            value = rt.codec.encode_built("CustomerProfile", record)
        except (CodecError, ValueError, TypeError) as exc:  # a figure out of its range
            log.warning("a customer profile was not published: %s", exc)
            metrics.PROFILE_ERRORS.inc()
            continue
        rt.publisher.publish(channels.CUSTOMER_PROFILES, user.encode(), value)
        metrics.PROFILES.labels(segment=record["segment"]).inc()
