"""The user history: counted once per order, with RFM as the seed model defines it."""

from __future__ import annotations

from typing import Any

import pytest

from model.customers import history

DAY = history.DAY_MS
T0 = 1_721_980_800_000  # 2024-07-26 16:00 in Hubei


def order(oid: str, at: int, kind: str = "TWO_COLOR_BALL", amount: int = 200) -> dict[str, Any]:
    return {"order_id": oid, "placed_at_ms": at, "lottery_type": kind, "amount": amount}


def test_orders_build_the_summary_and_rfm() -> None:
    h = None
    for o, city, st in [
        (order("o1", T0, "TEN_TIMES_GOOD_LUCK", 1000), "Wuhan", "supermarket"),
        (order("o2", T0 + 3_600_000, "TWO_COLOR_BALL", 400), "Wuhan", "supermarket"),
        (order("o3", T0 + 10 * DAY, "TEN_TIMES_GOOD_LUCK", 1000), "Enshi", "clubhouse"),
    ]:
        h, added = history.add_order(h, o, city, st)
        assert added == "recorded"
    s = history.summary(h)
    assert s is not None
    assert s["orders"] == 3 and s["total_purchase_days"] == 2  # two orders on one day
    assert s["frequent_type"] == "TEN_TIMES_GOOD_LUCK"
    assert s["home_city"] == "Wuhan" and s["usual_station_type"] == "supermarket"
    assert s["rfm"] == {"recency_days": 10.0, "frequency": 1, "monetary_fen": 1200.0}


def test_a_redelivered_order_counts_once() -> None:
    h, _ = history.add_order(None, order("o1", T0), "Wuhan", "supermarket")
    again, added = history.add_order(h, order("o1", T0), "Wuhan", "supermarket")
    assert added == "repeated" and again == h
    assert history.summary(again)["orders"] == 1  # type: ignore[index]


def test_days_follow_the_hubei_calendar() -> None:
    # 15:59 and 16:01 UTC are on both sides of midnight in Hubei (UTC+8).
    midnight_utc = (T0 // DAY) * DAY
    late, early = (
        midnight_utc + 15 * 3_600_000 + 59 * 60_000,
        midnight_utc + 16 * 3_600_000 + 60_000,
    )
    assert history.local_day(early) == history.local_day(late) + 1


def test_no_orders_means_no_summary_and_ties_break_alphabetically() -> None:
    assert history.summary(None) is None
    h, _ = history.add_order(None, order("o1", T0, "WELFARE_3D"), "Wuhan", "supermarket")
    h, _ = history.add_order(h, order("o2", T0 + DAY, "QILECAI"), "Enshi", "clubhouse")
    s = history.summary(h)
    assert s is not None and s["frequent_type"] == "QILECAI" and s["home_city"] == "Enshi"


def test_recent_orders_are_bounded_and_newest_last() -> None:
    h = None
    for i in range(history.RECENT_ORDERS + 5):
        h, _ = history.add_order(h, order(f"o{i}", T0 + i * DAY), "Wuhan", "supermarket")
    s = history.summary(h)
    assert s is not None and len(s["recent_orders"]) == history.RECENT_ORDERS
    assert s["recent_orders"][-1]["order_id"] == f"o{history.RECENT_ORDERS + 4}"
    assert s["orders"] == history.RECENT_ORDERS + 5
    assert pytest.approx(s["rfm"]["monetary_fen"]) == 200.0


def test_a_record_read_again_is_known_by_its_position() -> None:
    h, _ = history.add_order(None, order("o1", T0), "Wuhan", "supermarket", position=(3, 40))
    h, _ = history.add_order(h, order("o2", T0 + DAY), "Wuhan", "supermarket", position=(3, 41))
    for offset in (40, 41):  # the same records, with ids the history may have forgotten
        _, added = history.add_order(
            h, order(f"other-{offset}", T0), "Wuhan", "supermarket", position=(3, offset)
        )
        assert added == "repeated"
    _, added = history.add_order(
        h, order("o3", T0 + 2 * DAY), "Wuhan", "supermarket", position=(3, 42)
    )
    assert added == "recorded"


def _lifetime(n: int, step_ms: int) -> dict[str, Any]:
    h = None
    for i in range(n):
        h, added = history.add_order(h, order(f"o{i}", T0 + i * step_ms), "Wuhan", "supermarket")
        assert added == "recorded"
    assert h is not None
    return h


def test_the_ids_kept_are_bounded_and_an_order_below_them_is_refused_not_counted() -> None:
    h = _lifetime(history.REMEMBERED_ORDER_IDS + 1, 60_000)  # a minute apart: all in the horizon
    assert len(h["order_ids"]) == history.REMEMBERED_ORDER_IDS
    again, added = history.add_order(h, order("o0", T0), "Wuhan", "supermarket")
    assert added == "outside_horizon" and again == h
    _, added = history.add_order(h, order("o1", T0 + 60_000), "Wuhan", "supermarket")
    assert added == "repeated"  # the oldest id still kept
    assert history.summary(h)["orders"] == history.REMEMBERED_ORDER_IDS + 1  # type: ignore[index]


def test_a_years_long_history_stays_small_and_its_days_exact() -> None:
    h = _lifetime(2000, DAY // 2)  # two orders a day for 1,000 days
    horizon_days = history.DEDUP_HORIZON_MS // DAY
    assert len(h["order_ids"]) <= 2 * horizon_days + 2
    assert len(h["days"]) <= horizon_days + 2
    s = history.summary(h)
    assert s is not None
    days = {history.local_day(T0 + i * (DAY // 2)) for i in range(2000)}
    assert s["total_purchase_days"] == len(days) and s["orders"] == 2000
    late, added = history.add_order(
        h, order("late", T0 + 1999 * (DAY // 2) - DAY), "Wuhan", "supermarket"
    )
    assert added == "recorded"  # a day late is well inside the horizon
    assert history.summary(late)["total_purchase_days"] == len(days)  # type: ignore[index]
