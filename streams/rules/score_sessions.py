"""From a joined session to a Recommendation: shared by the stream and the HTTP view.

Both build the model's session frame with `session_row` and score it with the
`Predictor` of model/, so a recommendation on Kafka and an answer over HTTP for the
same inputs are the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from model.features import columns_from_records, local_hour
from model.predictor import Predictor
from streams.records import Recommendation, ScoringRequest


def session_row(
    started_at_ms: int,
    face: dict[str, Any] | None,
    station: dict[str, str],
    history: dict[str, Any] | None,
) -> dict[str, Any]:
    """The raw inputs of the 18 features (model.features.RAW_COLUMNS) for one session.

    `history` is history.summary() of the customer, None for a new one; a new customer's
    city and station type are those of the station.
    """
    row: dict[str, Any] = {
        "beauty": None if face is None else face["beauty"],
        "expression": None if face is None else face["expression"]["type"],
        "emotion": None if face is None else face["emotion"]["type"],
        "hour": int(local_hour(started_at_ms)),
        "is_new_user": history is None,
        "city": station["city"],
        "station_type": station["station_type"],
        "total_purchase_days": None,
        "frequent_type": None,
    }
    if history is not None:
        row.update(city=history["home_city"], station_type=history["usual_station_type"],
                   total_purchase_days=history["total_purchase_days"],
                   frequent_type=history["frequent_type"])  # fmt: skip
    return row


def score_rows(predictor: Predictor, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One forward pass over many sessions; each result as Scores.ranked gives it."""
    scores = predictor.score_columns(columns_from_records(rows))
    return [scores.ranked(i) for i in range(len(rows))]


def recommendation(
    request: ScoringRequest,
    ranked: dict[str, Any],
    model_version: str,
    scored_at_ms: int,
    value: tuple[str | None, float | None] = (None, None),
) -> Recommendation:
    """The Recommendation record (schemas/recommendation.v2.avsc) of one scored session;
    `value` is the customer's segment and CLV (streams/rules/profile_customers.py)."""
    return {
        "session_id": request.session_id,
        "station_id": request.station_id,
        "user_id": request.user_id,
        "is_new_user": ranked["imputed_history"],
        "ranking": ranked["ranking"],
        "p_no_buy": ranked["p_no_buy"],
        "top_pick": ranked["top_pick"],
        "model_version": model_version,
        "imputed_face": ranked["imputed_face"],
        "imputed_history": ranked["imputed_history"],
        "event_time": request.event_time_ms,
        "scored_at": scored_at_ms,
        "segment": value[0],
        "clv_fen": value[1],
    }
