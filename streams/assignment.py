"""What a worker holds of each topic, and the one way to rebuild a stage's memory when
partitions are assigned to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from streams.app import app
from streams.kafka.outputs import ReadBack


def owned(topic: str) -> set[int]:
    """The partitions of `topic` assigned to this worker now (active, not standby)."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def rebuild_on_assignment(gate: ReadBack, rebuild: Callable[[], Awaitable[None]]) -> None:
    """Run `rebuild` on every assignment with `gate` closed, so that the stage it guards
    acts on no event until its memory holds what the new partitions need. The app closes
    every gate before its own handling of an assignment (streams/app.py)."""

    async def on_assigned(_app: Any, *args: Any, **kwargs: Any) -> None:
        gate.close()
        try:
            await rebuild()
        finally:
            gate.open()

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
