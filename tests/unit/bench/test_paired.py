"""`make bench-ab`'s arguments: a base that names no commit is refused before anything runs."""

from __future__ import annotations

import pytest

from tests.bench import paired


def test_a_base_that_names_no_commit_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        paired.main(["--base", "no-such-commit-here"])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "BASE='no-such-commit-here' names no commit of this repository" in error


def test_a_commit_resolves_to_its_full_id() -> None:
    head = paired.commit_of("HEAD")
    assert len(head) == 40 and paired.commit_of(head[:12]) == head


@pytest.mark.parametrize("workers", ["0", "3", "two"])
def test_workers_other_than_one_or_two_are_refused_by_name(
    workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        paired.main(["--base", "HEAD", "--workers", workers])
    assert stop.value.code == 2
    assert f"--workers (or BENCH_AB_WORKERS) {workers!r}: 1 or 2" in capsys.readouterr().err
