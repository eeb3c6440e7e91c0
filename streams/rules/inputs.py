"""Checks on input events that their schema cannot express, pure."""

from __future__ import annotations

from typing import Any

from streams.clock import to_ms
from streams.settings import Settings

#: The event time of each input record type, checked against the plausible window.
EVENT_TIME_FIELDS = {
    "SessionStarted": "started_at",
    "FaceDetected": "detected_at",
    "OrderPlaced": "placed_at",
}


def implausible_time(record: dict[str, Any], schema: str, conf: Settings, now: int) -> str | None:
    """Why the record's event time is outside the plausible window, or None when it is in.

    A time decades off would stay in a user's history for good (recency in the millions
    of days), and no station's clock is that wrong by accident.
    """
    field = EVENT_TIME_FIELDS.get(schema)
    if field is None:
        return None
    at = to_ms(record[field])
    earliest = now - conf.scorer_max_event_age_days * 86_400_000
    latest = now + conf.scorer_max_event_ahead_s * 1000
    if earliest <= at <= latest:
        return None
    return (
        f"{field}={at} ms is outside the plausible window: at most "
        f"{conf.scorer_max_event_age_days} days before and {conf.scorer_max_event_ahead_s} s "
        "after now (SCORER_MAX_EVENT_AGE_DAYS, SCORER_MAX_EVENT_AHEAD_S)"
    )
