"""`make bench`: the scorer beside the Kafka ceiling, the Faust passthrough (on the sessions
alone, and wide: reading the seven topics the scorer reads), a naive Faust scorer and a
Quix Streams peer, all on the project's broker and the same generated input, in one run.

For each contender, in a process of its own:
- drain: the same pre-produced sessions, read from the start by a new consumer group;
  sustained recommendations per second (after a warm-up), CPU seconds per 1000, peak RSS;
- latency: sessions offered at fixed rates (200, 1000, 5000 per second) on topics of its
  own; from the producer's send to the recommendation being consumed, p50/p95/p99.
  A rate well above what the contender drains is not offered (it could only build a
  backlog); the highest rate it holds (p99 within 100 ms, `is_held`) is then searched for
  from 80% of its drain rate down.
For the scorer also two workers of one group draining the same input, and two scorers
apart (each the only worker of its group, on a copy of the input of its own) side by side:
what the host gives two scorers, the bound of two of one group.
Then the scorer alone at a steady rate, its memory sampled (10 minutes; not in quick mode),
py-spy on the scorer while it drains, and the inference microbenchmark.

Results: out/bench/results.json and out/bench/results.md. BENCH_QUICK=1 for a short run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from confluent_kafka import Message, Producer

from infra.kafka.cluster import bootstrap_servers
from infra.kafka.reading import read_tail
from infra.worker_env import WORKER_COMMAND, worker_env
from schemas import topics
from schemas.codec import Codec, CodecError
from streams.records import ScoringRequest
from tests.bench import micro, profile, report, state, workload
from tests.bench.measure import (
    Arrivals,
    GroupWatch,
    Host,
    Probe,
    Sample,
    TopicCount,
    cores_used,
    percentiles_ms,
    slope_per_minute,
)
from tests.integration.scorer import free_port

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "bench"
QUIX_PYTHON = ROOT / ".venv-quix" / "bin" / "python"
RATES = (200, 1000, 5000)
SOAK_WINDOW_S = 60


@dataclass(frozen=True)
class Plan:
    """How long each part runs: the full run, or BENCH_QUICK's short one."""

    quick: bool
    drain_sessions: int
    drain_cap_s: float
    warmup_s: float
    rate_s: float
    soak_s: float
    soak_rate: int
    profile_s: float
    held_shares: tuple[float, ...]  # of the drain rate, tried until one is held
    micro_s: float  # per inference measurement
    overload_s: float  # twice the highest rate held, for this long
    recover_s: float  # then half of it, for this long

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(True, 100_000, 6, 1, 2, 0, 500, 4, (), 0.3, 5, 15)
        return cls(False, 1_500_000, 60, 5, 20, 600, 500, 25, (0.8, 0.6, 0.4, 0.2), 1.5, 30, 60)


@dataclass(frozen=True)
class Contender:
    """How to start one contender on a topic prefix, and where it publishes."""

    name: str
    title: str
    argv: Callable[[str, str, str, str], list[str]]  # (bootstrap, prefix, output, group)
    output: Callable[[str], str]  # prefix -> output topic
    #: The worker settings of its process (infra/worker_env.py), by field name.
    settings: Callable[[str, str, Path], dict[str, object]] = lambda prefix, group, tmp: {}


#: The contenders' names, in the order they run.
CONTENDERS = (
    "ceiling",
    "faust_passthrough",
    "faust_passthrough_wide",
    "scorer",
    "naive_faust",
    "quix",
)


