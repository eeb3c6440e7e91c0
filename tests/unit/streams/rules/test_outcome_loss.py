"""Log loss against outcomes: the probabilities a recommendation carries, the class a
decided session fell in, and the shadow results waiting for it."""

from __future__ import annotations

import math

import pytest

from streams.rules import outcome_loss as loss

REC = {
    "p_no_buy": 0.5,
    "ranking": [
        {"lottery_type": "TEN_TIMES_GOOD_LUCK", "probability": 0.25},
        {"lottery_type": "TWO_COLOR_BALL", "probability": 0.125},
        {"lottery_type": "OTHER", "probability": 0.0625},
        {"lottery_type": "WELFARE_3D", "probability": 0.0625},
    ],
}


def test_the_loss_is_of_the_probability_given_to_what_happened() -> None:
    packed = loss.probabilities(REC)
    no_buy = loss.outcome_label("NO_PURCHASE", None)
    assert loss.log_loss(packed, no_buy) == pytest.approx(math.log(2))
    bought = loss.outcome_label("CONVERTED_OTHER", "TEN_TIMES_GOOD_LUCK")
    assert loss.log_loss(packed, bought) == pytest.approx(math.log(4))
    other = loss.outcome_label("CONVERTED_TOP_PICK", "SHILITAOHUA")  # counts as Other
    assert loss.log_loss(packed, other) == pytest.approx(math.log(16))


def test_a_certain_miss_costs_a_bounded_loss() -> None:
    sure = {
        "p_no_buy": 1.0,
        "ranking": [
            {"lottery_type": t, "probability": 0.0}
            for t in ("TWO_COLOR_BALL", "TEN_TIMES_GOOD_LUCK", "WELFARE_3D", "OTHER")
        ],
    }
    bought = loss.outcome_label("CONVERTED_OTHER", "WELFARE_3D")
    assert loss.log_loss(loss.probabilities(sure), bought) == pytest.approx(-math.log(1e-15))


def test_the_served_loss_of_a_decided_entry_uses_its_first_order() -> None:
    entry = {"rec": {"p": loss.probabilities(REC)}, "order": {"lottery_type": "TWO_COLOR_BALL"}}
    label, served = loss.served_loss(entry, "CONVERTED_OTHER")
    assert label == 1 and served == pytest.approx(math.log(8))


def test_shadow_results_wait_until_taken_or_too_old() -> None:
    held = loss.Shadows(keep_ms=1_000)
    held.hold("s1", b"a", 0)
    held.hold("s2", b"b", 600)
    assert held.take("s1") == b"a" and held.take("s1") is None
    held.expire(1_500)  # s2 is 900 ms old: kept
    assert len(held) == 1
    held.expire(1_600)
    assert len(held) == 0 and held.take("s2") is None
