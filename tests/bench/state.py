"""What the scorer's state costs, in bytes: per recommended session in memory, per
session waiting for its face, per customer on disk. Measured with tracemalloc on the
structures the agents keep, filled the way they fill them (each key its own string, as
each agent decodes its own copy from its own topic)."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from model.customers import history
from schemas.examples import FACE
from streams.kafka.outputs import RecentKeys
from streams.rules import join_faces as joins
from streams.rules import track_conversions as conversions
from streams.rules.deadlines import DeadlineIndex

N = 20_000
WINDOW_MS = 1_800_000


def _bytes_each(fill: Callable[[int], Any], n: int = N) -> float:
    """Bytes allocated per item by `fill(n)`, and still held by what it returns."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = fill(n)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / n


def _sid(i: int) -> str:
    return f"bench0101120000-d-{i:09d}"  # the shape of a generated session id


def _dedup(n: int) -> RecentKeys:
    keys = RecentKeys("scoring.recommendations", 600_000)
    now = int(time.time() * 1000)
    for i in range(n):
        keys.add(_sid(i), now + i)
    return keys


def _conversion_waiting(n: int) -> tuple[dict[str, Any], DeadlineIndex]:
    state: dict[str, Any] = {}
    index = DeadlineIndex(state)
    now = int(time.time() * 1000)
    for i in range(n):
        sid = _sid(i)
        rec = {
            "session_id": sid,
            "station_id": f"st-{i % 200:04d}",
            "user_id": f"u-{i:07d}",
            "top_pick": "TWO_COLOR_BALL",
            "model_version": "mlp-20261201-abcdef12",
            "recommended_at_ms": now,
        }
        entry, _ = conversions.on_recommendation(None, rec, i % 6, now, WINDOW_MS)
        state[sid] = entry
        index.keep(i % 6, sid, entry)
    return state, index


def _history_json_bytes(orders: int) -> int:
    h = None
    day = 86_400_000
    start = int(time.time() * 1000) - orders * day
    for i in range(orders):
        order = {
            "order_id": f"o-{i:08d}",
            "lottery_type": "TWO_COLOR_BALL",
            "amount": 1000,
            "placed_at_ms": start + i * day,
        }
        h, _ = history.add_order(h, order, "Wuhan", "supermarket", (0, i))
    return len(json.dumps(h, separators=(",", ":")).encode())


def _pending_json_bytes() -> dict[str, int]:
    """A session waiting for its face, and a face waiting for its session, as the
    pending-sessions table (RocksDB) and its changelog hold them (Faust's JSON)."""
    now = int(time.time() * 1000)
    session = {
        "session_id": _sid(0),
        "station_id": "st-0001",
        "started_at_ms": now,
        "user_id": "u-0000001",
        "face": None,
    }
    match = {"matched_user_id": "u-0000001", "match_score": 91.5}
    waits = {
        "session": joins.on_session(None, session, 0, now, now, 1500),  # type: ignore[arg-type]
        "face": joins.on_face(None, FACE, match, 0, now, now, 1500),  # type: ignore[arg-type]
    }
    return {
        k: len(json.dumps(step.entry, separators=(",", ":")).encode()) for k, step in waits.items()
    }


def run() -> dict[str, Any]:
    dedup = _bytes_each(_dedup)
    waiting = _bytes_each(_conversion_waiting)
    histories = {str(k): _history_json_bytes(k) for k in (1, 10, 100)}
    return {
        "memory_bytes_per_recommended_session": {
            # the join's and the scorer's keys, SCORER_DEDUP_WINDOW_S each
            "dedup_keys_join_and_scorer": 2 * dedup,
            # the recommendation waiting for its order, and its deadline: the window
            "conversion_waiting": waiting,
            # the decided outcome's key: the window and the dedup window
            "conversion_published_key": dedup,
        },
        # the pending-sessions table's value while a session or a face waits (face wait)
        "disk_bytes_per_waiting_join_json": _pending_json_bytes(),
        # the user-history table's value (RocksDB and its changelog), by orders placed
        "disk_bytes_per_customer_history_json": histories,
    }
