"""From a joined session to the Recommendation record: the inputs the features get, and a
record the codec accepts."""

from __future__ import annotations

from model.customers import history
from schemas.codec import Codec
from schemas.examples import FACE, STARTED_AT
from streams.records import ScoringRequest
from streams.rules.score_sessions import recommendation, session_row

STATION = {"city": "Enshi", "station_type": "chess_room"}


def test_a_new_customer_takes_the_station_s_city_and_type_and_no_history() -> None:
    row = session_row(STARTED_AT, FACE, STATION, None)
    assert row["is_new_user"] and row["city"] == "Enshi" and row["station_type"] == "chess_room"
    assert row["total_purchase_days"] is None and row["frequent_type"] is None
    assert (row["beauty"], row["expression"], row["emotion"]) == (62.5, "smile", "happy")
    assert row["hour"] == 16  # 08:00 UTC is 16:00 in Hubei


def test_a_known_customer_brings_home_city_usual_station_type_and_history() -> None:
    order = {"order_id": "o1", "placed_at_ms": STARTED_AT, "lottery_type": "QILECAI", "amount": 200}
    h, _ = history.add_order(None, order, "Wuhan", "supermarket")
    row = session_row(STARTED_AT, None, STATION, history.summary(h))
    assert not row["is_new_user"] and row["city"] == "Wuhan"
    assert row["station_type"] == "supermarket" and row["frequent_type"] == "QILECAI"
    assert row["total_purchase_days"] == 1 and row["beauty"] is None


def test_the_recommendation_is_a_valid_record_of_its_schema() -> None:
    request = ScoringRequest("s-1", "st-1", STARTED_AT, None, None, "timed_out", STARTED_AT + 1500)
    ranked = {
        "ranking": [{"lottery_type": "OTHER", "probability": 0.3}],
        "p_no_buy": 0.7,
        "top_pick": "OTHER",
        "imputed_face": True,
        "imputed_history": True,
    }
    record = recommendation(request, ranked, "mlp-1", STARTED_AT + 1510)
    codec = Codec()
    back = codec.decode(codec.encode("Recommendation", record), expect="Recommendation")
    assert back["is_new_user"] and back["user_id"] is None and back["model_version"] == "mlp-1"
    assert back["event_time"].timestamp() * 1000 == STARTED_AT + 1500