def contenders(model_dir: Path, customer_dir: Path) -> list[Contender]:
    py = sys.executable

    def own_output(name: str) -> Callable[[str], str]:
        return lambda prefix: f"{prefix}bench.{name}.out"

    def scorer_settings(prefix: str, group: str, tmp: Path) -> dict[str, object]:
        return {
            "scorer_topic_prefix": prefix,
            "scorer_app_id": group,
            "scorer_model_dir": model_dir,
            "scorer_customer_model_dir": customer_dir,
            "scorer_web_port": free_port(),
            "scorer_data_dir": tmp / group,
            "scorer_partitions": workload.PARTITIONS,
        }

    def faust_settings(prefix: str, group: str, tmp: Path) -> dict[str, object]:
        return {"scorer_data_dir": tmp / group}

    return [
        Contender(
            "ceiling",
            "Kafka ceiling (confluent-kafka forward, no work)",
            lambda b, p, o, g: [py, "-m", "tests.bench.contenders.ceiling", b, p, o, g],
            own_output("ceiling"),
        ),
        Contender(
            "faust_passthrough",
            "Faust passthrough (one agent forwarding bytes, no work)",
            lambda b, p, o, g: [py, "-m", "tests.bench.contenders.faust_passthrough", b, p, o, g],
            own_output("faust_passthrough"),
            faust_settings,
        ),
        Contender(
            "faust_passthrough_wide",
            "Faust passthrough reading the scorer's seven topics (six empty, no work)",
            lambda b, p, o, g: [
                py,
                "-m",
                "tests.bench.contenders.faust_passthrough",
                b,
                p,
                o,
                g,
                "wide",
            ],
            own_output("faust_passthrough_wide"),
            faust_settings,
        ),
        Contender(
            "scorer",
            "station-scorer worker (as shipped)",
            lambda b, p, o, g: list(WORKER_COMMAND),
            lambda prefix: topics.named(topics.RECOMMENDATIONS, prefix),
            scorer_settings,
        ),
        Contender(
            "naive_faust",
            "naive Faust (one event at a time)",
            lambda b, p, o, g: [
                py,
                "-m",
                "tests.bench.contenders.naive_faust",
                b,
                p,
                o,
                g,
                str(model_dir),
            ],
            own_output("naive_faust"),
            faust_settings,
        ),
        Contender(
            "quix",
            "Quix Streams peer",
            lambda b, p, o, g: [
                str(QUIX_PYTHON),
                "-m",
                "tests.bench.contenders.quix",
                b,
                p,
                o,
                g,
                str(model_dir),
            ],
            own_output("quix"),
        ),
    ]


class Running:
    """One contender process on one prefix, with its probe; stopped with SIGTERM."""

    def __init__(
        self,
        c: Contender,
        bootstrap: str,
        prefix: str,
        tmp: Path,
        log: Path,
        extra: dict[str, object] | None = None,
        group: str | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.group = group or f"bench-{c.name}-{uuid.uuid4().hex[:6]}"
        self.output = c.output(prefix)
        self.settings = {**c.settings(prefix, self.group, tmp), **(extra or {})}
        env = worker_env(bootstrap, **self.settings)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                c.argv(bootstrap, prefix, self.output, self.group),
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.probe = Probe(self.proc.pid)
        self.log = log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.probe.rss_mb()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def check(self) -> None:
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"contender exited with {self.proc.returncode}:\n{tail}")


def drain(c: Contender, ctx: Context, profile_it: bool) -> dict[str, Any]:
    """Sustained rate of a contender reading the shared pre-produced sessions."""
    run = Running(c, ctx.bootstrap, ctx.drain_prefix, ctx.tmp, ctx.log(c.name, "drain"))
    count = TopicCount(ctx.bootstrap, run.output) if c.name != "scorer" else None
    n, plan = ctx.drain_n, ctx.plan
    spy = None
    first: float | None = None
    host = Host(ctx.bootstrap)
    samples: list[Sample] = []
    try:
        began = time.monotonic()
        while True:
            run.check()
            if count is None:  # the scorer creates its output topic itself
                count = topic_count_when_made(ctx.bootstrap, run.output)
            now, done = time.monotonic(), count() if count is not None else 0
            if first is None and done > 0:
                first = now
            if first is not None and spy is None:
                samples.append(host.sample(now, done, run.probe.cpu_seconds()))
                run.probe.rss_mb()
                if done >= n:
                    break
                if now - first > plan.drain_cap_s + plan.warmup_s:
                    if not profile_it:
                        break
                    # py-spy after the measured window, so its sampling does not slow it
                    spy = profile.start(run.proc.pid, plan.profile_s, OUT)
            elif spy is not None and spy[0].poll() is not None:
                break
            elif first is None and now - began > 180:
                raise RuntimeError(f"{c.name}: no output in 180 s")
            time.sleep(0.1)
        top = profile.finish(spy) if spy else None
    finally:
        run.stop()
        if count is not None:
            count.close()
    assert first is not None
    result = _rate(samples, first, plan.warmup_s, host.cores)
    result.update(drained_all=samples[-1][1] >= n, peak_rss_mb_drain=run.probe.peak_rss_mb)
    if top is not None:
        result["profile"] = top
    return result


