"""The plausible window of event times."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.rules.inputs import implausible_time
from streams.settings import Settings

NOW = 1_764_576_000_000  # 2025-12-01 08:00 UTC
CONF = Settings(scorer_max_event_age_days=730, scorer_max_event_ahead_s=300)


def order(at: datetime | int) -> dict[str, object]:
    return {"placed_at": at}


def test_times_inside_the_window_pass() -> None:
    for at in (NOW, NOW - 729 * 86_400_000, NOW + 299_000):
        assert implausible_time(order(at), "OrderPlaced", CONF, NOW) is None


def test_times_outside_the_window_are_refused_with_the_settings_named() -> None:
    for at in (
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
        NOW - 731 * 86_400_000,
        NOW + 301_000,
    ):
        why = implausible_time(order(at), "OrderPlaced", CONF, NOW)
        assert why is not None and "placed_at=" in why and "SCORER_MAX_EVENT_AGE_DAYS" in why


def test_each_input_type_is_judged_by_its_own_time_field() -> None:
    old = NOW - 800 * 86_400_000
    assert implausible_time({"started_at": old}, "SessionStarted", CONF, NOW) is not None
    assert implausible_time({"detected_at": old}, "FaceDetected", CONF, NOW) is not None
    assert implausible_time({"failed_at": old}, "DeadLetter", CONF, NOW) is None
