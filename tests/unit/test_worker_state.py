"""Local table state survives a clean stop and is discarded after a crash."""

from __future__ import annotations

from pathlib import Path

from streams.worker import CLEAN_STOP, discard_state_after_crash


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
