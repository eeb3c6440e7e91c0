"""Typed settings of the scorer, read once from the environment and checked at start-up."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from infra.kafka.settings import KafkaSettings, SettingsError, load_settings, read_secret

__all__ = ["Settings", "SettingsError", "retired", "settings"]

# Variables an earlier version read, with what took their place: one that is still set
# is said at start (unknown variables are otherwise ignored without a word).
RETIRED = {
    "SCORER_BATCH_WAIT_MS": "a micro-batch is what is queued when the agent takes it, up to "
    "SCORER_BATCH_MAX, with no wait to fill it (streams/batching.py)",
}


class Settings(KafkaSettings):
    """Every knob of the scorer worker: the Kafka ones (infra/kafka/settings.py) and its
    own, each read from the environment variable of the same name in upper case."""

    scorer_app_id: str = Field(
        default="station-scorer",
        min_length=1,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Faust app id: consumer group and table topics",
    )
    scorer_face_wait_ms: int = Field(
        default=1500, ge=0, le=600_000, description="how long a session waits for its face"
    )
    scorer_match_threshold: float = Field(
        default=80.0, ge=0, le=100, description="face-library match score that counts"
    )
    scorer_conversion_window_s: int = Field(
        default=1800, ge=1, description="how long an order can follow a session"
    )
    scorer_model_dir: Path = Field(
        default=Path("out/model"),
        description="model artifact served until scoring.models announces a live version",
    )
    scorer_model_store: Path = Field(
        default=Path("out/models"),
        description="model store: the versions scoring.models may announce, one folder each",
    )
    scorer_customer_model_dir: Path = Field(
        default=Path("out/customers"),
        description="folder of the customer model (`python -m model customers fit`)",
    )
    scorer_outlook_dir: Path = Field(
        default=Path("out/outlook"),
        description="folder of the outlook (`python -m model customers train-outlook`): "
        "next month's class and the loyalty score on each profile; none there, none shown",
    )
    scorer_web_host: str = Field(default="127.0.0.1", description="the web front's address")
    scorer_web_port: int = Field(
        default=8827, ge=0, le=65535, description="the web front's port (scoring, metrics)"
    )
    scorer_web_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="bearer token the views that show customers or score require; unset "
        "means open (a warning at start)",
    )
    scorer_web_token_file: Path | None = Field(
        default=None, description="file holding SCORER_WEB_TOKEN (wins over the variable)"
    )
    scorer_http_score_rate: float = Field(
        default=50.0,
        gt=0,
        le=100_000,
        description="POST /score requests a second the worker takes; more get 429",
    )
    scorer_http_score_burst: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="POST /score requests taken at once above the rate (and the most in flight)",
    )
    scorer_store: Literal["rocksdb", "memory"] = Field(
        default="rocksdb", description="Faust table store"
    )
    scorer_batch_max: int = Field(
        default=256, ge=1, le=65536, description="most sessions scored in one forward pass"
    )
    scorer_tick_ms: int = Field(
        default=25,
        ge=5,
        le=10_000,
        description="how often ended face waits and conversion windows are looked for "
        "(in the worker: no Kafka message)",
    )
    scorer_max_message_bytes: int = Field(
        default=65_536, ge=1024, le=1_000_000, description="longest input message decoded"
    )
    scorer_max_string: int = Field(
        default=256, ge=16, le=65_536, description="longest string field of an input event"
    )
    scorer_max_event_age_days: int = Field(
        default=730, ge=1, le=36_500, description="oldest event time accepted, days before now"
    )
    scorer_max_event_ahead_s: int = Field(
        default=300, ge=0, le=86_400, description="latest event time accepted, seconds after now"
    )
    scorer_order_dedup_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="how long before a user's latest order its ids are kept",
    )
    scorer_dedup_window_s: int = Field(
        default=600,
        ge=60,
        le=86_400,
        description="how long a published recommendation or conversion is remembered so "
        "that a redelivered input does not publish it again",
    )
    scorer_drift_window_s: int = Field(
        default=900,
        ge=60,
        le=86_400,
        description="the window of served sessions whose inputs' PSI is exported",
    )
    scorer_drift_min_sessions: int = Field(
        default=1000,
        ge=1,
        le=10_000_000,
        description="fewest sessions in the window for a PSI to be exported",
    )
    scorer_feature_log_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="share of scored sessions whose served inputs go to scoring.features "
        "(a stable hash of session_id picks them)",
    )
    scorer_session_timeout_s: float = Field(
        default=10.0,
        ge=6,
        le=300,
        description="how long the consumer group waits for a worker that stopped "
        "heartbeating before its partitions move to the others: the sessions a crashed "
        "worker held wait this long for their recommendation",
    )
    scorer_data_dir: Path = Field(
        default=Path(".cache/worker"), description="where the worker keeps its table state"
    )

    @field_validator("scorer_web_token", "scorer_web_token_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # compose passes an unset variable as ""

    def web_token(self) -> str | None:
        """The bearer token the web views require, from the file when one is named."""
        if self.scorer_web_token_file is None:
            return self.scorer_web_token.get_secret_value() if self.scorer_web_token else None
        token = read_secret(self.scorer_web_token_file, "SCORER_WEB_TOKEN_FILE")
        if len(token) < 16:
            raise SettingsError(
                f"SCORER_WEB_TOKEN_FILE={str(self.scorer_web_token_file)!r}: "
                "the token must be at least 16 characters"
            )
        return token

    def web_socket(self) -> Path:
        """The Unix socket the worker's own web server listens on, behind the web front
        (streams/web/front.py): one per data dir, in a folder only this user may enter,
        and short, as a socket's path must be under 108 bytes."""
        tag = hashlib.sha256(str(self.scorer_data_dir.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"station-scorer-{os.getuid()}" / f"{tag}.sock"


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings."""
    return load_settings(Settings)


def retired(environ: Mapping[str, str]) -> list[str]:
    """What to say of each variable set in `environ` that is no longer read."""
    return [
        f"{name} is no longer read: {instead}"
        for name, instead in RETIRED.items()
        if name in environ
    ]
