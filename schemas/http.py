"""The bodies of the worker's HTTP API, as pydantic models: the contract of `POST /score`
and `GET /users/{user_id}` for clients in any language.

`python -m schemas.http` writes their JSON Schema into schemas/http/ (the files a client
builds from); tests/unit/schemas/test_http.py checks that the files match these models,
and the integration tests read the worker's real answers back through them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HERE = Path(__file__).resolve().parent / "http"
LotteryType = Literal[
    "TWO_COLOR_BALL", "TEN_TIMES_GOOD_LUCK", "WELFARE_3D", "QILECAI", "SHILITAOHUA", "OTHER"
]
RecommendedType = Literal["TWO_COLOR_BALL", "TEN_TIMES_GOOD_LUCK", "WELFARE_3D", "OTHER"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreRequest(_Body):
    """POST /score: one session to score. `face` is a FaceAttributes record of
    face_detected.v1.avsc, with the same fields and ranges."""

    station_id: str = Field(description="a station of station.registry")
    started_at: int | None = Field(None, description="epoch ms; omitted means now")
    user_id: str | None = Field(None, description="the customer's id at the counter, if any")
    face: dict[str, Any] | None = Field(None, description="FaceAttributes, or null")
    session_id: str | None = Field(None, description="echoed nowhere; for the caller's logs")


class Ranked(_Body):
    lottery_type: RecommendedType
    probability: float = Field(ge=0, le=1)


class Attribution(_Body):
    input: str = Field(description="one of the 31 encoded inputs (model/mlp/features.py)")
    value: float = Field(description="the input as the network was given it")
    attribution: float = Field(description="how much of the top pick's probability it moved")


class Explanation(_Body):
    """Integrated gradients of the top pick's probability against the average training
    session (model/mlp/explain.py): the attributions add up to probability -
    baseline_probability, but for `gap`."""

    top_pick: RecommendedType
    probability: float = Field(ge=0, le=1)
    baseline_probability: float = Field(ge=0, le=1, description="the average session's")
    gap: float = Field(description="what the path's discretisation leaves unattributed")
    inputs: list[Attribution] = Field(description="the inputs that moved it most, largest first")
    features: dict[str, float] = Field(description="the push of each of the 10 features")


class ScoreResponse(_Body):
    """200 answer of POST /score: the same numbers a Recommendation on Kafka carries."""

    ranking: list[Ranked] = Field(description="the buy classes, most likely first")
    p_no_buy: float = Field(ge=0, le=1)
    top_pick: RecommendedType
    predicted_class: Literal[
        "NO_BUY", "TWO_COLOR_BALL", "TEN_TIMES_GOOD_LUCK", "WELFARE_3D", "OTHER"
    ] = Field(description="argmax of all five")
    imputed_face: bool
    imputed_history: bool
    user_id: str | None = Field(description="as given; a new customer's id is kept")
    is_new_user: bool = Field(description="true when no purchase history is known")
    model_version: str
    explanation: Explanation | None = Field(None, description="with ?explain=true only")


class Rfm(_Body):
    recency_days: float = Field(description="days between the first and the last purchase")
    frequency: int = Field(description="repeat purchase days (distinct days - 1)")
    monetary_fen: float = Field(description="mean spend per purchase day, in fen")


class RecentOrder(_Body):
    order_id: str
    lottery_type: LotteryType
    amount: int = Field(description="fen")
    placed_at_ms: int


class History(_Body):
    total_purchase_days: int
    frequent_type: LotteryType
    home_city: str
    usual_station_type: str
    orders: int
    spend_fen: int
    first_purchase_ms: int
    last_purchase_ms: int
    rfm: Rfm
    by_type: dict[str, int]
    by_station_type: dict[str, int]
    by_city: dict[str, int]
    recent_orders: list[RecentOrder] = Field(description="at most 10, oldest first")
    months: list[tuple[int, int, int]] = Field(
        description="[month number, purchase days, spend in fen] of the newest 18 calendar "
        "months with a purchase (Hubei time, UTC+8; month number = 12 * year + month - 1), "
        "oldest first: what the outlook reads"
    )
    cells: dict[str, int] = Field(
        description="orders by purchase cell (lottery type x station type x hour band), "
        "keyed by the cell's index in model/outlook/journeys.py CELLS"
    )


class UserResponse(_Body):
    """200 answer of GET /users/{user_id} (404 with an ErrorResponse: no orders known)."""

    user_id: str
    history: History


class ErrorResponse(_Body):
    """Any 4xx or 5xx answer: what was wrong, for a person."""

    error: str


MODELS: tuple[type[BaseModel], ...] = (ScoreRequest, ScoreResponse, UserResponse, ErrorResponse)


def schema_files() -> dict[Path, str]:
    """Each model's JSON Schema document, by the file it is kept in."""
    return {
        HERE / f"{m.__name__}.schema.json": json.dumps(m.model_json_schema(), indent=2) + "\n"
        for m in MODELS
    }


if __name__ == "__main__":
    for path, text in schema_files().items():
        path.write_text(text)
        print(f"wrote {path}")
    sys.exit(0)
