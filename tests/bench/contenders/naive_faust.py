"""The naive scorer: a Faust agent that scores one session at a time (decode, features,
forward pass, publish), with none of the scorer's batching, joins or deduplication.

    python -m tests.bench.contenders.naive_faust BOOTSTRAP PREFIX OUTPUT_TOPIC GROUP MODEL_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import faust

from schemas import topics
from tests.bench.contenders.job import Job


def build(bootstrap: str, prefix: str, output: str, group: str, job: Job) -> faust.App:
    app = faust.App(group, broker=f"kafka://{bootstrap}", store="memory://",
                    processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
                    web_enabled=False, topic_allow_declare=False, autodiscover=False,
                    datadir=f"/tmp/bench-{group}")  # fmt: skip
    sessions = app.topic(topics.named(topics.SESSIONS, prefix), key_serializer="raw",
                         value_serializer="raw")  # fmt: skip
    out = app.topic(output, key_serializer="raw", value_serializer="raw")

    @app.agent(sessions)
    async def score_one_by_one(stream: Any) -> None:
        async for value in stream:
            [(key, recommendation)] = job.score([value])
            await out.send(key=key, value=recommendation)

    return app


def main(argv: list[str]) -> int:
    bootstrap, prefix, output, group, model_dir = argv
    job = Job(bootstrap, prefix, Path(model_dir))
    app = build(bootstrap, prefix, output, group, job)
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
