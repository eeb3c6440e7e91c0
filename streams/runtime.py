"""What the agents and views share at run time: settings, codec, the served models and their
follower, station registry, the outputs' producer.

The worker fills it in before Faust starts (streams/worker.py); agents read it through
`current()`. It is not created at import time, so that importing an agent never loads a
model or connects to Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.customers.customer_model import CustomerModel
from model.outlook.artifact import OutlookModel
from schemas.codec import Codec
from schemas.errors import ScorerError
from streams.kafka.model_follower import ModelFollower
from streams.kafka.probe import BrokerProbe
from streams.kafka.publisher import Publisher
from streams.kafka.registry import StationRegistry
from streams.rules.drift import DriftMonitor
from streams.serving import ModelSet
from streams.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    bootstrap: str  # KAFKA_BOOTSTRAP_SERVERS, else the local broker's address
    codec: Codec
    models: ModelSet  # live, shadow, canary (streams/serving.py)
    registry: StationRegistry
    probe: BrokerProbe
    publisher: Publisher  # the worker's outputs (streams/kafka/publisher.py)
    customers: CustomerModel  # segments and value (model/customers/customer_model.py)
    follower: ModelFollower  # of scoring.models (streams/kafka/model_follower.py)
    drift: DriftMonitor  # the inputs served lately (streams/rules/drift.py)
    outlook: OutlookModel | None  # next month's class, loyalty; None without an artifact


_runtime: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def installed() -> Runtime | None:
    """The runtime, or None outside a worker (unit tests of one component)."""
    return _runtime


def current() -> Runtime:
    if _runtime is None:
        raise ScorerError("the scorer's runtime is not installed; start it with streams.worker")
    return _runtime
