"""The HTTP API's JSON Schema files are what the models say, and the models refuse what
the contract does not allow."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from schemas.codec import SchemaSet
from schemas.http import LotteryType, RecommendedType, ScoreRequest, ScoreResponse, schema_files


def test_the_kept_schema_files_match_the_models() -> None:
    for path, text in schema_files().items():
        assert path.exists(), f"{path.name} is missing: run `python -m schemas.http`"
        assert path.read_text() == text, f"{path.name} is stale: run `python -m schemas.http`"


def test_the_models_refuse_unknown_fields_and_bad_values() -> None:
    ScoreRequest.model_validate({"station_id": "st-1"})
    with pytest.raises(ValidationError, match="colour"):
        ScoreRequest.model_validate({"station_id": "st-1", "colour": "red"})
    answer = {
        "ranking": [{"lottery_type": "OTHER", "probability": 1.5}],
        "p_no_buy": 0.1,
        "top_pick": "OTHER",
        "predicted_class": "OTHER",
        "imputed_face": False,
        "imputed_history": True,
        "user_id": None,
        "is_new_user": True,
        "model_version": "m",
    }
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        ScoreResponse.model_validate(answer)


def _enum_symbols(schema: Any, name: str) -> list[str]:
    """The symbols of the enum `name` anywhere inside an Avro schema."""
    if isinstance(schema, dict):
        if schema.get("type") == "enum" and schema.get("name") == name:
            return list(schema["symbols"])
        schema = list(schema.values())
    if isinstance(schema, list):
        for item in schema:
            if found := _enum_symbols(item, name):
                return found
    return []


def test_the_http_enums_are_the_avro_enums() -> None:
    """schemas/http.py spells the lottery types out for its JSON Schema: they must stay
    those of the Avro schemas."""
    schemas = SchemaSet()
    order = schemas.current("OrderPlaced").raw
    rec = schemas.current("Recommendation").raw
    assert list(get_args(LotteryType)) == _enum_symbols(order, "LotteryType")
    assert list(get_args(RecommendedType)) == _enum_symbols(rec, "RecommendedType")
