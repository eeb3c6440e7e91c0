"""`make soak`: the scorer under the stations' load for 20 minutes, with failures on purpose.

Two workers of one group on a broker of the soak's own (the project's launcher, a folder
of its own); the station simulator at `--rate` sessions/s (default: half the highest rate
the scorer held in the full bench on docs/development/benchmarks.md) for `--minutes`. Every
`--kill-every` seconds
one worker, in turn, is killed with SIGKILL and started again 3 s later; half way through,
the broker is stopped and started again on the same data. Every 10 s each worker's
resident memory and the state it holds (scorer_state_entries) are sampled.

At the end, read back from the topics (read_committed): every session sent has a
recommendation (0 lost), at most 0.1% of them twice, every recommended session has one
conversion outcome, and every user's history (/users, each of them) counts exactly the
orders sent. Memory and state are bounded when the peaks of the run's last third are not
above those of its middle third by more than 10% (memory) and 20% (state).

Results: out/soak/results.json and out/soak/results.md, beside the workers' logs; the exit
status is 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from infra.kafka.admin import ensure_topics
from schemas import topics
from tests.integration.scorer import (
    PARTITIONS,
    ROOT,
    OwnBroker,
    ScorerSetup,
    Worker,
    collect,
    orders_of,
    simulate,
    wait_stable,
)

OUT = ROOT / "out" / "soak"
HELD_RATE = 340  # the highest rate the scorer held in a full bench (docs/development/benchmarks.md)
SAMPLE_S = 10
# Windows short enough that the state fills and turns over several times in a soak.
CONVERSION_WINDOW_S = 120
SETTINGS: dict[str, object] = {
    "scorer_conversion_window_s": CONVERSION_WINDOW_S,
    "scorer_dedup_window_s": 300,
}


@dataclass
class Soak:
    workers: list[Worker]
    broker: OwnBroker
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def at(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def sample(self) -> None:
        for w in self.workers:
            if w.proc is None or w.proc.poll() is not None:
                continue
            try:
                rss = psutil.Process(w.proc.pid).memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                continue
            state = {dict(k)["state"]: v for k, v in w.samples("scorer_state_entries").items()}
            self.samples.append(
                {"t": self.at(), "worker": w.name, "rss_mb": round(rss, 1), "state": state}
            )

    def kill_and_restart(self, w: Worker) -> None:
        w.stop(signal.SIGKILL)
        self.events.append({"t": self.at(), "event": f"SIGKILL {w.name}"})
        time.sleep(3)
        w.start()
        self.events.append({"t": self.at(), "event": f"started {w.name}"})

    def restart_broker(self) -> None:
        self.events.append({"t": self.at(), "event": "broker stopped"})
        self.broker.stop()
        self.broker.start()
        self.events.append({"t": self.at(), "event": "broker started"})


def _schedule(seconds: float, kill_every: float) -> list[tuple[float, str]]:
    """(when, what): a kill every `kill_every` s, the broker's restart half way (moved off
    a kill by 45 s when they would meet)."""
    plan = [
        (k * kill_every, "kill")
        for k in range(1, int(seconds // kill_every) + 1)
        if k * kill_every < seconds - 30
    ]
    middle = seconds / 2
    if any(abs(middle - t) < 45 for t, _ in plan):
        middle += 45
    return sorted([*plan, (middle, "broker")])


def _peaks(samples: list[dict[str, Any]], seconds: float) -> dict[str, dict[str, float]]:
    """Peak total (both workers) of memory and of each state, in the run's middle and
    last thirds."""
    out: dict[str, dict[str, float]] = {}
    for name, lo, hi in (
        ("middle", seconds / 3, 2 * seconds / 3),
        ("last", 2 * seconds / 3, seconds),
    ):
        totals: dict[float, Counter[str]] = {}
        for s in samples:
            if lo <= s["t"] < hi:
                t = s["t"] // SAMPLE_S
                totals.setdefault(t, Counter())["rss_mb"] += s["rss_mb"]
                totals[t].update(s["state"])
        out[name] = (
            {k: max(c[k] for c in totals.values()) for k in set().union(*totals.values())}
            if totals
            else {}
        )
    return out


def _all_of(expected: set[str]) -> Callable[[list[dict[str, Any]]], bool]:
    """`collect`'s test that every session in `expected` has a record, at the cost of the
    records read since it was last asked (a soak reads hundreds of thousands)."""
    missing, read = set(expected), 0

    def until(records: list[dict[str, Any]]) -> bool:
        nonlocal read
        for record in records[read:]:
            missing.discard(record["session_id"])
        read = len(records)
        return not missing

    return until


def _histories(workers: list[Worker], expected: dict[str, int]) -> dict[str, Any]:
    """Users whose /users count differs from what was sent, asked again for up to 120 s."""
    deadline = time.monotonic() + 120
    wrong: dict[str, Any] = dict.fromkeys(expected)
    while wrong and time.monotonic() < deadline:
        w = next(w for w in workers if w.proc is not None and w.proc.poll() is None)
        answers = {u: orders_of(w.get(f"/users/{u}")[1]) for u in wrong}
        wrong = {u: got for u, got in answers.items() if got != expected[u]}
        if wrong:
            time.sleep(3)
    return {u: {"history": got, "sent": expected[u]} for u, got in wrong.items()}


def run(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    broker = OwnBroker(base / "broker")
    bootstrap = broker.start()
    setup = ScorerSetup(bootstrap, args.model, base, args.customers, settings=SETTINGS)
    ensure_topics(bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    workers = [Worker(setup, "w1").start(), Worker(setup, "w2").start()]
    soak = Soak(workers, broker)
    try:
        wait_stable(workers)
        seconds = args.minutes * 60
        summary_path = base / "sent.json"
        sim = simulate(
            setup,
            summary_path,
            duration=seconds,
            seed=args.seed,
            rate=args.rate,
            users=args.users,
            order_delay_s=(5, 60),
        )
        soak.started = time.monotonic()
        plan, kills = _schedule(seconds, args.kill_every), 0
        while sim.poll() is None:
            if plan and soak.at() >= plan[0][0]:
                _, what = plan.pop(0)
                if what == "broker":
                    soak.restart_broker()
                else:
                    soak.kill_and_restart(workers[kills % 2])
                    kills += 1
            soak.sample()
            time.sleep(SAMPLE_S)
        simulator_rc = sim.wait()
        sent = json.loads(summary_path.read_text())
        expected = set(sent["session_ids"])
        recs = collect(setup, topics.RECOMMENDATIONS, _all_of(expected), timeout=600, settle=10)
        per_session = Counter(r["session_id"] for r in recs)
        outcomes = collect(
            setup,
            topics.CONVERSIONS,
            _all_of(set(per_session)),
            timeout=CONVERSION_WINDOW_S + 300,
            settle=5,
        )
        per_outcome = Counter(c["session_id"] for c in outcomes)
        wrong = _histories(workers, sent["orders_per_user"])
        soak.sample()
        alive = [w.name for w in workers if w.proc is not None and w.proc.poll() is None]
    finally:
        for w in workers:
            if w.proc is not None and w.proc.poll() is None:
                w.stop()
        broker.stop()
    repeated = sum(1 for n in per_session.values() if n > 1)
    return {
        "rate": args.rate,
        "minutes": args.minutes,
        "kill_every_s": args.kill_every,
        "settings": SETTINGS,
        "simulator_rc": simulator_rc,
        "workers_alive_at_end": alive,
        "sessions_sent": len(expected),
        "orders_sent": sent["orders"],
        "recommendations": sum(per_session.values()),
        "lost": len(expected - set(per_session)),
        "repeated_sessions": repeated,
        "repeated_share": repeated / max(1, len(expected)),
        "recommended_without_outcome": len(set(per_session) - set(per_outcome)),
        "sessions_with_two_outcomes": sum(1 for n in per_outcome.values() if n > 1),
        "users": len(sent["orders_per_user"]),
        "users_with_wrong_history": len(wrong),
        "wrong_histories": dict(list(wrong.items())[:20]),
        "events": soak.events,
        "repeated_examples": _examples(recs, per_session),
        "two_outcome_examples": _examples(outcomes, per_outcome),
        "peaks": _peaks(soak.samples, seconds),
        "samples": soak.samples,
    }


def _examples(
    records: list[dict[str, Any]], per_session: Counter[str], most: int = 20
) -> dict[str, list[dict[str, Any]]]:
    """Every record of up to `most` sessions that have more than one, to tell why."""
    twice = [sid for sid, n in per_session.items() if n > 1][:most]
    out: dict[str, list[dict[str, Any]]] = {sid: [] for sid in twice}
    for record in records:
        if record["session_id"] in out:
            out[record["session_id"]].append(
                {k: str(v) for k, v in record.items() if k != "ranking"}
            )
    return out


def goals(r: dict[str, Any]) -> dict[str, bool]:
    middle, last = r["peaks"]["middle"], r["peaks"]["last"]
    states = [k for k in middle if k != "rss_mb"]
    return {
        "simulator_finished": r["simulator_rc"] == 0,
        "both_workers_alive": len(r["workers_alive_at_end"]) == 2,
        "none_lost": r["lost"] == 0,
        "at_most_0.1%_repeated": r["repeated_share"] <= 0.001,
        "one_outcome_each": r["recommended_without_outcome"] == 0
        and r["sessions_with_two_outcomes"] == 0,
        "every_history_exact": r["users_with_wrong_history"] == 0,
        "memory_bounded": bool(middle) and last.get("rss_mb", 0) <= 1.1 * middle["rss_mb"],
        "state_bounded": bool(states)
        and all(last.get(k, 0) <= 1.2 * middle[k] + 10 for k in states),
    }


def markdown(r: dict[str, Any], met: dict[str, bool]) -> str:
    lines = [
        f"Soak of {r['finished']}: {r['minutes']} min at {r['rate']:g} sessions/s, "
        f"two workers, SIGKILL every {r['kill_every_s']:g} s in turn, one broker restart.",
        "",
        "| figure | value |",
        "|---|---:|",
    ]
    for key in (
        "sessions_sent",
        "recommendations",
        "lost",
        "repeated_sessions",
        "recommended_without_outcome",
        "sessions_with_two_outcomes",
        "orders_sent",
        "users",
        "users_with_wrong_history",
    ):
        lines.append(f"| {key.replace('_', ' ')} | {r[key]:,} |")
    for third in ("middle", "last"):
        peaks = r["peaks"][third]
        state = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(peaks.items()) if k != "rss_mb")
        lines.append(f"| peak in the {third} third | {peaks.get('rss_mb', 0):,.0f} MB; {state} |")
    lines += ["", "Goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tests.soak.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, default=ROOT / "out" / "model")
    p.add_argument("--customers", type=Path, default=ROOT / "out" / "customers")
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--rate", type=float, default=HELD_RATE / 2, help="sessions per second")
    p.add_argument("--kill-every", type=float, default=180, help="seconds between kills")
    p.add_argument("--users", type=int, default=500)
    p.add_argument("--seed", type=int, default=23)
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.kill_every < 30 or args.users < 1:
        p.error("--minutes and --rate must be positive, --kill-every at least 30, --users >= 1")
    for folder, made_by in ((args.model, "make model"), (args.customers, "make customers")):
        if not folder.is_dir():
            p.error(f"{folder} holds no model: run `{made_by}` first")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        try:
            result = run(args, Path(tmp))
        finally:  # the workers' logs, for whatever the figures show
            for log in Path(tmp).glob("*.log"):
                shutil.copy(log, OUT / log.name)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    met = goals(result)
    result["goals"] = met
    (OUT / "results.json").write_text(json.dumps(result, indent=2))
    (OUT / "results.md").write_text(markdown(result, met))
    print(markdown(result, met))
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
