"""Creating the product's topics on a cluster, idempotently, through confluent-kafka's admin.

`python -m infra.kafka.admin create-topics` is what `make topics` runs. The worker and
the upstream tools (stations/) both create the topics they need through it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from infra.kafka.client import client_config
from infra.kafka.cluster import BrokerError, bootstrap_servers
from infra.kafka.settings import kafka_settings
from schemas.errors import ScorerError
from schemas.topics import ALL, TopicSpec, prefixed


class TopicError(ScorerError):
    """A topic the product needs exists but is not as it must be."""

    reason = "bad_topic"


class _Admin(AdminClient):
    """An admin client that keeps the errors librdkafka reported (authentication, TLS, a
    refused connection): a timed-out request alone does not say why."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.errors: list[KafkaError] = []
        super().__init__(cast(Any, {**conf, "error_cb": self.errors.append}))

    def cause(self) -> str | None:
        """The most telling error seen: a specific one before 'all brokers are down'."""
        self.poll(0.1)  # librdkafka hands its errors to error_cb only when polled
        specific = [e for e in self.errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
        if specific:
            return str(specific[-1].str())
        if self.errors and not kafka_settings().secure:
            # A TLS listener drops a plaintext client's first request without a word.
            return (
                f"{self.errors[-1].str()}: the broker closed every connection; if it "
                "listens with SASL_SSL, set KAFKA_SECURITY_PROTOCOL=SASL_SSL"
            )
        return None


def admin_client(bootstrap: str) -> AdminClient:
    return _Admin(client_config(bootstrap, log_level=0))


def check_reachable(admin: AdminClient, bootstrap: str, timeout: float = 10.0) -> set[str]:
    """The topic names on the cluster; BrokerError when it does not answer in time."""
    try:
        return set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        cause = admin.cause() if isinstance(admin, _Admin) else None
        if cause:  # librdkafka's reason: wrong password, untrusted certificate, protocol
            raise BrokerError(
                f"the Kafka cluster at {bootstrap} refused or failed the connection: {cause}"
            ) from exc
        raise BrokerError(
            f"no Kafka broker answered at {bootstrap} within {timeout:.0f}s ({exc.args[0]}). "
            "Start the project's own with `make broker`, or set KAFKA_BOOTSTRAP_SERVERS "
            "to a running cluster."
        ) from exc


def ensure_topics(
    bootstrap: str,
    partitions: int,
    replication: int = 1,
    specs: Iterable[TopicSpec] = ALL,
    timeout: float = 30.0,
) -> list[str]:
    """Create whichever of the topics are missing; return the names created.

    Existing topics are left as they are; a co-partitioned topic with another partition
    count is an error, since the join and the tables would silently miss events. Returns
    once the broker's metadata shows every topic with its partitions: a topic the broker
    has created but does not list yet counts as missing to a consumer group's assignor
    (Faust then fails the table on it as having 0 partitions).
    """
    admin = admin_client(bootstrap)
    existing = check_reachable(admin, bootstrap)
    specs = list(specs)
    present = [s for s in specs if s.name in existing]
    wanted = [
        NewTopic(
            s.name,
            num_partitions=partitions if s.co_partitioned else 1,
            replication_factor=replication,
            config=dict(s.config),
        )
        for s in specs
        if s.name not in existing
    ]
    created = []
    if wanted:
        for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
            try:
                future.result(timeout=timeout)
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerError(f"topic {name} could not be created: {exc.args[0]}") from exc
                # Made meanwhile, or not yet in the metadata we listed: check it like the rest.
                present += [s for s in specs if s.name == name]
    _check_partitions(admin, present + [s for s in specs if s.name in created], partitions, timeout)
    return created


def _check_partitions(
    admin: AdminClient, specs: list[TopicSpec], partitions: int, timeout: float
) -> None:
    for spec in specs:
        have = _partition_count(admin, spec.name, timeout)
        if spec.co_partitioned and have != partitions:
            raise TopicError(
                f"topic {spec.name} has {have} partitions but SCORER_PARTITIONS={partitions}; "
                "co-partitioned topics must all have the same count"
            )


def _partition_count(admin: AdminClient, name: str, timeout: float) -> int:
    """Partitions of an existing topic, waiting out metadata that has not caught up yet
    (the topic not listed, or a partition without a leader)."""
    deadline = time.monotonic() + timeout
    while True:
        topic = admin.list_topics(topic=name, timeout=timeout).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and topic.partitions
            and all(p.leader >= 0 and p.error is None for p in topic.partitions.values())
        ):
            return len(topic.partitions)
        if time.monotonic() > deadline:
            raise TopicError(f"topic {name} exists but its metadata did not arrive in time")
        time.sleep(0.2)


def consumer_lag(bootstrap: str, group: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """Messages of `topic` not yet committed by consumer group `group`, per partition."""
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition

    admin = admin_client(bootstrap)
    partitions = admin.list_topics(topic=topic, timeout=timeout).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])
    future = admin.list_consumer_group_offsets([request])[group]
    committed = {tp.partition: tp.offset for tp in future.result(timeout=timeout).topic_partitions}
    probe = Consumer(client_config(bootstrap, **{"group.id": f"{group}-lag-probe", "log_level": 3}))
    try:
        lag = {}
        for p in partitions:
            low, high = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            done = committed.get(p, -1)
            lag[p] = high - (done if done >= 0 else low)
        return lag
    finally:
        probe.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.kafka.admin", description=__doc__)
    parser.add_argument("command", choices=["create-topics", "list-topics"])
    args = parser.parse_args(argv)
    try:
        conf = kafka_settings()
        bootstrap = bootstrap_servers()
        if args.command == "list-topics":
            names = check_reachable(admin_client(bootstrap), bootstrap)
            print("\n".join(sorted(n for n in names if not n.startswith("__"))))
            return 0
        created = ensure_topics(
            bootstrap,
            conf.scorer_partitions,
            conf.scorer_replication_factor,
            prefixed(conf.scorer_topic_prefix),
        )
    except ScorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    made = ", ".join(created) if created else "none (all exist)"
    print(f"Topics on {bootstrap}: created {made}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
