"""Local table state survives a clean stop and is discarded after a crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streams.worker import CLEAN_STOP, discard_state_after_crash

ROOT = Path(__file__).resolve().parents[3]


def test_state_after_a_crash_is_discarded(tmp_path: Path) -> None:
    data = tmp_path / "worker"
    (data / "v1" / "tables").mkdir(parents=True)
    (data / "v1" / "tables" / "db").write_text("ahead of the changelog")
    discard_state_after_crash(data)
    assert data.is_dir() and list(data.iterdir()) == []


def test_state_after_a_clean_stop_is_kept_and_the_marker_is_consumed(tmp_path: Path) -> None:
    data = tmp_path / "worker"
    (data / "v1").mkdir(parents=True)
    (data / "v1" / "db").write_text("state")
    (data / CLEAN_STOP).touch()
    discard_state_after_crash(data)
    assert (data / "v1" / "db").read_text() == "state"
    assert not (data / CLEAN_STOP).exists()  # a crash in this run will count as unclean


def test_a_new_folder_is_made(tmp_path: Path) -> None:
    discard_state_after_crash(tmp_path / "new")
    assert (tmp_path / "new").is_dir()


_HUNG_STOP = """
import types, sys
import streams.worker as w
w.STOP_GRACE_S = 0.2
app = types.SimpleNamespace(should_stop=True, crash_reason={crash})
w._stop_watchdog(app)
sys.exit(99)  # not reached: the watchdog leaves the process itself
"""


@pytest.mark.parametrize(("crash", "code"), [("RuntimeError('boom')", 1), ("None", 0)])
def test_a_stop_that_hangs_leaves_non_zero_after_a_crash(crash: str, code: int) -> None:
    """A supervisor restarts a worker that exits non-zero: one that crashed and then hung
    while stopping must say so; one asked to stop leaves as asked."""
    done = subprocess.run([sys.executable, "-c", _HUNG_STOP.format(crash=crash)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == code, done.stderr
    assert "stop took over" in done.stderr
