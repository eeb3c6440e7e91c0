"""Everything the model's life in production reads from and writes to Kafka, in one place:
the announcements on scoring.models (model/production/lifecycle.py has their rules) and
the feature log's topics read whole (model/production/feature_log.py).
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from infra.kafka.admin import ensure_topics
from infra.kafka.client import producer_config, reader_config
from infra.kafka.cluster import bootstrap_servers
from infra.kafka.reading import read_tail
from infra.kafka.settings import KafkaSettings, load_settings
from model.production import lifecycle
from schemas import topics
from schemas.codec import Codec, CodecError

#: How long reading a whole topic of the feature log may take before the training gives up.
READ_TIMEOUT_S = 600.0


def models_topic() -> tuple[str, str]:
    """The cluster (KAFKA_BOOTSTRAP_SERVERS, else the local broker) and scoring.models on
    it, created when missing."""
    conf = load_settings(KafkaSettings)
    bootstrap = bootstrap_servers()
    spec = topics.prefixed(conf.scorer_topic_prefix, (topics.MODELS,))
    ensure_topics(bootstrap, conf.scorer_partitions, conf.scorer_replication_factor, spec)
    return bootstrap, spec[0].name


LEADER_PENDING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE})


def read_announcements(
    bootstrap: str, topic: str, codec: Codec, timeout: float = 30.0
) -> dict[str, lifecycle.Announcement]:
    """The latest announcement per role, the topic read to its end; an unreadable record
    is skipped (the workers skip it too)."""
    consumer = Consumer(reader_config(bootstrap))
    partition = TopicPartition(topic, 0)
    latest: dict[str, lifecycle.Announcement] = {}
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                start, end = consumer.get_watermark_offsets(partition, timeout=timeout)
                break
            except KafkaException as exc:
                # A topic made a moment ago may have no leader yet: wait it out.
                waiting = exc.args[0].code() in LEADER_PENDING or exc.args[0].retriable()
                if not waiting or time.monotonic() > deadline:
                    raise lifecycle.AnnouncementError(f"cannot read {topic!r}: {exc}") from exc
                time.sleep(0.2)
        if end <= start:
            return latest
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        position = start
        while position < end:
            if time.monotonic() > deadline:
                raise lifecycle.AnnouncementError(
                    f"{topic!r} could not be read to its end in {timeout:g} s"
                )
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            position = (msg.offset() or 0) + 1
            value = msg.value()
            if value is None:
                latest.pop((msg.key() or b"").decode(errors="replace"), None)
                continue
            try:
                announcement = lifecycle.decode(codec, value)
            except (CodecError, lifecycle.AnnouncementError):
                continue
            latest[announcement.role] = announcement
    finally:
        consumer.close()
    return latest


def publish_announcement(
    bootstrap: str, topic: str, codec: Codec, announcement: lifecycle.Announcement
) -> None:
    """Write one announcement and wait until the broker has it."""
    producer = Producer(producer_config(bootstrap))
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    value = codec.encode("ModelAnnouncement", announcement.to_record())
    producer.produce(topic, key=announcement.role.encode(), value=value, on_delivery=delivered)
    if producer.flush(30) or errors:
        raise lifecycle.AnnouncementError(
            f"the announcement was not delivered to {topic!r}: {'; '.join(errors) or 'timed out'}"
        )


def first_per_session(
    bootstrap: str, topic: str, codec: Codec, expect: str
) -> tuple[dict[str, dict[str, Any]], int]:
    """A topic read whole: the first record of each session, and how many did not decode."""
    first: dict[str, dict[str, Any]] = {}
    unreadable = 0
    for w in read_tail(bootstrap, topic, None, 0, timeout_s=READ_TIMEOUT_S, strict=True):
        try:
            record = codec.decode(w.value, expect=expect)
        except CodecError:
            unreadable += 1
            continue
        first.setdefault(record["session_id"], record)
    return first, unreadable
