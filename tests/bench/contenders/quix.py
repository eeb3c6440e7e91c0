"""The peer: the same job written with Quix Streams, one message at a time as its
StreamingDataFrame runs it. Runs in .venv-quix (Quix Streams pins older confluent-kafka
and pydantic than the scorer uses).

    .venv-quix/bin/python -m tests.bench.contenders.quix \
        BOOTSTRAP PREFIX OUTPUT_TOPIC GROUP MODEL_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig

from infra.kafka.client import client_config
from schemas import topics
from tests.bench.contenders.job import Job


def main(argv: list[str]) -> int:
    bootstrap, prefix, output, group, model_dir = argv
    job = Job(bootstrap, prefix, Path(model_dir))
    # The same cluster and security as every other client (infra/kafka/client.py).
    conf = client_config(bootstrap)
    address = ConnectionConfig(**{k.replace(".", "_"): v for k, v in conf.items()})
    app = Application(
        broker_address=address,
        consumer_group=group,
        auto_offset_reset="earliest",
        auto_create_topics=False,
        use_changelog_topics=False,
        loglevel="WARNING",
    )
    sessions = app.topic(
        topics.named(topics.SESSIONS, prefix), key_deserializer="bytes", value_deserializer="bytes"
    )
    out = app.topic(output, key_serializer="bytes", value_serializer="bytes")
    sdf = app.dataframe(sessions)
    sdf = sdf.apply(lambda value: job.score([value])[0][1])
    sdf.to_topic(out)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
