"""The ceiling: consume the sessions and produce them unchanged, with no decoding and no
work. What Kafka and Python I/O allow on this machine (confluent-kafka, batches of 500).

    python -m tests.bench.contenders.ceiling BOOTSTRAP PREFIX OUTPUT_TOPIC GROUP
"""

from __future__ import annotations

import signal
import sys

from confluent_kafka import Consumer, Producer

from infra.kafka.client import client_config, producer_config
from schemas import topics


def main(argv: list[str]) -> int:
    bootstrap, prefix, output, group = argv
    consumer = Consumer(
        client_config(
            bootstrap,
            **{
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "log_level": 3,
            },
        )
    )
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 5}))
    consumer.subscribe([topics.named(topics.SESSIONS, prefix)])
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while not stopping:
        first = consumer.poll(0.2)  # returns as soon as one message is there
        if first is None:
            continue
        for msg in [first, *consumer.consume(499, timeout=0)]:  # and what else is fetched
            if msg.error():
                continue
            while True:
                try:
                    producer.produce(output, key=msg.key(), value=msg.value())
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.poll(0)
    producer.flush(30)
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
