"""The Faust passthrough: one Faust agent forwarding each session's raw bytes unchanged,
no decoding and no work. The engine's own ceiling beside Kafka's: what one consumed and
one produced Faust message per event cost on this machine.

Wide (`wide` as a fifth argument), the agent reads the seven topics the scorer's worker
reads, the sessions among them; the other six stay empty in the bench. What the engine
costs a worker that fetches as many partitions as the scorer's, doing no work: its fetch
rounds take every partition it reads, in aiokafka's Python protocol code.

    python -m tests.bench.contenders.faust_passthrough BOOTSTRAP PREFIX OUTPUT_TOPIC GROUP [wide]
"""

from __future__ import annotations

import sys
from typing import Any

import faust

from schemas import topics
from tests.bench.contenders.faust_app import faust_app, run

#: What the scorer's agents read (streams/channels.py), sessions first.
SCORER_INPUTS = (
    topics.SESSIONS,
    topics.FACES,
    topics.ORDERS,
    topics.SCORING_REQUESTS,
    topics.RECOMMENDATIONS_TO_TRACK,
    topics.SESSION_ORDERS,
    topics.SHADOW,
)


def build(bootstrap: str, prefix: str, output: str, group: str, wide: bool = False) -> faust.App:
    app, sessions, out = faust_app(bootstrap, prefix, output, group)
    source = sessions
    if wide:
        source = app.topic(
            *(topics.named(spec, prefix) for spec in SCORER_INPUTS),
            key_serializer="raw",
            value_serializer="raw",
        )

    @app.agent(source)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await out.send(key=event.key, value=event.value)

    return app


def main(argv: list[str]) -> int:
    bootstrap, prefix, output, group, *mode = argv
    if mode not in ([], ["wide"]):
        raise SystemExit(f"unknown mode {' '.join(mode)!r}: give 'wide' or nothing")
    app = build(bootstrap, prefix, output, group, wide=mode == ["wide"])
    return run(app)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
