"""Typed settings of everything that talks to Kafka, read from the environment once.

`KafkaSettings` holds the knobs the broker launcher, topic creation and the upstream
tools share; the worker's `streams.settings.Settings` extends it with its own. Each field
is read from the environment variable of the same name in upper case (SCORER_PARTITIONS);
KAFKA_* have no prefix so that they can point every tool of the project elsewhere.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import ScorerError

ROOT = Path(__file__).resolve().parents[2]


class SettingsError(ScorerError):
    """A setting has a bad value; the message names the variable."""

    reason = "bad_setting"


class KafkaSettings(BaseSettings):
    """The cluster, the local broker and the topics."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka cluster to use; unset means the project's local broker"
    )
    kafka_version: str = Field(
        default="3.9.1", pattern=r"^[34]\.[0-9]+\.[0-9]+$",
        description="release of the local broker (3.x or 4.x)",
    )  # fmt: skip
    kafka_heap: str = Field(
        default="512m", pattern=r"^[0-9]+[kmgKMG]?$", description="Java heap of the local broker"
    )
    scorer_cache_dir: Path = Field(
        default=ROOT / ".cache", description="Kafka jars, the Maven repository, broker state"
    )
    scorer_broker_dir: Path | None = Field(
        default=None, description="local broker state; unset means SCORER_CACHE_DIR/broker"
    )
    scorer_topic_prefix: str = Field(
        default="", pattern=r"^[A-Za-z0-9._-]*$",
        description="prefix of every topic name (for test isolation)",
    )  # fmt: skip
    scorer_partitions: int = Field(
        default=6, ge=1, le=1024, description="partitions of every co-partitioned topic"
    )
    scorer_replication_factor: int = Field(
        default=1, ge=1, le=16, description="replication factor of created topics"
    )

    @property
    def broker_dir(self) -> Path:
        return self.scorer_broker_dir or self.scorer_cache_dir / "broker"


S = TypeVar("S", bound=BaseSettings)
#: A setting whose name has one of these holds a secret: its value is never printed.
SECRET_WORDS = ("token", "password", "secret")


def load_settings(kind: type[S]) -> S:
    """Read settings of `kind`, turning a validation error into one naming the variable."""
    try:
        return kind()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}={_shown(err)}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"bad setting: {problems}") from exc


def _shown(err: Any) -> str:
    """The bad value as the message shows it: never a secret's."""
    secret = any(word in str(part) for part in err["loc"] for word in SECRET_WORDS)
    return "(hidden)" if secret else repr(err.get("input"))


@lru_cache(maxsize=1)
def kafka_settings() -> KafkaSettings:
    """The process-wide Kafka settings."""
    return load_settings(KafkaSettings)