def drain_two(c: Contender, ctx: Context, apart: bool = False) -> dict[str, Any]:
    """The drain rate of two workers on the input of the one-worker drain, produced again
    under a prefix of their own (so that no run's outputs are another's duplicates).

    Of one group (`apart` False): counted once both hold partitions; the one started first
    drains alone until the other has joined, which took 4-5 s here. `apart`: each the only
    worker of a group of its own, on a copy of the input of its own, counted once both
    publish and until either has drained its copy. Apart, no session goes from one to the
    other and neither waits for the other: what two scorers drain side by side on this
    host and its broker, which bounds what two of one group can."""
    names = ["apart-1", "apart-2"] if apart else ["two"]
    prefixes = [f"{ctx.tag}-{name}." for name in names]
    for prefix in prefixes:
        workload.create_topics(ctx.bootstrap, prefix)
        workload.publish_registry(ctx.bootstrap, prefix, ctx.load)
        sessions = topics.named(topics.SESSIONS, prefix)
        producer = workload.new_producer(ctx.bootstrap)
        n = workload.produce(producer, sessions, iter(ctx.load.sessions))
    group = f"bench-{c.name}-{names[0]}-{uuid.uuid4().hex[:6]}"
    groups = [f"{group}-{i}" for i in (1, 2)] if apart else [group, group]
    runs = [
        Running(
            c,
            ctx.bootstrap,
            prefixes[i % len(prefixes)],
            ctx.tmp,
            ctx.log(c.name, f"{'apart' if apart else 'two'}-{i + 1}"),
            {"scorer_data_dir": ctx.tmp / f"{groups[i]}-{i}"},
            group=groups[i],
        )
        for i in (0, 1)
    ]
    counts: list[TopicCount | None] = [None] * len(prefixes)
    watch = None if apart else GroupWatch(ctx.bootstrap, group)
    both: float | None = None  # when both workers first held partitions (published, apart)
    host = Host(ctx.bootstrap)
    samples: list[Sample] = []
    plan = ctx.plan
    try:
        began = time.monotonic()
        while True:
            for run in runs:
                run.check()
            counts = [
                count or topic_count_when_made(ctx.bootstrap, c.output(prefix))
                for count, prefix in zip(counts, prefixes, strict=True)
            ]
            now = time.monotonic()
            done = [count() if count is not None else 0 for count in counts]
            working = all(done) if watch is None else watch.members_working() == len(runs)
            if both is None and working:
                both = now
            if both is not None:
                samples.append(
                    host.sample(now, sum(done), sum(r.probe.cpu_seconds() for r in runs))
                )
                if max(done) >= n or now - both > plan.drain_cap_s + plan.warmup_s:
                    break
            elif max(done) >= n:
                raise RuntimeError(f"{c.name}: the input ran out before both workers worked")
            elif now - began > 180:
                raise RuntimeError(f"{c.name}: two workers did not both work in 180 s")
            time.sleep(0.1)
    finally:
        for run in runs:
            run.stop()
        for count in counts:
            if count is not None:
                count.close()
    assert both is not None
    result = _rate(samples, both, plan.warmup_s, host.cores)
    if apart:
        return result
    # A session whose customer's history the other worker holds goes through
    # scoring.requests (the topology's step 3), in bundles; with one worker none does.
    sent = read_tail(
        ctx.bootstrap, topics.named(topics.SCORING_REQUESTS, prefixes[0]), None, 0, strict=True
    )
    sent_on = sum(len(ScoringRequest.all_from_bytes(w.value)) for w in sent)
    result["via_requests_share"] = sent_on / samples[-1][1] if samples[-1][1] else None
    result["requests_per_message"] = sent_on / len(sent) if sent else None
    return result


def _rate(samples: list[Sample], first: float, warmup_s: float, cores: int) -> dict[str, Any]:
    """Rate, CPU per 1000 and the cores busy over drain samples, after the warm-up unless
    the input ran out before it ended."""
    start = next((s for s in samples if s[0] >= first + warmup_s), samples[0])
    if start is samples[-1]:
        start = samples[0]
    end = samples[-1]
    events, seconds = end[1] - start[1], end[0] - start[0]
    cpu = (end[2] - start[2]) / events * 1000 if events else float("nan")
    return {
        "throughput_eps": events / seconds if seconds > 0 else float("nan"),
        "drain_window_s": seconds,
        "drained_events": events,
        "cpu_s_per_1k": cpu,
        "cores": cores_used(start, end, cores),
    }


def topic_count_when_made(bootstrap: str, topic: str) -> TopicCount | None:
    """A count of `topic`'s records once the topic exists (a scorer makes its own), else None."""
    try:
        return TopicCount(bootstrap, topic)
    except (KeyError, RuntimeError):
        return None


