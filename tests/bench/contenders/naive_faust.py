"""The naive scorer: a Faust agent that scores one session at a time (decode, features,
forward pass, publish), with none of the scorer's batching, joins or deduplication.

    python -m tests.bench.contenders.naive_faust BOOTSTRAP PREFIX OUTPUT_TOPIC GROUP MODEL_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import faust

from tests.bench.contenders.faust_app import faust_app, run
from tests.bench.contenders.job import Job


def build(bootstrap: str, prefix: str, output: str, group: str, job: Job) -> faust.App:
    app, sessions, out = faust_app(bootstrap, prefix, output, group)

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
    return run(app)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
