"""Settings: read once, typed, and a bad value names its variable and the value."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from infra.kafka.settings import KafkaSettings, SettingsError, load_settings
from infra.worker_env import worker_env
from schemas.errors import ScorerError
from streams.settings import RETIRED, Settings, retired, settings


def test_a_bad_value_names_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORER_PARTITIONS", "0")
    monkeypatch.setenv("KAFKA_VERSION", "latest")
    with pytest.raises(SettingsError) as caught:
        load_settings(Settings)
    assert "SCORER_PARTITIONS='0'" in str(caught.value)
    assert "KAFKA_VERSION='latest'" in str(caught.value)
    assert isinstance(caught.value, ScorerError) and caught.value.reason == "bad_setting"


def test_the_worker_extends_the_kafka_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORER_CACHE_DIR", "/tmp/cache")
    monkeypatch.delenv("SCORER_BROKER_DIR", raising=False)
    conf = load_settings(Settings)
    assert isinstance(conf, KafkaSettings) and conf.broker_dir == Path("/tmp/cache/broker")
    monkeypatch.setenv("SCORER_BROKER_DIR", "/tmp/b")
    assert load_settings(KafkaSettings).broker_dir == Path("/tmp/b")


def test_a_silent_worker_leaves_the_group_after_the_session_timeout(
    scorer_app: faust.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's consumer takes SCORER_SESSION_TIMEOUT_S, not Faust's 60 s, and heartbeats
    at least three times in it; under the broker's least (6 s) is refused by name."""
    timeout = settings().scorer_session_timeout_s
    assert scorer_app.conf.broker_session_timeout == timeout < 60
    assert scorer_app.conf.broker_heartbeat_interval <= timeout / 3
    monkeypatch.setenv("SCORER_SESSION_TIMEOUT_S", "5")
    with pytest.raises(SettingsError, match="SCORER_SESSION_TIMEOUT_S='5'"):
        load_settings(Settings)


def test_the_worker_env_names_only_worker_settings() -> None:
    env = worker_env("127.0.0.1:1", scorer_web_port=8828, scorer_model_dir=Path("m"))
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1"
    assert env["SCORER_WEB_PORT"] == "8828" and env["SCORER_MODEL_DIR"] == "m"
    fields = set(Settings.model_fields)
    assert {"scorer_web_port", "scorer_model_dir"} <= fields
    with pytest.raises(ScorerError, match="'web_port' is not a setting"):
        worker_env("127.0.0.1:1", web_port=1)


def test_the_web_token_comes_from_the_file_first_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCORER_WEB_TOKEN", "")  # compose's unset variable
    assert load_settings(Settings).web_token() is None
    monkeypatch.setenv("SCORER_WEB_TOKEN", "tiny-secret")
    with pytest.raises(SettingsError) as caught:
        load_settings(Settings)
    assert "SCORER_WEB_TOKEN=(hidden)" in str(caught.value)
    assert "tiny-secret" not in str(caught.value)
    monkeypatch.setenv("SCORER_WEB_TOKEN", "from-the-environment-0123")
    conf = load_settings(Settings)
    assert conf.web_token() == "from-the-environment-0123"
    assert "from-the-environment" not in repr(conf)
    (tmp_path / "token").write_text("from-the-file-0123456789\n")
    monkeypatch.setenv("SCORER_WEB_TOKEN_FILE", str(tmp_path / "token"))
    assert load_settings(Settings).web_token() == "from-the-file-0123456789"
    (tmp_path / "token").write_text("short\n")
    with pytest.raises(SettingsError, match="at least 16 characters") as caught:
        load_settings(Settings).web_token()
    assert "short" not in str(caught.value)
    monkeypatch.setenv("SCORER_WEB_TOKEN_FILE", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsError, match=r"SCORER_WEB_TOKEN_FILE=.*cannot be read"):
        load_settings(Settings).web_token()


def test_a_variable_no_longer_read_is_said_with_what_took_its_place() -> None:
    said = retired({"SCORER_BATCH_WAIT_MS": "5", "SCORER_BATCH_MAX": "64"})
    assert said == [
        "SCORER_BATCH_WAIT_MS is no longer read: a micro-batch is what is queued "
        "when the agent takes it, up to SCORER_BATCH_MAX, with no wait to fill it "
        "(streams/batching.py)"
    ]
    assert retired({"SCORER_BATCH_MAX": "64"}) == []
    assert not {name.lower() for name in RETIRED} & set(Settings.model_fields)
