"""The Faust app object, and nothing else: agents, tables and views import it.

`faust -A streams.app worker` would find it here, but the worker is started through
`python -m streams.worker`, which also imports the agents and views and loads the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import faust
from faust.types import TP, ServiceT, TransportT

from infra.kafka.client import faust_credentials
from infra.kafka.cluster import bootstrap_servers
from schemas import topics
from streams.kafka.consumer import ExactTransport
from streams.kafka.outputs import ReadBack
from streams.settings import settings
from streams.web.requests import CLIENT_MAX_SIZE

_conf = settings()


class ScorerApp(faust.App):
    """`faust.App` whose consumer commits only what was processed and serves the scorer's
    internal hops first (streams/kafka/consumer.py)."""

    #: Fed by the worker's own agents: draining them first bounds the work in flight,
    #: so a backlog on station.sessions cannot starve scoring (docs/development/benchmarks.md).
    first_topics = frozenset(
        topics.named(spec, _conf.scorer_topic_prefix)
        for spec in (
            topics.SCORING_REQUESTS,
            topics.SESSION_ORDERS,
            topics.RECOMMENDATIONS_TO_TRACK,
        )
    )

    def _new_transport(self) -> TransportT:
        return ExactTransport(self.conf.broker_consumer, self)

    async def _on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        if not self.should_stop:  # no agent acts until it has read its outputs back
            ReadBack.close_all()  # (streams/kafka/outputs.py)
        await super()._on_partitions_assigned(assigned, generation_id)

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        services = super().on_init_dependencies()
        # Faust's Monitor sensor keeps statistics of every event and message for its own
        # web pages, which the worker does not serve (its metrics are streams/metrics.py):
        # 12-20% of the CPU a consumed event costs (measured, a Faust agent that only
        # counts: 169-184 µs an event with it, 146-149 µs without). Faust's consumer
        # still calls the monitor directly for offsets; it just gets no events.
        with contextlib.suppress(KeyError):
            self.sensors.remove(self.monitor)
        return services


app = ScorerApp(
    _conf.scorer_app_id,
    broker=f"kafka://{bootstrap_servers()}",
    broker_credentials=faust_credentials(),  # KAFKA_SECURITY_PROTOCOL (infra/kafka/client.py)
    store="rocksdb://" if _conf.scorer_store == "rocksdb" else "memory://",
    datadir=str(_conf.scorer_data_dir),
    # Faust's exactly_once crashes and duplicates on every rebalance (faust-streaming issue
    # #323), and changelogs it wrote stall table recovery later. The scorer is at least once
    # and removes duplicates itself (streams/tables.py: scored, recommended; history keeps
    # order ids), which the failover tests check with SIGTERM and SIGKILL.
    processing_guarantee="at_least_once",
    topic_partitions=_conf.scorer_partitions,
    topic_replication_factor=_conf.scorer_replication_factor,
    topic_allow_declare=True,
    consumer_auto_offset_reset="earliest",
    # A worker that dies without leaving the group (SIGKILL, a lost host) holds its
    # partitions until its session times out, and the sessions on them wait that long:
    # Faust's 60 s default outlasts the customer at the counter. The broker's least is 6 s;
    # a heartbeat every third of the timeout, at most Faust's 3 s.
    broker_session_timeout=_conf.scorer_session_timeout_s,
    broker_heartbeat_interval=min(3.0, _conf.scorer_session_timeout_s / 3),
    # Short fetch batches: Faust hands a batch out before it fetches again, so a long one
    # keeps the internal hops waiting (see first_topics).
    broker_max_poll_records=500,
    # Every table write and hop is its own Kafka message: a 2 ms linger lets them share
    # requests (measured: a third less CPU at 300 sessions/s) for at most 2 ms per hop.
    producer_linger=0.002,
    # The views listen on a Unix socket: the public port is the web front's, a process of
    # its own that hands them what it admits (streams/web/front.py). Other workers reach
    # this one through its front, so that is its canonical URL.
    web_transport=f"unix://{_conf.web_socket()}",
    canonical_url=f"http://{_conf.scorer_web_host}:{_conf.scorer_web_port}",
    web_application_options={"client_max_size": CLIENT_MAX_SIZE},
    autodiscover=False,
)
