"""Shared fixtures: the real Kafka broker and factories that keep tests apart.

`kafka_bootstrap` is the project's own broker (started for the session when it is not
already running, stopped again afterwards) or the cluster in KAFKA_BOOTSTRAP_SERVERS.
Every test gets topics and consumer groups of its own, named uniquely.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _pytest.capture import CaptureManager
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from infra.dev import broker
from infra.kafka.client import client_config, producer_config


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """A running Kafka cluster's bootstrap address, for the whole session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        yield external
        return
    started_here = broker.running() is None
    began = time.monotonic()
    state = broker.start()
    how = f"started in {time.monotonic() - began:.1f}s" if started_here else "already running"
    capture: CaptureManager = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nKafka {state.version} {how} at {state.bootstrap}")
    yield state.bootstrap
    if started_here:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient(client_config(kafka_bootstrap, log_level=0))


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Names no other test uses: test.<test name>.<base>.<random>."""
    test = request.node.name.replace("[", ".").replace("]", "")[:60]

    def make(base: str) -> str:
        return f"test.{test}.{base}.{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def topic_factory(
    kafka_admin: AdminClient, unique_name: Callable[[str], str]
) -> Iterator[Callable[..., str]]:
    """Create a fresh topic (deleted again after the test) and return its name."""
    created: list[str] = []

    def make(base: str = "topic", partitions: int = 1, config: dict | None = None) -> str:
        name = unique_name(base)
        futures = kafka_admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
        )
        futures[name].result(timeout=30)
        created.append(name)
        return name

    yield make
    if created:
        for future in kafka_admin.delete_topics(created).values():
            future.result(timeout=30)


@pytest.fixture
def group_factory(unique_name: Callable[[str], str]) -> Callable[[str], str]:
    """Consumer group ids no other test uses."""
    return unique_name


@pytest.fixture
def producer_factory(kafka_bootstrap: str) -> Iterator[Callable[..., Producer]]:
    producers: list[Producer] = []

    def make(**config: object) -> Producer:
        producer = Producer(producer_config(kafka_bootstrap, **config))
        producers.append(producer)
        return producer

    yield make
    for producer in producers:
        producer.flush(10)


@pytest.fixture
def consumer_factory(
    kafka_bootstrap: str, group_factory: Callable[[str], str]
) -> Iterator[Callable[..., Consumer]]:
    consumers: list[Consumer] = []

    def make(*topics: str, **config: object) -> Consumer:
        consumer = Consumer(
            client_config(
                kafka_bootstrap,
                **{
                    "group.id": group_factory("consumer"),
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    **config,
                },
            )
        )
        if topics:
            consumer.subscribe(list(topics))
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in consumers:
        consumer.close()


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model artifact (60,000 generated sessions), trained once per test session."""
    from model.mlp.train import train

    out = tmp_path_factory.mktemp("model")
    train(60_000, 5, out, progress=False)
    return out


@pytest.fixture(scope="session")
def customer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small customer model (5,000 generated customers), fitted once per test session."""
    from model.customers import customer_model
    from model.customers.rfm import from_orders
    from model.synthetic import generator

    orders, _, _ = generator.customer_orders(5_000, seed=5)
    _, rfm = from_orders(orders, generator.START_MS + 540 * generator.DAY_MS)
    out = tmp_path_factory.mktemp("customers")
    customer_model.save(out, customer_model.fit(rfm), "2026-12-01T00:00:00+00:00")
    return out


@pytest.fixture(scope="session")
def outlook_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small outlook artifact (600 generated journeys of 18 months, two GRU epochs),
    trained once per test session."""
    from model.outlook import artifact as outlook_artifact
    from model.outlook import journeys, loyalty
    from model.outlook import next_class as outlook

    drawn = journeys.generate(600, 18, seed=8)
    data = outlook.prepare(drawn, seed=0)
    trained = outlook.fit_sequence(data, seed=0, epochs=2, progress=False)
    fitted = loyalty.fit(loyalty.Inputs.of(drawn, data.days, data.spend), data.train, seed=0)
    source = {"n_customers": 600, "months": 18, "seed": 8}
    model = outlook_artifact.OutlookModel(data.fitted[-1], trained.network, fitted, data=source)
    out = tmp_path_factory.mktemp("outlook")
    outlook_artifact.save(out, model, "2026-12-03T12:00:00+00:00")
    return out


@pytest.fixture(scope="session")
def other_model(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second version of the small model: its weights nudged, so another hash, and
    predictions that differ from the first's."""
    import torch

    from model.mlp import artifact

    first = artifact.load(trained_model)
    with torch.no_grad():
        for parameter in first.network.parameters():
            parameter.mul_(0.8)
    out = tmp_path_factory.mktemp("model-other")
    artifact.save(
        out,
        first.network,
        first.imputation,
        metrics=first.metrics,
        data=first.data,
        created_at="2026-12-01T12:00:00+00:00",
        input_shares=first.input_shares,
    )
    return out
