"""The Faust passthrough: one Faust agent forwarding each session's raw bytes unchanged,
no decoding and no work. The engine's own ceiling beside Kafka's: what one consumed and
one produced Faust message per event cost on this machine.

    python -m tests.bench.contenders.faust_passthrough BOOTSTRAP PREFIX OUTPUT_TOPIC GROUP
"""

from __future__ import annotations

import sys
from typing import Any

import faust

from schemas import topics


def build(bootstrap: str, prefix: str, output: str, group: str) -> faust.App:
    app = faust.App(group, broker=f"kafka://{bootstrap}", store="memory://",
                    processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
                    web_enabled=False, topic_allow_declare=False, autodiscover=False,
                    datadir=f"/tmp/bench-{group}")  # fmt: skip
    sessions = app.topic(topics.named(topics.SESSIONS, prefix), key_serializer="raw",
                         value_serializer="raw")  # fmt: skip
    out = app.topic(output, key_serializer="raw", value_serializer="raw")

    @app.agent(sessions)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await out.send(key=event.key, value=event.value)

    return app


def main(argv: list[str]) -> int:
    bootstrap, prefix, output, group = argv
    app = build(bootstrap, prefix, output, group)
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
