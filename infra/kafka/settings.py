"""Typed settings of everything that talks to Kafka, read from the environment once.

`KafkaSettings` holds the knobs the broker launcher, topic creation and the upstream
tools share; the worker's `streams.settings.Settings` extends it with its own. Each field
is read from the environment variable of the same name in upper case (SCORER_PARTITIONS);
KAFKA_* have no prefix so that they can point every tool of the project elsewhere.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

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
        default="3.9.1",
        pattern=r"^[34]\.[0-9]+\.[0-9]+$",
        description="release of the local broker (3.x or 4.x)",
    )
    kafka_heap: str = Field(
        default="512m", pattern=r"^[0-9]+[kmgKMG]?$", description="Java heap of the local broker"
    )
    scorer_cache_dir: Path = Field(
        default=ROOT / ".cache", description="Kafka jars, the Maven repository, broker state"
    )
    scorer_broker_dir: Path | None = Field(
        default=None, description="local broker state; unset means SCORER_CACHE_DIR/broker"
    )
    scorer_broker_port: int = Field(
        default=9092,
        ge=1024,
        le=65535,
        description="port the local broker tries first, on its first start in its folder "
        "(taken: any free one; later starts keep the last)",
    )
    scorer_topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="prefix of every topic name (for test isolation)",
    )
    scorer_partitions: int = Field(
        default=6, ge=1, le=1024, description="partitions of every co-partitioned topic"
    )
    scorer_replication_factor: int = Field(
        default=1, ge=1, le=16, description="replication factor of created topics"
    )

    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="how every client of the project (and the local broker) talks Kafka",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism with SASL_SSL"
    )
    kafka_sasl_username: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._-]+$", description="SASL user with SASL_SSL"
    )
    kafka_sasl_password_file: Path | None = Field(
        default=None, description="file holding the SASL user's password (never the variable)"
    )
    kafka_ssl_ca_file: Path | None = Field(
        default=None,
        description="PEM certificate(s) the broker's must be signed by; unset: the local "
        "broker's own authority (SCORER_BROKER_DIR/tls/ca.pem) when KAFKA_BOOTSTRAP_SERVERS "
        "is unset, else the system's",
    )

    @property
    def broker_dir(self) -> Path:
        return self.scorer_broker_dir or self.scorer_cache_dir / "broker"

    @property
    def secure(self) -> bool:
        return self.kafka_security_protocol == "SASL_SSL"

    def ca_file(self) -> Path | None:
        """The certificates a SASL_SSL client trusts, None for the system's."""
        if self.kafka_ssl_ca_file is not None or self.kafka_bootstrap_servers:
            return self.kafka_ssl_ca_file
        return self.broker_dir / "tls" / "ca.pem"

    def sasl_credentials(self) -> tuple[str, str]:
        """(user, password) for SASL_SSL; SettingsError naming what is missing."""
        if not self.kafka_sasl_username or self.kafka_sasl_password_file is None:
            raise SettingsError(
                "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME "
                "and KAFKA_SASL_PASSWORD_FILE"
            )
        path = self.kafka_sasl_password_file
        password = read_secret(path, "KAFKA_SASL_PASSWORD_FILE")
        if not password:
            raise SettingsError(f"KAFKA_SASL_PASSWORD_FILE={str(path)!r} is empty")
        return self.kafka_sasl_username, password

    def librdkafka_security(self) -> dict[str, str]:
        """The security settings of a confluent-kafka client ({} for PLAINTEXT)."""
        if not self.secure:
            return {}
        user, password = self.sasl_credentials()
        conf = {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": self.kafka_sasl_mechanism,
            "sasl.username": user,
            "sasl.password": password,
        }
        ca = self.ca_file()
        if ca is not None:
            if not ca.is_file():
                raise SettingsError(f"KAFKA_SSL_CA_FILE={str(ca)!r} does not exist")
            conf["ssl.ca.location"] = str(ca)
        return conf


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


def read_secret(path: Path, variable: str) -> str:
    """A secret from the file a setting names, stripped; SettingsError naming the setting
    and the file (never the content) when it cannot be read."""
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SettingsError(f"{variable}={str(path)!r}: cannot be read ({exc.strerror})") from exc


def _shown(err: Any) -> str:
    """The bad value as the message shows it: never a secret's."""
    secret = any(word in str(part) for part in err["loc"] for word in SECRET_WORDS)
    return "(hidden)" if secret else repr(err.get("input"))


@lru_cache(maxsize=1)
def kafka_settings() -> KafkaSettings:
    """The process-wide Kafka settings."""
    return load_settings(KafkaSettings)
