"""record_orders: each order into its user's history, once per order_id (keyed by user_id).

Anonymous orders (no user_id) leave no history. Every order with a session_id is also
passed on, keyed by session_id, to scoring.session-orders for conversion tracking.
"""

from __future__ import annotations

from typing import Any

from faust.types import EventT
from mode import CrashingSupervisor

from model.customers import history
from streams import channels, metrics
from streams.app import app
from streams.deadletters import decode_or_dead_letter, handle_or_dead_letter, send_dead_letter
from streams.runtime import current, to_ms
from streams.tables import user_history


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.orders)
async def record_orders(stream: Any) -> None:
    async for event in stream.events():
        await handle_or_dead_letter("record_orders", event, _record)


async def _record(event: EventT) -> None:
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
    updated, added = history.add_order(user_history.get(user), order, station["city"],
                                       station["station_type"], position, horizon_ms)  # fmt: skip
    if added == "outside_horizon":
        why = (f"placed at {order['placed_at_ms']} ms, at or before the newest order whose id "
               "the user's history forgot (SCORER_ORDER_DEDUP_DAYS): it cannot be told from "
               "a repeat")  # fmt: skip
        await send_dead_letter(event, "order_outside_dedup_horizon", why)
        return
    if added == "recorded":
        user_history[user] = updated
    metrics.ORDERS.labels(result="recorded" if added == "recorded" else "redelivered").inc()
