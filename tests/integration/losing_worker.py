"""A Faust worker on the scorer's consumer that loses one delivery on purpose: the record
at LOSE_OFFSET passes Faust's read offset but never reaches its stream, as a delivery cut
short does. Its agent writes each event's offset to OUTPUT. Partitions held up for 2 s are
sought back (the scorer waits `REWIND_AFTER_S`).

    python -m tests.integration.losing_worker BOOTSTRAP TOPIC OUTPUT GROUP LOSE_OFFSET
"""

from __future__ import annotations

import sys
from typing import Any

import faust
from faust.types import Message, TransportT

from infra.kafka.client import faust_credentials
from streams.kafka.consumer import ExactConsumer, ExactTransport
from streams.kafka.offsets import StuckHeads

HELD_UP_S = 2.0


class LosingConsumer(ExactConsumer):
    lose_offset = -1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stuck = StuckHeads(after_s=HELD_UP_S)
        deliver, lost = self.callback, set[int]()

        async def losing(message: Message) -> None:
            if message.offset == self.lose_offset and not lost:
                lost.add(message.offset)
                return
            await deliver(message)

        self.callback = losing


class LosingTransport(ExactTransport):
    Consumer = LosingConsumer


class LosingApp(faust.App):
    def _new_transport(self) -> TransportT:
        return LosingTransport(self.conf.broker_consumer, self)


def build(bootstrap: str, topic: str, output: str, group: str, datadir: str) -> faust.App:
    app = LosingApp(
        group,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        broker_credentials=faust_credentials(),
        web_enabled=False,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        autodiscover=False,
        datadir=datadir,
    )
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    out = app.topic(output, key_serializer="raw", value_serializer="raw")

    @app.agent(source)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await out.send(key=event.key, value=b"%d" % event.message.offset)

    return app


def main(argv: list[str]) -> int:
    bootstrap, topic, output, group, lose, datadir = argv
    LosingConsumer.lose_offset = int(lose)
    app = build(bootstrap, topic, output, group, datadir)
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
