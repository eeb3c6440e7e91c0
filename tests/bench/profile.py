"""py-spy on a running contender: where its CPU time goes, as the top functions by own
time and by time including callees."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

SPY = Path(sys.executable).parent / "py-spy"


def start(pid: int, seconds: float, out: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Sample `pid` for `seconds` (100 Hz, native frames off) into out/profile.txt."""
    raw = out / "profile-scorer.txt"
    proc = subprocess.Popen(
        [
            str(SPY),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, raw


def finish(spy: tuple[subprocess.Popen[bytes], Path], top: int = 15) -> dict[str, Any]:
    proc, raw = spy
    _, err = proc.communicate(timeout=120)
    if not raw.is_file():
        return {"error": err.decode(errors="replace")[-500:]}
    return summarize(raw.read_text(), top)


def summarize(collapsed: str, top: int = 15) -> dict[str, Any]:
    """Top functions of py-spy's collapsed stacks ("a;b;c 12" per line)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_without_line(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    ours = [(f, share(n)) for f, n in inclusive.most_common() if _is_ours(f)]
    return {
        "samples": total,
        "own": [(f, share(n)) for f, n in own.most_common(top)],
        "inclusive": ours[:top],
    }


def _is_ours(frame: str) -> bool:
    """A frame of the project's code (py-spy names it by its path from the project root)."""
    name, _, where = frame.partition(" (")
    return where.startswith(("streams/", "model/", "schemas/")) and name not in ("<module>", "main")


def _without_line(frame: str) -> str:
    """`fn (path/to/module.py:12)` as `fn (path/to/module.py)`."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name
