"""One valid example record per schema: for the demo's round trip, the docs and the tests."""

from __future__ import annotations

from typing import Any

STARTED_AT = 1_721_980_800_000  # 2024-07-26 16:00 in Wuhan (08:00 UTC)

FACE: dict[str, Any] = {
    "face_token": "4fd3a8f5c0e5e9e2b1a7",
    "face_probability": 0.998,
    "age": 41,
    "beauty": 62.5,
    "expression": {"type": "smile", "probability": 0.87},
    "emotion": {"type": "happy", "probability": 0.74},
    "gender": {"type": "male", "probability": 0.99},
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "SessionStarted": {
        "session_id": "sess-000001",
        "station_id": "st-wuhan-001",
        "started_at": STARTED_AT,
        "user_id": "u-000042",
        "face": None,
    },
    "FaceDetected": {
        "session_id": "sess-000001",
        "station_id": "st-wuhan-001",
        "detected_at": STARTED_AT + 800,
        "face": FACE,
        "matched_user_id": "u-000042",
        "match_score": 91.5,
    },
    "OrderPlaced": {
        "order_id": "ord-000001",
        "session_id": "sess-000001",
        "user_id": "u-000042",
        "station_id": "st-wuhan-001",
        "lottery_type": "TWO_COLOR_BALL",
        "amount": 1000,
        "placed_at": STARTED_AT + 95_000,
    },
    "Station": {"station_id": "st-wuhan-001", "city": "Wuhan", "station_type": "supermarket"},
    "Recommendation": {
        "session_id": "sess-000001",
        "station_id": "st-wuhan-001",
        "user_id": "u-000042",
        "is_new_user": False,
        "ranking": [
            {"lottery_type": "TWO_COLOR_BALL", "probability": 0.46},
            {"lottery_type": "WELFARE_3D", "probability": 0.21},
            {"lottery_type": "TEN_TIMES_GOOD_LUCK", "probability": 0.12},
            {"lottery_type": "OTHER", "probability": 0.05},
        ],
        "p_no_buy": 0.16,
        "top_pick": "TWO_COLOR_BALL",
        "model_version": "example",
        "imputed_face": False,
        "imputed_history": False,
        "event_time": STARTED_AT + 800,
        "scored_at": STARTED_AT + 812,
    },
    "Conversion": {
        "session_id": "sess-000001",
        "station_id": "st-wuhan-001",
        "user_id": "u-000042",
        "top_pick": "TWO_COLOR_BALL",
        "outcome": "CONVERTED_TOP_PICK",
        "purchased_type": "TWO_COLOR_BALL",
        "amount": 1000,
        "station_type": "supermarket",
        "city": "Wuhan",
        "model_version": "example",
        "recommended_at": STARTED_AT + 812,
        "decided_at": STARTED_AT + 95_010,
    },
    "DeadLetter": {
        "source_topic": "station.sessions",
        "partition": 3,
        "offset": 1207,
        "key": b"sess-000009",
        "value": b"\x00garbage",
        "error_class": "bad_magic",
        "error_message": "message starts with 0067, not c301",
        "failed_at": STARTED_AT,
    },
}
