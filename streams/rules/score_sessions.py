"""From a joined session to a Recommendation: shared by the stream and the HTTP view.

Both build the model's session frame with `session_row` and score it with the
`Predictor` of model/, so a recommendation on Kafka and an answer over HTTP for the
same inputs are the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.mlp.features import N_FEATURES, columns_from_records, local_hour
from model.mlp.predictor import Predictor
from streams.records import Recommendation, ScoringRequest
from streams.serving import Serving, in_share

CANARY_SALT, SHADOW_SALT, FEATURES_SALT = b"canary:", b"shadow:", b"features:"


def session_row(
    started_at_ms: int,
    face: dict[str, Any] | None,
    station: dict[str, str],
    history: dict[str, Any] | None,
) -> dict[str, Any]:
    """The raw inputs of the 18 features (model.mlp.features.RAW_COLUMNS) for one session.

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
        row.update(
            city=history["home_city"],
            station_type=history["usual_station_type"],
            total_purchase_days=history["total_purchase_days"],
            frequent_type=history["frequent_type"],
        )
    return row


def score_rows(predictor: Predictor, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One forward pass over many sessions; each result as Scores.ranked gives it."""
    return _scored(predictor, rows)[0]


def _scored(
    predictor: Predictor, rows: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], np.ndarray]:
    scores = predictor.score_columns(columns_from_records(rows))
    return scores.ranked(), scores.inputs


@dataclass
class Scored:
    """A batch scored by the models serving it: each row's result and the version that
    gave it, and the shadow's results for the rows it scored, by row."""

    results: list[dict[str, Any]]
    versions: list[str]
    inputs: np.ndarray  # (n, 31): the encoded inputs each row was served with
    shadow: dict[int, dict[str, Any]] = field(default_factory=dict)


def score_served(
    serving: Serving, rows: Sequence[dict[str, Any]], session_ids: Sequence[str]
) -> Scored:
    """One forward pass per model in use: the canary's share of sessions (a stable hash of
    session_id) by the canary, the rest by the live model, the shadow's share by it too."""
    live, canary, shadow = serving.live, serving.canary, serving.shadow
    if canary is None:
        results, x = _scored(live, rows)
        scored = Scored(results, [live.version] * len(rows), x)
    else:
        picked = [in_share(sid, canary.share, CANARY_SALT) for sid in session_ids]
        results = [{}] * len(rows)
        versions = [live.version] * len(rows)
        inputs = np.empty((len(rows), N_FEATURES), np.float32)
        for predictor, mine in ((live, False), (canary.predictor, True)):
            index = [i for i, p in enumerate(picked) if p == mine]
            if not index:
                continue
            part, x = _scored(predictor, [rows[i] for i in index])
            inputs[index] = x
            for i, result in zip(index, part, strict=True):
                results[i], versions[i] = result, predictor.version
        scored = Scored(results, versions, inputs)
    if shadow is not None:
        index = [
            i
            for i, sid in enumerate(session_ids)
            if shadow.share >= 1.0 or in_share(sid, shadow.share, SHADOW_SALT)
        ]
        if index:
            shadowed = score_rows(shadow.predictor, [rows[i] for i in index])
            scored.shadow = dict(zip(index, shadowed, strict=True))
    return scored


def recommendation(
    request: ScoringRequest,
    ranked: dict[str, Any],
    model_version: str,
    scored_at_ms: int,
    value: tuple[str | None, float | None] = (None, None),
) -> Recommendation:
    """The Recommendation record (schemas/recommendation.v2.avsc) of one scored session;
    `value` is the customer's segment and CLV (streams/rules/customer_figures.py)."""
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


def served_features(
    request: ScoringRequest,
    row: dict[str, Any],
    inputs: np.ndarray,
    model_version: str,
    scored_at_ms: int,
) -> dict[str, Any]:
    """The feature log's record (schemas/served_features.v1.avsc) of one scored session:
    its raw inputs (`session_row`) and the encoded inputs the network read."""
    return {
        "session_id": request.session_id,
        "station_id": request.station_id,
        "model_version": model_version,
        "started_at": request.started_at_ms,
        "scored_at": scored_at_ms,
        "raw": row,
        "inputs": inputs.tolist(),
    }
