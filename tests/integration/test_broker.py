"""The project's broker launcher, run as `make broker` runs it, in a folder of its own.

The session's broker already holds the default port, so this second broker also proves
that the launcher takes another free port when the default is busy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.dev import broker
from infra.kafka.settings import kafka_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker_dir(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Path]:
    folder = tmp_path / "broker"
    yield folder
    _cli(folder, "stop")


def _cli(folder: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCORER_BROKER_DIR": str(folder)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.run(
        [sys.executable, "-m", "infra.dev.broker", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _state(folder: Path) -> dict:
    return json.loads((folder / "broker.json").read_text())


@pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")), reason="external cluster")
def test_start_is_idempotent_and_survives_sigkill(broker_dir: Path, kafka_bootstrap: str) -> None:
    first = _cli(broker_dir, "start")
    assert first.returncode == 0, first.stderr
    assert "started in" in first.stdout
    state = _state(broker_dir)
    assert f"127.0.0.1:{state['port']}" != kafka_bootstrap  # default port was busy
    assert broker.metadata_ok(f"127.0.0.1:{state['port']}")

    again = _cli(broker_dir, "start")
    assert again.returncode == 0 and "already running" in again.stdout
    assert _state(broker_dir)["pid"] == state["pid"]

    os.kill(state["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{state['pid']}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _cli(broker_dir, "status").returncode == 3  # stale pid is recognised
    restarted = _cli(broker_dir, "start")
    assert restarted.returncode == 0, restarted.stderr
    assert _state(broker_dir)["pid"] != state["pid"]
    assert broker.metadata_ok(f"127.0.0.1:{_state(broker_dir)['port']}")

    stopped = _cli(broker_dir, "stop")
    assert "Kafka stopped" in stopped.stdout
    assert _cli(broker_dir, "stop").stdout.strip() == "Kafka was not running"
    assert _cli(broker_dir, "status").returncode == 3


@pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")), reason="external cluster")
def test_a_port_taken_after_it_was_found_free_is_not_taken_for_this_broker(
    tmp_path: Path,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two brokers starting at once (the suite's two Kafka versions) can both find the
    default port free. Here the launcher is told the session broker's port is free: its
    JVM fails to bind it, and the session broker answers there. The launcher must see
    another cluster's id, not call that started, and start again on another port."""
    folder = tmp_path / "broker"
    folder.mkdir()
    taken = int(kafka_bootstrap.rsplit(":", 1)[1])
    (folder / "ports.json").write_text(json.dumps({"port": taken}))
    monkeypatch.setenv("SCORER_BROKER_DIR", str(folder))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    kafka_settings.cache_clear()
    free = broker._port_free
    monkeypatch.setattr(broker, "_port_free", lambda port: port == taken or free(port))
    try:
        state = broker.start()
        assert state.port != taken, state
        assert broker.cluster_at(state.bootstrap) == broker.own_cluster()
        assert broker.own_cluster() not in (None, broker.cluster_at(kafka_bootstrap))
        assert f"port {taken} is answered by another Kafka cluster" in capsys.readouterr().out
    finally:
        broker.stop()
        kafka_settings.cache_clear()


def test_bad_version_is_refused_with_the_variable_named() -> None:
    env = {**os.environ, "KAFKA_VERSION": "latest"}
    done = subprocess.run(
        [sys.executable, "-m", "infra.dev.broker", "start"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "KAFKA_VERSION='latest'" in done.stderr
