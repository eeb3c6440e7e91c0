"""Topic creation against the real broker: idempotent, configured, and clear when it fails;
the simulator refuses to publish to topics that do not exist."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from infra.kafka.admin import TopicError, check_reachable, ensure_topics
from infra.kafka.cluster import BrokerError
from schemas.topics import ALL, TopicSpec

pytestmark = pytest.mark.kafka


def _specs() -> list[TopicSpec]:
    """The product's topics under a unique prefix, so the test owns them."""
    prefix = f"test.topics.{uuid.uuid4().hex[:8]}."
    return [
        TopicSpec(prefix + s.name, s.key, s.value_schema, s.co_partitioned, s.config) for s in ALL
    ]


def test_ensure_topics_creates_all_once(kafka_bootstrap: str, kafka_admin: AdminClient) -> None:
    specs = _specs()
    created = ensure_topics(kafka_bootstrap, partitions=4, specs=specs)
    assert sorted(created) == sorted(s.name for s in specs)
    assert ensure_topics(kafka_bootstrap, partitions=4, specs=specs) == []
    meta = kafka_admin.list_topics(timeout=10).topics
    for spec in specs:
        assert len(meta[spec.name].partitions) == (4 if spec.co_partitioned else 1)
    registry = next(s.name for s in specs if s.name.endswith("station.registry"))
    resource = ConfigResource(ConfigResource.Type.TOPIC, registry)
    config = kafka_admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"
    kafka_admin.delete_topics([s.name for s in specs])


def test_partition_mismatch_is_an_error(kafka_bootstrap: str, kafka_admin: AdminClient) -> None:
    specs = _specs()[:1]
    ensure_topics(kafka_bootstrap, partitions=2, specs=specs)
    with pytest.raises(TopicError, match="has 2 partitions but SCORER_PARTITIONS=6"):
        ensure_topics(kafka_bootstrap, partitions=6, specs=specs)
    kafka_admin.delete_topics([specs[0].name])


def test_unreachable_broker_names_the_address_and_the_fix() -> None:
    admin = AdminClient({"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
    began = time.monotonic()
    with pytest.raises(BrokerError, match=r"127\.0\.0\.1:1.*make broker"):
        check_reachable(admin, "127.0.0.1:1", timeout=3)
    assert time.monotonic() - began < 30  # a bounded failure, not a hang


def test_the_simulator_names_the_topics_that_do_not_exist(kafka_bootstrap: str) -> None:
    # The broker creates no topic on its own (infra/dev/server.properties.template): a
    # station publishing before `make topics` would only see its events time out.
    prefix = f"test.missing.{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SCORER_TOPIC_PREFIX": prefix}
    done = subprocess.run(
        [sys.executable, "-m", "stations.simulator", "--duration", "1"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    said = done.stderr
    assert f"has no topic {prefix}station.registry, {prefix}station.orders" in said, said
    assert "make topics" in said and "Traceback" not in said and done.stdout == "", said
