"""track_conversions: did a recommended session end in an order? (keyed by session_id)

Reads the recommendations, the orders that carry a session_id (re-keyed by session_id
by record_orders into scoring.session-orders) and the join's clock ticks, all
co-partitioned. The first order within SCORER_CONVERSION_WINDOW_S decides the outcome;
without one the outcome is NO_PURCHASE at the window's end. Each outcome is published to
scoring.conversions and counted once: the `conversions` table remembers decided sessions.
"""

from __future__ import annotations

from typing import Any

from faust.types import EventT
from mode import CrashingSupervisor

from streams import channels, metrics
from streams.app import app
from streams.deadletters import handle_or_dead_letter
from streams.kafka.outputs import RecentKeys
from streams.rules import track_conversions as rules
from streams.rules.deadlines import DeadlineIndex, tick_partition
from streams.runtime import current, now_ms, to_ms
from streams.settings import settings
from streams.tables import conversion_state

deadlines = DeadlineIndex(conversion_state)
published = RecentKeys(channels.CONVERSIONS, settings().scorer_dedup_window_s * 1000)


@app.agent(supervisor_strategy=CrashingSupervisor, channel=channels.conversion_input)
async def track_conversions(stream: Any) -> None:
    route = channels.by_topic(_on_tick, {channels.RECOMMENDATIONS: _on_recommendation,
                                         channels.SESSION_ORDERS: _on_order})  # fmt: skip
    async for event in stream.events():
        await handle_or_dead_letter("track_conversions", event, route)


def _window_ms() -> int:
    return current().settings.scorer_conversion_window_s * 1000


async def _on_recommendation(event: EventT) -> None:
    record = current().codec.decode(event.message.value, expect="Recommendation")
    rec = {"session_id": record["session_id"], "station_id": record["station_id"],
           "user_id": record["user_id"], "top_pick": record["top_pick"],
           "model_version": record["model_version"],
           "recommended_at_ms": to_ms(record["scored_at"])}  # fmt: skip
    key = record["session_id"]
    entry, outcome = rules.on_recommendation(
        conversion_state.get(key), rec, event.message.partition, now_ms(), _window_ms()
    )
    await _apply(key, entry, outcome, event.message.partition)


async def _on_order(event: EventT) -> None:
    record = current().codec.decode(event.message.value, expect="OrderPlaced")
    key = record["session_id"]
    order = {"order_id": record["order_id"], "lottery_type": record["lottery_type"],
             "amount": record["amount"]}  # fmt: skip
    entry, outcome = rules.on_order(
        conversion_state.get(key), order, event.message.partition, now_ms(), _window_ms()
    )
    if entry is not None:
        await _apply(key, entry, outcome, event.message.partition)


async def _on_tick(event: EventT) -> None:
    partition = tick_partition(event)
    if partition is None:
        return
    now = now_ms()
    for key, entry in deadlines.due_entries(partition, now):
        kept, outcome = rules.on_tick(entry, now, _window_ms())
        await _apply(key, kept, outcome, partition)


async def _apply(
    key: str, entry: dict[str, Any] | None, outcome: str | None, partition: int
) -> None:
    """Publish and count a decided outcome unless it is out already, then store the entry.

    Publishing first means a crash in between repeats the decision on replay, and the
    output log (`published`, reloaded on assignment) then drops the repeat."""
    if outcome is not None and key not in published:
        assert entry is not None  # the rules decide only with an entry to keep
        _publish(entry["rec"], entry.get("order"), outcome)
        published.add(key, now_ms())
    if entry is None:
        if conversion_state.get(key) is not None:
            del conversion_state[key]
    else:
        conversion_state[key] = entry
    deadlines.keep(partition, key, entry)


def _publish(rec: dict[str, Any], order: dict[str, Any] | None, outcome: str) -> None:
    rt = current()
    station = rt.registry.get(rec["station_id"]) or {"city": "unknown", "station_type": "other"}
    record = {
        "session_id": rec["session_id"], "station_id": rec["station_id"],
        "user_id": rec["user_id"], "top_pick": rec["top_pick"], "outcome": outcome,
        "purchased_type": order["lottery_type"] if order else None,
        "amount": order["amount"] if order else None,
        "station_type": station["station_type"], "city": station["city"],
        "model_version": rec["model_version"], "recommended_at": rec["recommended_at_ms"],
        "decided_at": now_ms(),
    }  # fmt: skip
    rt.publisher.publish(
        channels.CONVERSIONS, rec["session_id"].encode(), rt.codec.encode("Conversion", record)
    )
    metrics.CONVERSIONS.labels(outcome=outcome.lower(), top_pick=rec["top_pick"],
                               station_type=station["station_type"],
                               city=station["city"]).inc()  # fmt: skip


async def _forget_index(app: Any, *args: Any, **kwargs: Any) -> None:
    deadlines.forget_all()


async def _reload_published(app: Any, *args: Any, **kwargs: Any) -> None:
    deadlines.forget_all()
    owned = [tp.partition for tp in app.assignor.assigned_actives()
             if tp.topic == channels.RECOMMENDATIONS]  # fmt: skip
    await published.reload(current().bootstrap, owned)


app.on_partitions_revoked.connect(_forget_index)  # type: ignore[arg-type]
app.on_partitions_assigned.connect(_reload_published)  # type: ignore[arg-type]
