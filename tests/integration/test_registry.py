"""The station registry on the real broker: a station is known as soon as its record is
in the topic, however far the registry's own thread has read; a missing one is missing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.codec import Codec
from streams.kafka import registry as registry_module
from streams.kafka.registry import StationRegistry

pytestmark = pytest.mark.kafka


@pytest.fixture
def registry_topic(topic_factory: Callable[..., str]) -> str:
    return topic_factory("registry", config={"cleanup.policy": "compact"})


@pytest.fixture
def registry(kafka_bootstrap: str, registry_topic: str) -> Iterator[StationRegistry]:
    reg = StationRegistry(kafka_bootstrap, Codec(), registry_topic)
    reg.start()
    assert reg.wait_loaded(30)
    yield reg
    reg.stop()


def _publish(producer: Producer, topic: str, station_id: str, city: str = "Wuhan") -> None:
    value = Codec().encode(
        "Station", {"station_id": station_id, "city": city, "station_type": "supermarket"}
    )
    producer.produce(topic, key=station_id.encode(), value=value)
    producer.flush(10)


def test_a_station_published_just_now_is_found_at_once(
    registry: StationRegistry, registry_topic: str, producer_factory: Callable[..., Producer]
) -> None:
    producer = producer_factory()
    found = []
    for i in range(20):  # its thread alone is a fetch behind: all 20 missed without refresh
        _publish(producer, registry_topic, f"st-new-{i}", city="Yichang")
        found.append(asyncio.run(registry.lookup(f"st-new-{i}")))
    assert found == [{"city": "Yichang", "station_type": "supermarket"}] * 20
    assert len(registry) == 20


def test_a_missing_station_is_missing_and_not_asked_about_per_event(
    registry: StationRegistry,
    registry_topic: str,
    producer_factory: Callable[..., Producer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refreshes: list[int] = []
    catch_up = registry.catch_up

    async def counted() -> None:
        refreshes.append(0)
        await catch_up()

    monkeypatch.setattr(registry, "catch_up", counted)
    monkeypatch.setattr(registry_module, "UNKNOWN_FOR_S", 60.0)  # however slow the machine

    async def look_three_times() -> list[dict[str, str] | None]:
        return [await registry.lookup("st-none") for _ in range(3)]

    assert asyncio.run(look_three_times()) == [None, None, None]
    assert len(refreshes) == 1  # the next two within UNKNOWN_FOR_S of the first
    monkeypatch.setattr(registry_module, "UNKNOWN_FOR_S", 0.0)
    _publish(producer_factory(), registry_topic, "st-none")  # it registers after all
    assert asyncio.run(registry.lookup("st-none")) is not None
    assert len(refreshes) <= 2  # none when the thread has read it by then


def test_a_burst_of_unknown_stations_shares_the_reads_of_the_end(
    registry: StationRegistry,
) -> None:
    """500 lookups of 500 different unknown stations at once (a hostile caller of /score)
    hold no thread each: they wait together for the read of the topic's end under way."""
    before = registry.ends_read

    async def burst() -> list[dict[str, str] | None]:
        return await asyncio.gather(*(registry.lookup(f"st-bogus-{i}") for i in range(500)))

    assert asyncio.run(burst()) == [None] * 500
    # Each holding an executor thread (6 here), they took one read per 6 lookups.
    assert registry.ends_read - before <= 3


def test_a_tombstone_removes_a_station(
    registry: StationRegistry, registry_topic: str, producer_factory: Callable[..., Producer]
) -> None:
    producer = producer_factory()
    _publish(producer, registry_topic, "st-gone")
    assert asyncio.run(registry.lookup("st-gone")) is not None
    producer.produce(registry_topic, key=b"st-gone", value=None)
    producer.flush(10)
    registry.refresh()  # a lookup refreshes only on a miss: it may see the station a fetch longer
    assert registry.get("st-gone") is None
    assert asyncio.run(registry.lookup("st-gone")) is None


def test_a_registry_whose_records_were_all_deleted_loads(
    kafka_bootstrap: str,
    kafka_admin: AdminClient,
    topic_factory: Callable[..., str],
    producer_factory: Callable[..., Producer],
) -> None:
    registry_topic = topic_factory("registry")  # retention may delete, unlike compaction
    producer = producer_factory()
    for station in ("st-a", "st-b", "st-c"):
        _publish(producer, registry_topic, station)
    done = kafka_admin.delete_records([TopicPartition(registry_topic, 0, 3)])  # as retention does
    assert next(iter(done.values())).result(timeout=30).low_watermark == 3
    reg = StationRegistry(kafka_bootstrap, Codec(), registry_topic)
    reg.start()
    try:
        assert reg.wait_loaded(30)  # nothing is left to read below offset 3
        assert len(reg) == 0
    finally:
        reg.stop()
