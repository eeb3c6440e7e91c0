"""The Faust passthrough: one Faust agent forwarding each session's raw bytes unchanged,
no decoding and no work. The engine's own ceiling beside Kafka's: what one consumed and
one produced Faust message per event cost on this machine.

    python -m tests.bench.contenders.faust_passthrough BOOTSTRAP PREFIX OUTPUT_TOPIC GROUP
"""

from __future__ import annotations

import sys
from typing import Any

import faust

from tests.bench.contenders.faust_app import faust_app, run


def build(bootstrap: str, prefix: str, output: str, group: str) -> faust.App:
    app, sessions, out = faust_app(bootstrap, prefix, output, group)

    @app.agent(sessions)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await out.send(key=event.key, value=event.value)

    return app


def main(argv: list[str]) -> int:
    bootstrap, prefix, output, group = argv
    app = build(bootstrap, prefix, output, group)
    return run(app)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
