"""Where the product's Kafka cluster is, and the error for when there is none.

A deployed worker is given the cluster in KAFKA_BOOTSTRAP_SERVERS. On a developer's
machine the setting may be left out: the local broker that `make broker` starts
(infra/dev/broker.py) records its address in `broker.json` in its state folder
(SCORER_BROKER_DIR), and that address is used while the broker runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra.kafka.settings import kafka_settings
from schemas.errors import ScorerError


class BrokerError(ScorerError):
    """No broker to talk to, or the local one could not be set up, started or stopped; the
    message says why and what to do."""

    reason = "broker_unavailable"


@dataclass(frozen=True)
class BrokerState:
    """What a running (or last started) local broker recorded about itself."""

    version: str
    port: int
    controller_port: int
    pid: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def state_dir() -> Path:
    """The local broker's state folder (SCORER_BROKER_DIR)."""
    return kafka_settings().broker_dir


def _read_state() -> BrokerState | None:
    try:
        return BrokerState(**json.loads((state_dir() / "broker.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def is_local_broker(pid: int) -> bool:
    """True when pid is alive and is a kafka.Kafka process using our state folder."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return "kafka.Kafka" in cmdline and str(state_dir()) in cmdline


def running() -> BrokerState | None:
    """The running local broker, or None (cleaning up a stale pid file on the way)."""
    state = _read_state()
    if state is None:
        return None
    if is_local_broker(state.pid):
        return state
    (state_dir() / "broker.json").unlink(missing_ok=True)
    return None


def bootstrap_servers() -> str:
    """KAFKA_BOOTSTRAP_SERVERS when set, else the running local broker's address."""
    external = (kafka_settings().kafka_bootstrap_servers or "").strip()
    if external:
        return external
    state = running()
    if state is None:
        raise BrokerError(
            "no Kafka broker: KAFKA_BOOTSTRAP_SERVERS is not set and the local broker "
            "is not running; start it with `make broker`"
        )
    return state.bootstrap
