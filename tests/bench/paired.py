"""`make bench-ab BASE=<commit>`: the scorer of BASE and of the working tree, draining two
copies of one input side by side.

This host's speed drifts by up to twice within a minute (a fixed Python loop took
0.38-0.72 s of CPU, one run after another, the machine otherwise idle), so drains run one
after the other differ by more than most changes do: five quick benches of two commits
that differ by a few microseconds a session drained 4,852-6,283 sessions/s. Side by side,
both workers meet the same host speed and the same broker, so the ratio of their rates is
the change's. Each round starts them in the other order.

With BENCH_AB_WORKERS=2 (`--workers 2`), each side is two workers of one group, so that
what only two workers cost (the sessions one sends the other) is compared; the window
starts once every worker holds partitions. Four workers then share the host's cores:
the ratio says which tree costs less, not how two workers scale against one (`make bench`).

Results: out/bench/paired.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infra.kafka.cluster import bootstrap_servers
from schemas import topics
from tests.bench import workload
from tests.bench.measure import GroupWatch, TopicCount
from tests.bench.run import OUT, ROOT, Running, contenders, topic_count_when_made

SESSIONS = 300_000
WARMUP_S = 8.0
WINDOW_S = 40.0
ROUNDS = 2


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout.strip()


def commit_of(ref: str) -> str:
    """The commit `ref` names (ValueError naming it when it names none)."""
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ValueError:
        raise ValueError(f"BASE={ref!r} names no commit of this repository") from None


@contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """A detached worktree of `commit`, removed afterwards."""
    where = Path(tempfile.mkdtemp(prefix="bench-base-"))
    _git("worktree", "add", "--detach", "--force", str(where), commit)
    try:
        yield where
    finally:
        _git("worktree", "remove", "--force", str(where))


def one_round(
    bootstrap: str,
    trees: list[tuple[str, Path]],
    load: workload.Workload,
    tag: str,
    model: Path,
    customers: Path,
    workers: int = 1,
) -> dict[str, dict[str, float]]:
    """Start `workers` scorers of one group per tree, each tree on its own copy of `load`,
    at once; their rates and CPU per 1000 over the same window after the warm-up."""
    scorer = next(c for c in contenders(model, customers) if c.name == "scorer")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    prefixes = [f"{tag}-{i}." for i in range(len(trees))]
    for prefix in prefixes:
        workload.create_topics(bootstrap, prefix, [])
        workload.publish_registry(bootstrap, prefix, load)
        workload.produce(
            workload.new_producer(bootstrap),
            topics.named(topics.SESSIONS, prefix),
            iter(load.sessions),
        )
    OUT.joinpath("logs").mkdir(parents=True, exist_ok=True)
    groups = [f"bench-ab-{tag}-{i}" for i in range(len(trees))]
    sides = [
        [
            Running(
                scorer,
                bootstrap,
                prefix,
                tmp,
                OUT / "logs" / f"ab-{label}-{w}.log",
                {"scorer_data_dir": tmp / f"{group}-{w}"},
                group=group,
                cwd=tree,
            )
            for w in range(workers)
        ]
        for (label, tree), prefix, group in zip(trees, prefixes, groups, strict=True)
    ]
    watches = [GroupWatch(bootstrap, group) for group in groups] if workers > 1 else []
    runs = [side[0] for side in sides]
    everyone = [run for side in sides for run in side]
    made: list[TopicCount | None] = [None] * len(runs)
    try:
        began = time.monotonic()
        while not (all(made) and all(w.members_working() == workers for w in watches)):
            for i, run in enumerate(runs):
                run.check()
                made[i] = made[i] or topic_count_when_made(bootstrap, run.output)
            if time.monotonic() - began > 180:
                raise RuntimeError("no output topic, or not every worker in its group, in 180 s")
            time.sleep(0.2)
        counts = [count for count in made if count is not None]
        samples = _sample(sides, counts, len(load.sessions))
    finally:
        for run in everyone:
            run.stop()
        for count in made:
            if count is not None:
                count.close()
        shutil.rmtree(tmp, ignore_errors=True)
    (t0, start), (t1, end) = samples
    return {
        label: {
            "eps": (e[0] - s[0]) / (t1 - t0),
            "cpu_s_per_1k": (e[1] - s[1]) / max(1, e[0] - s[0]) * 1000,
            "window_s": t1 - t0,
        }
        for (label, _), s, e in zip(trees, start, end, strict=True)
    }


Sample = tuple[float, list[tuple[int, float]]]


def _sample(
    sides: list[list[Running]], counts: list[TopicCount], total: int
) -> tuple[Sample, Sample]:
    """(time, [(outputs, CPU s) per side]) once every side has output and the warm-up is
    over, and at the window's end (or when a side has drained everything)."""
    first = start = None
    while True:
        for side in sides:
            for run in side:
                run.check()
        now = time.monotonic()
        row = [
            (count(), sum(run.probe.cpu_seconds() for run in side))
            for count, side in zip(counts, sides, strict=True)
        ]
        if first is None and all(done > 0 for done, _ in row):
            first = now
        if first is not None and start is None and now - first >= WARMUP_S:
            start = (now, row)
        if start is not None and (
            now - start[0] >= WINDOW_S or any(done >= total for done, _ in row)
        ):
            return start, (now, row)
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--model", type=Path, default=ROOT / "out" / "model")
    parser.add_argument("--customers", type=Path, default=ROOT / "out" / "customers")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument(
        "--workers",
        default=os.environ.get("BENCH_AB_WORKERS", "1"),
        help="workers a side, 1 or 2 (default: BENCH_AB_WORKERS, else 1)",
    )
    args = parser.parse_args(argv)
    try:
        base = commit_of(args.base)
    except ValueError as exc:
        parser.error(str(exc))
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: at least 1")
    if args.workers not in ("1", "2"):
        parser.error(f"--workers (or BENCH_AB_WORKERS) {args.workers!r}: 1 or 2")
    workers = int(args.workers)
    # absolute: BASE's worker runs in its worktree
    model, customers = args.model.resolve(), args.customers.resolve()
    if not (model / "artifact.json").is_file():
        parser.error(f"no model in {model}: run `make model` first")
    if not (customers / "customers.json").is_file():
        parser.error(f"no customer model in {customers}: run `make customers` first")
    head = commit_of("HEAD")
    here = head[:7] + ("+changes" if _git("status", "--porcelain", "--untracked-files=no") else "")
    bootstrap = bootstrap_servers()
    load = workload.build(SESSIONS, "ab")
    rounds = []
    with checkout(base) as base_tree:
        pair = [(f"base {base[:7]}", base_tree), (f"this {here}", ROOT)]
        for i in range(args.rounds):
            order = pair if i % 2 == 0 else pair[::-1]
            tag = f"ab{time.strftime('%H%M%S')}r{i}"
            result = one_round(bootstrap, order, load, tag, model, customers, workers)
            rounds.append(result)
            print(
                f"round {i + 1}: "
                + "; ".join(
                    f"{label} {r['eps']:,.0f}/s at {r['cpu_s_per_1k']:.3f} CPU s/1k"
                    for label, r in result.items()
                ),
                flush=True,
            )
    (base_label, _), (this_label, _) = pair
    ratios = [r[this_label]["eps"] / r[base_label]["eps"] for r in rounds]
    cpu = [r[this_label]["cpu_s_per_1k"] / r[base_label]["cpu_s_per_1k"] for r in rounds]
    summary: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "base": base,
        "this": here,
        "sessions": SESSIONS,
        "workers": workers,
        "warmup_s": WARMUP_S,
        "window_s": WINDOW_S,
        "rounds": rounds,
        "rate_ratios": ratios,
        "cpu_ratios": cpu,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "paired.json").write_text(json.dumps(summary, indent=2))
    shown = ", ".join(f"rate ×{r:.3f} CPU ×{c:.3f}" for r, c in zip(ratios, cpu, strict=True))
    print(f"{this_label} against {base_label}, round by round: {shown}")
    print(f"Written: {OUT / 'paired.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