def latency(c: Contender, ctx: Context, drain_eps: float) -> dict[str, Any]:
    """Latency at each offered rate the contender can be offered, plus its highest held."""
    prefix = f"{ctx.tag}-lat-{c.name}."
    workload.create_topics(ctx.bootstrap, prefix, [f"{prefix}bench.{c.name}.out"])
    workload.publish_registry(ctx.bootstrap, prefix, ctx.load)
    run = Running(c, ctx.bootstrap, prefix, ctx.tmp, ctx.log(c.name, "latency"))
    producer = workload.new_producer(ctx.bootstrap, linger_ms=1)
    producer_topic = topics.named(topics.SESSIONS, prefix)
    pool = Pool(ctx.latency_load.sessions)
    arrivals: Arrivals | None = None
    requests: Arrivals | None = None
    results: dict[str, Any] = {}
    try:
        arrivals = _warm_up(run, ctx, producer, producer_topic, pool, keep=c.name == "scorer")
        if c.name == "scorer":  # the hop in between: the join's scoring requests, by session
            requests = Arrivals(
                ctx.bootstrap,
                topics.named(topics.SCORING_REQUESTS, prefix),
                keep=True,
                keys_of=_request_sessions,
            ).start()
        for rate in RATES:
            if rate > 1.25 * drain_eps:
                results[str(rate)] = {
                    "offered": rate,
                    "held": False,
                    "skipped": f"above its drain rate ({drain_eps:.0f}/s)",
                }
                continue
            results[str(rate)] = _offer(
                run, ctx, producer, producer_topic, pool, arrivals, rate, requests
            )
        if ctx.plan.held_shares and any(not r["held"] for r in results.values()):
            results["highest_held"] = _highest_held(
                run, ctx, producer, producer_topic, pool, arrivals, drain_eps, requests
            )
        held = held_eps(results)
        if c.name == "scorer" and held:
            results["http_burst"] = http_burst(
                run, ctx, producer, producer_topic, pool, arrivals, burst_rate(held)
            )
            results["recovery"] = overload(run, ctx, producer, producer_topic, pool, arrivals, held)
    finally:
        for reader in (arrivals, requests):
            if reader is not None:
                reader.stop()
        run.stop()
    results["peak_rss_mb_latency"] = run.probe.peak_rss_mb
    return results


def _request_sessions(msg: Message) -> list[bytes]:
    """The sessions of a message of scoring.requests (one, or a bundle of them)."""
    try:
        return [r.session_id.encode() for r in ScoringRequest.all_from_bytes(msg.value())]
    except CodecError:
        return []


#: Halvings of the gap between the highest share held and the one above it that failed.
REFINE_STEPS = 2


