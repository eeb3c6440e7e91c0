"""Local table state survives a clean stop and is discarded after a crash; the outlook
artifact is optional, and a bad one stops the start with the reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from model.mlp.artifact import ArtifactError
from model.outlook import artifact as outlook_artifact
from streams.worker import CLEAN_STOP, discard_state_after_crash, load_outlook

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
    done = subprocess.run(
        [sys.executable, "-c", _HUNG_STOP.format(crash=crash)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    assert "stop took over" in done.stderr


_FROZEN = """
import gc, weakref
from streams.worker import YOUNG_COLLECTION_EVERY, leave_out_of_collections

class Node:
    pass

def cycle():
    node = Node()
    node.self = node
    return weakref.ref(node)

kept = [Node() for _ in range(1000)]
gone_before = cycle()  # garbage of the start: collected, not frozen with the rest
leave_out_of_collections()
tracked = {id(o) for o in gc.get_objects()}
print(gone_before() is None, sum(id(n) in tracked for n in kept), gc.get_freeze_count() > 1000)
runs = []
def count(phase, info):
    if phase == "stop":
        runs.append(info["generation"])
gc.callbacks.append(count)
gone_after = cycle()  # garbage of the running worker: still collected, by the collector itself
short_lived = [[Node() for _ in range(10)] for _ in range(1500)]  # a batch in flight
del short_lived
print(runs == [], gone_after() is None)
living = [Node() for _ in range(YOUNG_COLLECTION_EVERY)]
print(sorted(set(runs)), gone_after() is None)
"""


def test_what_lives_at_the_start_is_left_out_of_collections_and_later_cycles_are_not() -> None:
    """Full collections skip the objects that live as long as the worker; a cycle made
    before the freeze is collected then, and one made after it by the next young
    collection, which 16,500 short-lived objects do not bring (700 would)."""
    done = subprocess.run(
        [sys.executable, "-c", _FROZEN], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True 0 True", "True False", "[0] True"]


def test_the_outlook_is_optional_and_a_bad_one_stops_the_start(
    tmp_path: Path, outlook_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert load_outlook(tmp_path / "none") is None
    assert "profiles carry no next month's class" in caplog.text
    served = load_outlook(outlook_model)
    assert served is not None and served.version.startswith("outlook-20261203-")
    bad = tmp_path / "bad"
    shutil.copytree(outlook_model, bad)
    (bad / outlook_artifact.WEIGHTS).write_bytes(b"not torch")
    with pytest.raises(ArtifactError, match="corrupt"):
        load_outlook(bad)
    longer = tmp_path / "longer"
    outlook_artifact.save(
        longer, replace(served, data={**served.data, "months": 24}), "2026-12-03T12:00:00+00:00"
    )
    with pytest.raises(ArtifactError, match="series of 24 months; a user history keeps 18"):
        load_outlook(longer)
