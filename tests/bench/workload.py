"""The benchmark's input: a station registry and sessions from the generator, Avro-encoded.

Every session carries its face (the face API answered before the session was published),
so no contender waits for a face and all do the same work per event: decode the session,
look up its station, build the 18 features, run the model, publish a Recommendation.
No orders are published, so every customer's history is empty for every contender.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from confluent_kafka import Producer

from infra.kafka.admin import ensure_topics
from infra.kafka.client import producer_config
from model.synthetic import generator
from schemas import topics
from schemas.codec import Codec
from stations.simulator import face_record

PARTITIONS = 4
SEED = 20261123


@dataclass(frozen=True)
class Workload:
    """The registry and a pool of sessions of one generated world."""

    stations: list[tuple[str, bytes]]  # (station_id, Station)
    sessions: list[tuple[str, bytes]]  # (session_id, SessionStarted)


def build(n_sessions: int, tag: str, seed: int = SEED, distinct: int = 40_000) -> Workload:
    """`n_sessions` encoded sessions whose ids start with `tag` (ids are unique per run).

    At most `distinct` sessions are generated and encoded; the rest repeat them under new
    ids, written into the encoded bytes in place (ids have a fixed width, so the Avro
    string keeps its length).
    """
    rng = np.random.default_rng(seed)
    world = generator.make_world(rng)
    codec = Codec()
    st = world.stations
    stations = [
        (
            str(s),
            codec.encode("Station", {"station_id": str(s), "city": str(c), "station_type": str(t)}),
        )
        for s, c, t in zip(st["station_id"], st["city"], st["station_type"], strict=True)
    ]
    frame = generator.sample_sessions(world, min(n_sessions, distinct), rng)
    now = int(time.time() * 1000)
    pool = []
    for i, row in enumerate(frame.to_dict("records")):
        session_id = _session_id(tag, i)
        face = face_record({**row, "session_id": session_id})
        record = {
            "session_id": session_id,
            "station_id": row["station_id"],
            "started_at": now,
            "user_id": row["counter_user_id"],
            "face": face,
        }
        pool.append(codec.encode("SessionStarted", record))
    # Single-object header (10 bytes), then session_id: one varint byte of length, the id.
    at = ID_OFFSET
    sessions = []
    for i in range(n_sessions):
        session_id = _session_id(tag, i)
        body = pool[i % len(pool)]
        sessions.append(
            (session_id, body[:at] + session_id.encode() + body[at + len(session_id) :])
        )
    return Workload(stations, sessions)


ID_OFFSET = 11


def _session_id(tag: str, i: int) -> str:
    return f"{tag}-{i:09d}"


def create_topics(bootstrap: str, prefix: str, extra: Sequence[str] = ()) -> None:
    """The product's topics under `prefix`, plus output topics of other contenders."""
    specs = topics.prefixed(prefix)
    specs += [topics.TopicSpec(name, "session_id", "any") for name in extra]
    ensure_topics(bootstrap, PARTITIONS, specs=specs)


def new_producer(bootstrap: str, linger_ms: int = 5) -> Producer:
    extra = {
        "linger.ms": linger_ms,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
    }
    return Producer(producer_config(bootstrap, **extra))


def produce(producer: Producer, topic: str, messages: Iterator[tuple[str, bytes]]) -> int:
    """Every message, keyed, waiting whenever the local queue is full; flushed at the end."""
    sent = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if sent % 10000 == 0:
            producer.poll(0)
    left = producer.flush(120)
    if left:
        raise RuntimeError(f"{left} messages to {topic} were not delivered in 120 s")
    return sent


def publish_registry(bootstrap: str, prefix: str, load: Workload) -> None:
    produce(new_producer(bootstrap), topics.named(topics.REGISTRY, prefix), iter(load.stations))
