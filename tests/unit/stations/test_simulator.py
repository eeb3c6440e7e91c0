"""The simulator's command line: a bad argument names itself and exits non-zero; events
the cluster never gets, or no cluster at all, end the run with an error that says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stations.simulator import MOST_HISTORY_DAYS, NotDelivered, Options, Simulator, parse_args

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rate", "0"], "must be positive"),
        (["--malformed", "1.5"], "share between 0 and 1"),
        (["--history-days", str(MOST_HISTORY_DAYS + 1)], "SCORER_MAX_EVENT_AGE_DAYS"),
    ],
)
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


def test_events_the_cluster_never_gets_stop_the_run_with_how_many() -> None:
    # A real librdkafka producer with nothing listening: each event times out after 1 s.
    simulator = Simulator("127.0.0.1:1", Options(stations=3, users=5), delivery_timeout_s=1)
    with pytest.raises(NotDelivered) as refused:
        simulator.publish_registry()
    said = str(refused.value)
    assert said.startswith("3 events did not reach the cluster at 127.0.0.1:1"), said
    assert "timed out" in said, said
    with pytest.raises(NotDelivered):  # and nothing more is produced after it
        simulator.publish_history()


def test_no_broker_is_an_error_that_names_it_not_a_hang() -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    command = [sys.executable, "-m", "stations.simulator", "--duration", "1"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: the Kafka cluster at 127.0.0.1:1 refused or failed the connection" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
