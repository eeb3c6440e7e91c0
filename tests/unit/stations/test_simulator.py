"""The simulator's command line: a bad argument names itself and exits non-zero."""

from __future__ import annotations

import pytest

from stations.simulator import MOST_HISTORY_DAYS, parse_args


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--rate", "0"], "must be positive"), (["--malformed", "1.5"], "share between 0 and 1"),
     (["--history-days", str(MOST_HISTORY_DAYS + 1)], "SCORER_MAX_EVENT_AGE_DAYS")],
)  # fmt: skip
def test_a_bad_argument_is_refused_with_why(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        parse_args(args)
    assert stop.value.code == 2 and words in capsys.readouterr().err


def test_good_arguments_are_taken() -> None:
    options, summary, group, truth = parse_args(["--rate", "40", "--history-days", "60"])
    assert options.rate == 40 and options.history_days == 60
    assert summary is None and group is None and truth is None
