"""What the benchmark measures: a contender process's CPU and memory, the host's and the
broker's CPU, how many records an output topic holds, and when each session's
recommendation was consumed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
from confluent_kafka import Consumer, ConsumerGroupState, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.kafka.client import client_config


class Probe:
    """CPU seconds and memory of one process and its children."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_rss = 0

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._tree():
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    def rss_mb(self) -> float:
        """Resident memory now; also keeps the peak (the kernel's high-water mark)."""
        rss = hwm = 0
        for proc in self._tree():
            try:
                rss += proc.memory_info().rss
                hwm += _high_water_mark(proc.pid)
            except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
                continue
        self.peak_rss = max(self.peak_rss, rss, hwm)
        return rss / 2**20

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss / 2**20


def _high_water_mark(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


#: One drain sample: (time, outputs, contender CPU s, host busy s, broker CPU s).
Sample = tuple[float, int, float, float, float]


class Host:
    """CPU seconds busy on the whole host and in the broker's process (the one listening on
    the bootstrap's first port, if it runs here), so that a drain's window can say where
    the cores went."""

    def __init__(self, bootstrap: str) -> None:
        port = int(bootstrap.split(",")[0].rsplit(":", 1)[1])
        listening = [
            c.pid
            for c in psutil.net_connections("tcp")
            if c.pid and c.laddr and c.status == psutil.CONN_LISTEN and c.laddr[1] == port
        ]
        self.broker = Probe(listening[0]) if listening else None
        self.cores = psutil.cpu_count() or 1

    def busy_seconds(self) -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def broker_seconds(self) -> float:
        return self.broker.cpu_seconds() if self.broker is not None else float("nan")

    def sample(self, now: float, outputs: int, contender_cpu_s: float) -> Sample:
        return (now, outputs, contender_cpu_s, self.busy_seconds(), self.broker_seconds())


def cores_used(start: Sample, end: Sample, cores: int) -> dict[str, float]:
    """Cores busy between two drain samples: the contender's, the broker's, the host's, of
    how many."""
    span = end[0] - start[0]
    if span <= 0:
        return {}
    return {
        "contender": (end[2] - start[2]) / span,
        "broker": (end[4] - start[4]) / span,
        "host": (end[3] - start[3]) / span,
        "of": cores,
    }


class TopicCount:
    """How many records a topic holds (sum of its partitions' high watermarks)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            client_config(
                bootstrap,
                **{"group.id": "bench-count", "enable.auto.commit": False, "log_level": 3},
            )
        )
        meta = self.consumer.list_topics(topic, timeout=30).topics[topic]
        self.partitions = [TopicPartition(topic, p) for p in meta.partitions]

    def __call__(self) -> int:
        return sum(
            self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            for tp in self.partitions
        )

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Arrivals:
    """The first time each key was consumed from an output topic, read by a thread; with
    `keep`, also the record's Kafka timestamp (its producer's send) and value."""

    bootstrap: str
    topic: str
    keep: bool = False
    #: The keys a record is filed under (default: its Kafka key; a bundle holds several).
    keys_of: Callable[[Message], list[bytes]] = lambda msg: [msg.key() or b""]
    first_seen: dict[bytes, float] = field(default_factory=dict)
    kept: dict[bytes, tuple[float, bytes]] = field(default_factory=dict)
    total: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arrivals", daemon=True)

    def start(self) -> Arrivals:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError(f"no assignment on {self.topic} in 60 s")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        consumer = Consumer(
            client_config(
                self.bootstrap,
                **{
                    "group.id": f"bench-arrivals-{uuid.uuid4().hex[:8]}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 20,
                    "log_level": 3,
                },
            )
        )
        consumer.subscribe([self.topic], on_assign=lambda *_: self._ready.set())
        try:
            while not self._stop.is_set():
                first = consumer.poll(0.1)  # at once when a record is there, not batched
                if first is None:
                    continue
                now = time.time()
                for msg in [first, *consumer.consume(1000, timeout=0)]:
                    if msg.error():
                        continue
                    self.total += 1
                    for key in self.keys_of(msg):
                        if key not in self.first_seen:
                            self.first_seen[key] = now
                            if self.keep:
                                self.kept[key] = (msg.timestamp()[1] / 1000, msg.value() or b"")
        finally:
            consumer.close()


class GroupWatch:
    """Whether a consumer group has settled: stable, with every member holding partitions."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.admin = AdminClient(client_config(bootstrap, log_level=0))
        self.group = group

    def members_working(self) -> int:
        """Members holding partitions in the stable group; 0 while it rebalances."""
        try:
            found = self.admin.describe_consumer_groups([self.group])[self.group].result(5)
        except KafkaException:
            return 0
        if found.state != ConsumerGroupState.STABLE:
            return 0
        return sum(1 for m in found.members if m.assignment and m.assignment.topic_partitions)


def percentiles_ms(latencies_s: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of latencies given in seconds, in milliseconds."""
    if not latencies_s:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    a = np.asarray(latencies_s) * 1000
    q = np.percentile(a, [50, 95, 99])
    return {"p50": float(q[0]), "p95": float(q[1]), "p99": float(q[2]), "max": float(a.max())}


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) samples, per minute."""
    if len(samples) < 2:
        return float("nan")
    t, v = np.asarray(samples).T
    return float(np.polyfit(t / 60, v, 1)[0])
