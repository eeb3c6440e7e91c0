"""A registry that cannot reach its broker says so instead of calling stations unknown."""

from __future__ import annotations

import asyncio

import pytest

from schemas.codec import Codec
from streams.kafka.registry import RegistryUnavailable, StationRegistry


def test_an_unreachable_registry_raises_rather_than_miss() -> None:
    registry = StationRegistry(
        "127.0.0.1:9",
        Codec(),
        "t.station.registry",  # nothing listens
        refresh_timeout_s=0.3,
    )
    registry.start()
    try:
        assert not registry.loaded
        with pytest.raises(RegistryUnavailable, match=r"t\.station\.registry.*0\.3 s.*reachable"):
            registry.refresh()
        with pytest.raises(RegistryUnavailable):  # and an event for any station waits for it
            asyncio.run(asyncio.wait_for(registry.lookup("st-1"), 60))
    finally:
        registry.stop()