def _highest_held(
    run: Running,
    ctx: Context,
    producer: Producer,
    topic: str,
    pool: Pool,
    arrivals: Arrivals,
    drain_eps: float,
    requests: Arrivals | None,
) -> dict[str, Any]:
    """Offer shares of the drain rate (80%, 60%, 40%, 20%) until one is held, then halve
    the gap to the rate above it that was not, twice: the rate held is then known to
    within a twentieth of the drain rate, not a fifth. The result at the highest rate
    held (else the lowest tried), with every rate tried under "search"."""
    search: list[dict[str, Any]] = []

    def offer(rate: int) -> dict[str, Any]:
        result = _offer(run, ctx, producer, topic, pool, arrivals, rate, requests)
        search.append({"offered": rate, "held": result["held"]})
        return result

    best: dict[str, Any] | None = None
    above: int | None = None  # the lowest rate tried and not held
    tried: dict[str, Any] = {}
    for share in ctx.plan.held_shares:
        tried = offer(max(20, int(share * drain_eps) // 10 * 10))
        if tried["held"]:
            best = tried
            break
        above = tried["offered"]
    for _ in range(REFINE_STEPS):
        if best is None or above is None:
            break
        rate = (best["offered"] + above) // 20 * 10
        if rate <= best["offered"]:
            break
        tried = offer(rate)
        if tried["held"]:
            best = tried
        else:
            above = rate
    return {**(best or tried), "search": search}


class Pool:
    """Hands out pre-encoded sessions, each once."""

    def __init__(self, sessions: list[tuple[str, bytes]]) -> None:
        self.sessions = sessions
        self.next = 0

    def take(self, n: int) -> list[tuple[str, bytes]]:
        if self.next + n > len(self.sessions):
            raise RuntimeError("the latency pool ran out of sessions; make it larger")
        out = self.sessions[self.next : self.next + n]
        self.next += n
        return out


def _warm_up(
    run: Running, ctx: Context, producer: Producer, topic: str, pool: Pool, keep: bool = False
) -> Arrivals:
    """Offer 20 sessions/s until recommendations come out, then 3 s more."""
    arrivals: Arrivals | None = None
    began = time.monotonic()
    sent: list[str] = []
    while True:
        run.check()
        if arrivals is None:
            made = topic_count_when_made(ctx.bootstrap, run.output)
            if made is not None:
                made.close()
                arrivals = Arrivals(ctx.bootstrap, run.output, keep=keep).start()
        for key, value in pool.take(2):
            producer.produce(topic, key=key.encode(), value=value)
            sent.append(key)
        producer.poll(0)
        if arrivals is not None and any(k.encode() in arrivals.first_seen for k in sent):
            break
        if time.monotonic() - began > 180:
            raise RuntimeError(f"{run.group}: no recommendation in 180 s")
        time.sleep(0.1)
    _pace(producer, topic, pool, 20, 3.0, {})
    return arrivals


def _pace(
    producer: Producer,
    topic: str,
    pool: Pool,
    rate: int,
    seconds: float,
    sent_at: dict[bytes, float],
) -> float:
    """Produce `rate` sessions per second for `seconds`, 5 ms at a time; return the span."""
    total = int(rate * seconds)
    batch = pool.take(total)
    began = time.time()
    i = 0
    while i < total:
        due = min(total, int((time.time() - began) * rate) + 1)
        while i < due:
            key, value = batch[i]
            k = key.encode()
            while True:
                try:
                    sent_at[k] = time.time()
                    producer.produce(topic, key=k, value=value)
                    break
                except BufferError:
                    producer.poll(0.01)
            i += 1
        producer.poll(0)
        time.sleep(0.005)
    producer.flush(30)
    return time.time() - began


#: Real time, as the product promises it (p99 well under 100 ms under normal load): what a rate must
#: keep to be held, and what the scorer must be back under after the overload.
RECOVERED_P99_MS = 100.0
WINDOW_S = 5


def is_held(latencies_s: list[float], sent: int) -> bool:
    """Whether a rate was held: every one of the `sent` sessions answered, at most 1% of
    them later than RECOVERED_P99_MS (a p99 within it). Until 2026-12-07 the bound was 1 s,
    which let a rate whose p99 was 286 ms count as held."""
    late = sum(1 for x in latencies_s if x * 1000 > RECOVERED_P99_MS)
    return len(latencies_s) == sent and late <= 0.01 * sent


def _offer(
    run: Running,
    ctx: Context,
    producer: Producer,
    topic: str,
    pool: Pool,
    arrivals: Arrivals,
    rate: int,
    requests: Arrivals | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    sent_at: dict[bytes, float] = {}
    span = _pace(producer, topic, pool, rate, seconds or ctx.plan.rate_s, sent_at)
    deadline = time.time() + 60  # a backlog is drained before the next rate is offered
    while time.time() < deadline and not all(k in arrivals.first_seen for k in sent_at):
        run.check()
        time.sleep(0.2)
    got = [arrivals.first_seen[k] - t for k, t in sent_at.items() if k in arrivals.first_seen]
    held = is_held(got, len(sent_at))
    result: dict[str, Any] = {
        "offered": rate,
        "sent": len(sent_at),
        "received": len(got),
        "offered_actual_eps": len(sent_at) / span,
        "held": held,
        **percentiles_ms(got),
    }
    if requests is not None:
        result["hops_ms"] = hops(sent_at, requests, arrivals)
    print(
        f"  {run.group} at {rate}/s: p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
        f"{len(got)}/{len(sent_at)} received, held={held}",
        flush=True,
    )
    time.sleep(2)
    return result


#: Every session: the station's send to scored (join and scoring in one consumer when the
#: worker holds the customer's history), to the recommendation's send, to its reader.
HOPS = ("sent_to_scored", "scored_to_published", "published_to_consumed")
#: Only the sessions sent on through scoring.requests (history held by another worker).
VIA_REQUESTS = ("sent_to_joined", "joined_to_scored")


def hops(sent_at: dict[bytes, float], requests: Arrivals, arrivals: Arrivals) -> dict[str, Any]:
    """p50/p99 of each hop, per session, from the Kafka timestamps of the recommendation
    (its send) and, for a session sent on to scoring, of its scoring request (the join's
    send); and the share of sessions that took that extra hop."""
    codec = Codec()
    spans: dict[str, list[float]] = {hop: [] for hop in (*HOPS, *VIA_REQUESTS)}
    for key, sent in sent_at.items():
        if key not in arrivals.kept:
            continue
        published, value = arrivals.kept[key]
        scored_at = codec.decode(value, "Recommendation")["scored_at"]
        scored = scored_at.timestamp() if hasattr(scored_at, "timestamp") else scored_at / 1000
        arrived = arrivals.first_seen[key]
        for hop, span in zip(
            HOPS, (scored - sent, published - scored, arrived - published), strict=True
        ):
            spans[hop].append(span)
        if key in requests.kept:
            joined = requests.kept[key][0]
            spans["sent_to_joined"].append(joined - sent)
            spans["joined_to_scored"].append(scored - joined)
    out: dict[str, Any] = {}
    for hop, values in spans.items():
        if values:
            p = percentiles_ms(values)
            out[hop] = {"p50": p["p50"], "p99": p["p99"]}
    scored_all = len(spans["sent_to_scored"])
    out["via_requests_share"] = len(spans["joined_to_scored"]) / scored_all if scored_all else None
    return out


def held_eps(latency_ms: dict[str, Any]) -> int | None:
    """The highest offered rate the contender held (None: none was)."""
    held = [r["offered"] for r in latency_ms.values() if isinstance(r, dict) and r.get("held")]
    return max(held, default=None)


def overload(
    run: Running,
    ctx: Context,
    producer: Producer,
    topic: str,
    pool: Pool,
    arrivals: Arrivals,
    held: int,
) -> dict[str, Any]:
    """Offer twice the highest rate held for `overload_s`, then half of it for
    `recover_s`: the seconds from the overload's end to the end of the first 5 s window
    (by send time) whose p99 is back under 100 ms (a session never answered counts as
    late)."""
    plan = ctx.plan
    over, after = 2 * held, max(10, held // 2)
    _pace(producer, topic, pool, over, plan.overload_s, {})
    ended = time.time()
    sent_at: dict[bytes, float] = {}
    _pace(producer, topic, pool, after, plan.recover_s, sent_at)
    deadline = time.time() + 120
    while time.time() < deadline and not all(k in arrivals.first_seen for k in sent_at):
        run.check()
        time.sleep(0.2)
    windows = []
    for start in range(int(plan.recover_s) - WINDOW_S + 1):
        lo, hi = ended + start, ended + start + WINDOW_S
        spans = [
            arrivals.first_seen.get(k, float("inf")) - t for k, t in sent_at.items() if lo <= t < hi
        ]
        p99 = float(np.percentile(spans, 99)) * 1000 if spans else float("nan")
        windows.append({"from_s": start, "p99_ms": p99, "sessions": len(spans)})
    good = next((w for w in windows if w["p99_ms"] < RECOVERED_P99_MS), None)
    recovery_s = None if good is None else good["from_s"] + WINDOW_S
    print(
        f"  overload {over}/s for {plan.overload_s:.0f} s, then {after}/s: "
        f"recovered in {recovery_s} s",
        flush=True,
    )
    time.sleep(2)
    return {
        "overload_eps": over,
        "overload_s": plan.overload_s,
        "after_eps": after,
        "recovery_s": recovery_s,
        "windows": windows,
    }


HTTP_BURST_EPS, HTTP_BURST_S = 200, 12.0


def burst_rate(held: int) -> int:
    """The stream's rate beside the burst: half the highest it held (at most 200/s), the
    load the soak runs at. At the held rate itself the stream has no CPU to spare, and
    whatever the burst's own admitted requests take is delay it cannot make up."""
    return max(1, min(held // 2, HTTP_BURST_EPS))


def http_burst(
    run: Running,
    ctx: Context,
    producer: Producer,
    topic: str,
    pool: Pool,
    arrivals: Arrivals,
    rate: int,
) -> dict[str, Any]:
    """The stream's latency at `rate` alone, then with 2,000 POST /score requests (50 in
    flight, from another process: tests/bench/http_burst.py) sent while it is offered."""
    alone = _offer(run, ctx, producer, topic, pool, arrivals, rate, seconds=HTTP_BURST_S)
    stations = ctx.tmp / "http-burst-stations.txt"
    stations.write_text("\n".join(station for station, _ in ctx.load.stations))
    url = f"http://127.0.0.1:{run.settings['scorer_web_port']}"
    burst = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.http_burst", url, str(stations)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    loaded = _offer(run, ctx, producer, topic, pool, arrivals, rate, seconds=HTTP_BURST_S)
    answered, _ = burst.communicate(timeout=300)
    http = json.loads(answered)
    ratio = loaded["p99"] / alone["p99"] if alone["p99"] else None
    print(
        f"  /score burst beside {rate}/s: stream p99 {alone['p99']:.1f} -> "
        f"{loaded['p99']:.1f} ms; HTTP {http['statuses']} in {http['seconds']} s",
        flush=True,
    )
    return {"rate": rate, "alone": alone, "with_burst": loaded, "http": http, "p99_ratio": ratio}


def soak_rate(scorer: dict[str, Any], most: int) -> int:
    """80% of the highest rate the scorer held (at most `most`): memory is judged at a load
    it keeps up with, not on a backlog that grows."""
    held = [
        r["offered"] for r in scorer["latency_ms"].values() if isinstance(r, dict) and r.get("held")
    ]
    return min(most, max(20, int(0.8 * max(held, default=50)) // 10 * 10))


def soak(ctx: Context, scorer: Contender, rate: int) -> dict[str, Any]:
    """The scorer at a steady rate, its resident memory sampled every 5 s.

    Conversions wait SOAK_WINDOW_S instead of the 30-minute default, and published
    keys are remembered as long (SCORER_DEDUP_WINDOW_S, 10 minutes by default): what waits
    is held in memory by design (rate x window), so the run must outlast both windows to
    show whether anything else grows.
    """
    prefix = f"{ctx.tag}-soak."
    workload.create_topics(ctx.bootstrap, prefix)
    workload.publish_registry(ctx.bootstrap, prefix, ctx.load)
    extra: dict[str, object] = {
        "scorer_conversion_window_s": SOAK_WINDOW_S,
        "scorer_dedup_window_s": SOAK_WINDOW_S,
    }
    run = Running(scorer, ctx.bootstrap, prefix, ctx.tmp, ctx.log("scorer", "soak"), extra)
    producer = workload.new_producer(ctx.bootstrap)
    topic = topics.named(topics.SESSIONS, prefix)
    plan = ctx.plan
    load = workload.build(int(rate * plan.soak_s) + 1000, f"{ctx.tag}-soak")
    pool = Pool(load.sessions)
    samples: list[tuple[float, float]] = []
    try:
        arrivals = _warm_up(run, ctx, producer, topic, pool)
        began = time.monotonic()
        while time.monotonic() - began < plan.soak_s:
            _pace(producer, topic, pool, rate, 5.0, {})
            samples.append((time.monotonic() - began, run.probe.rss_mb()))
            run.check()
        arrivals.stop()
    finally:
        run.stop()
    # the outcomes' keys are kept for both windows: judged after twice that
    settled = [s for s in samples if s[0] >= min(4.0 * SOAK_WINDOW_S, plan.soak_s / 4)]
    slope = slope_per_minute(settled)
    first, last = settled[0][1], settled[-1][1]
    return {
        "rate_eps": rate,
        "seconds": plan.soak_s,
        "conversion_window_s": SOAK_WINDOW_S,
        "rss_mb_first": first,
        "rss_mb_last": last,
        "rss_mb_max": max(s[1] for s in samples),
        "slope_mb_per_min": slope,
        "samples": samples,
        "flat": abs(slope) * plan.soak_s / 60 < max(10.0, 0.05 * first),
    }


@dataclass
class Context:
    """Everything one benchmark run shares."""

    bootstrap: str
    plan: Plan
    tag: str
    tmp: Path
    load: workload.Workload
    latency_load: workload.Workload
    drain_prefix: str
    drain_n: int

    def log(self, name: str, part: str) -> Path:
        return OUT / "logs" / f"{name}-{part}.log"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": 1,
        "kafka": os.environ.get("KAFKA_VERSION", "3.9.1"),
    }


def prepare(bootstrap: str, plan: Plan) -> Context:
    tag = f"bench{time.strftime('%m%d%H%M%S')}"
    started = time.monotonic()
    load = workload.build(plan.drain_sessions, f"{tag}-d")
    # the three rates, then up to 80+60+40+20% of the fastest contender's rate below 5000/s
    rates_total = (sum(RATES) + 2 * 5000) * plan.rate_s + 5000
    rates_total += 2 * 5000 * plan.overload_s + 2500 * plan.recover_s  # the overload
    latency_load = workload.build(int(rates_total * 1.2), f"{tag}-l", seed=workload.SEED + 1)
    drain_prefix = f"{tag}-drain."
    outputs = [
        f"{drain_prefix}bench.{name}.out"
        for name in CONTENDERS
        if name != "scorer"  # the scorer publishes to the product's recommendations topic
    ]
    workload.create_topics(bootstrap, drain_prefix, outputs)
    workload.publish_registry(bootstrap, drain_prefix, load)
    sent = workload.produce(
        workload.new_producer(bootstrap),
        topics.named(topics.SESSIONS, drain_prefix),
        iter(load.sessions),
    )
    print(
        f"Input: {sent:,} sessions pre-produced in {time.monotonic() - started:.0f} s", flush=True
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    return Context(bootstrap, plan, tag, tmp, load, latency_load, drain_prefix, sent)


def measure(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    """Every figure of the run, for the contenders chosen."""
    plan = ctx.plan
    every = contenders(args.model, args.customers)
    chosen = [c for c in every if not args.only or c.name in args.only]
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "quick" if plan.quick else "full",
        "machine": machine(),
        "plan": plan.__dict__,
        "input_sessions": ctx.drain_n,
        "contenders": {},
    }
    for c in chosen:
        print(f"{c.title}: draining ...", flush=True)
        entry = drain(c, ctx, profile_it=c.name == "scorer")
        print(
            f"  {entry['throughput_eps']:,.0f} events/s, {entry['cpu_s_per_1k']:.3g} CPU s/1k",
            flush=True,
        )
        entry["latency_ms"] = latency(c, ctx, entry["throughput_eps"])
        entry["peak_rss_mb"] = max(
            entry.pop("peak_rss_mb_drain"), entry["latency_ms"].pop("peak_rss_mb_latency")
        )
        entry["held_eps"] = held_eps(entry["latency_ms"])
        if c.name == "scorer":
            entry["recovery_s"] = entry["latency_ms"].get("recovery", {}).get("recovery_s")
            print("  two workers: draining ...", flush=True)
            entry["two_workers"] = drain_two(c, ctx)
            entry["two_workers_eps"] = entry["two_workers"]["throughput_eps"]
            print(f"  {entry['two_workers_eps']:,.0f} events/s with two", flush=True)
            print("  two workers apart: draining ...", flush=True)
            entry["two_apart"] = drain_two(c, ctx, apart=True)
            entry["two_apart_eps"] = entry["two_apart"]["throughput_eps"]
            print(f"  {entry['two_apart_eps']:,.0f} events/s with two apart", flush=True)
        with_hops = [
            r
            for r in entry["latency_ms"].values()
            if isinstance(r, dict) and r.get("held") and "hops_ms" in r
        ]
        if with_hops:  # the scorer's hops at the highest rate it held
            best = max(with_hops, key=lambda r: r["offered"])
            entry["hops_ms"] = {**best["hops_ms"], "at_eps": best["offered"]}
        entry["title"] = c.title
        results["contenders"][c.name] = entry
    scorer = next((c for c in chosen if c.name == "scorer"), None)
    if scorer is not None and plan.soak_s > 0:
        rate = soak_rate(results["contenders"]["scorer"], plan.soak_rate)
        print(f"Scorer memory at {rate}/s for {plan.soak_s:.0f} s ...", flush=True)
        results["memory_soak"] = soak(ctx, scorer, rate)
    print("Inference microbenchmark ...", flush=True)
    results["inference"] = micro.run(args.model, ctx.load, plan.micro_s)
    results["state_bytes"] = state.run()
    results["ratios"] = report.ratios(results["contenders"])
    results["goals"] = report.goals(results)
    return results


BENCHMARKS_PAGE = ROOT / "docs" / "development" / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "out" / "model")
    parser.add_argument("--customers", type=Path, default=ROOT / "out" / "customers")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=CONTENDERS,
    )
    parser.add_argument(
        "--page", action="store_true", help="put the table in docs/development/benchmarks.md"
    )
    args = parser.parse_args(argv)
    if not (args.model / "artifact.json").is_file():
        parser.error(f"no model in {args.model}: run `make model` first")
    if not (args.customers / "customers.json").is_file():
        parser.error(f"no customer model in {args.customers}: run `make customers` first")
    if not QUIX_PYTHON.is_file():
        parser.error(f"{QUIX_PYTHON} is missing: `make bench` creates it")
    plan = Plan.for_mode(os.environ.get("BENCH_QUICK", "") not in ("", "0"))
    (OUT / "logs").mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or bootstrap_servers()
    began = time.monotonic()
    ctx = prepare(bootstrap, plan)
    try:
        results = measure(args, ctx)
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)  # the contenders' state folders
    results["elapsed_s"] = time.monotonic() - began
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str))
    markdown = report.markdown(results)
    (OUT / "results.md").write_text(markdown)
    if args.page:
        report.update_page(BENCHMARKS_PAGE, results)
    print(markdown)
    print(
        f"Written: {OUT / 'results.json'}, {OUT / 'results.md'} "
        f"({results['elapsed_s'] / 60:.1f} min)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
