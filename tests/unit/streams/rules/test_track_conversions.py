"""Conversion rules: the first order within the window decides, once."""

from __future__ import annotations

from model.mlp.features import purchase_class
from streams.rules import track_conversions as c

REC = {"session_id": "s1", "top_pick": "TWO_COLOR_BALL"}
W = 1_000


def order(kind: str) -> dict[str, object]:
    return {"order_id": "o1", "lottery_type": kind, "amount": 200}


def test_an_order_of_the_top_pick_converts_to_it() -> None:
    entry, outcome = c.on_recommendation(None, REC, 0, now_ms=0, window_ms=W)
    assert outcome is None
    decided, outcome = c.on_order(entry, order("TWO_COLOR_BALL"), 0, now_ms=10, window_ms=W)
    assert outcome == "CONVERTED_TOP_PICK" and decided is not None and decided["done"]
    again, outcome = c.on_order(decided, order("WELFARE_3D"), 0, now_ms=20, window_ms=W)
    assert again is None and outcome is None  # a second order does not count


def test_other_products_fall_in_other_and_other_types_convert_elsewhere() -> None:
    assert purchase_class("QILECAI") == "OTHER" and purchase_class("WELFARE_3D") == "WELFARE_3D"
    assert c.outcome_of("OTHER", order("SHILITAOHUA")) == "CONVERTED_TOP_PICK"
    assert c.outcome_of("TWO_COLOR_BALL", order("QILECAI")) == "CONVERTED_OTHER"


def test_an_order_before_its_recommendation_decides_on_arrival() -> None:
    waiting, outcome = c.on_order(None, order("WELFARE_3D"), 2, now_ms=0, window_ms=W)
    assert outcome is None and waiting is not None
    decided, outcome = c.on_recommendation(waiting, REC, 2, now_ms=5, window_ms=W)
    assert outcome == "CONVERTED_OTHER" and decided["done"]


def test_no_order_in_the_window_is_no_purchase_once_and_then_forgotten() -> None:
    entry, _ = c.on_recommendation(None, REC, 0, now_ms=0, window_ms=W)
    assert c.on_tick(entry, now_ms=W - 1, window_ms=W) == (entry, None)
    decided, outcome = c.on_tick(entry, now_ms=W, window_ms=W)
    assert outcome == "NO_PURCHASE" and decided is not None
    late, outcome = c.on_order(decided, order("TWO_COLOR_BALL"), 0, now_ms=W + 5, window_ms=W)
    assert late is None and outcome is None
    assert c.on_tick(decided, now_ms=2 * W + 1, window_ms=W) == (None, None)


def test_a_replayed_recommendation_changes_nothing() -> None:
    entry, _ = c.on_recommendation(None, REC, 0, now_ms=0, window_ms=W)
    again, outcome = c.on_recommendation(entry, REC, 0, now_ms=3, window_ms=W)
    assert again == entry and outcome is None


def _rec(session: str) -> dict[str, object]:
    return {**REC, "session_id": session}


def test_a_replay_of_the_topics_gives_what_the_live_rules_gave() -> None:
    """Read back in any order: each record applies at its own time, and a window that
    closed before the next record of its session is decided then."""
    written = [
        (30, 1, "order", "s2", order("WELFARE_3D")),  # s2: its order came first
        (0, 0, "rec", "s1", _rec("s1")),
        (10, 0, "order", "s1", order("TWO_COLOR_BALL")),  # s1 converts to the top pick
        (40, 1, "rec", "s2", _rec("s2")),  # s2 decided on arrival
        (50, 0, "rec", "s3", _rec("s3")),  # s3 waits
        (60, 0, "rec", "s4", _rec("s4")),
        (60 + W + 1, 0, "order", "s4", order("TWO_COLOR_BALL")),  # too late for s4
    ]
    entries, decided = c.replay(list(reversed(written)), W)
    assert decided == [
        ("s1", "CONVERTED_TOP_PICK"),
        ("s2", "CONVERTED_OTHER"),
        ("s4", "NO_PURCHASE"),
    ]
    assert entries["s3"]["done"] is False and entries["s3"]["deadline_ms"] == 50 + W
    assert entries["s4"]["done"] and entries["s4"]["order"] is None
    assert entries["s2"]["partition"] == 1 and entries["s2"]["done"]
