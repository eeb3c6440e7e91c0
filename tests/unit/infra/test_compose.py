"""docker-compose.yml cannot run here (no Docker engine); check that what it names exists."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from infra.kafka.settings import KafkaSettings
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_VERSION = KafkaSettings.model_fields["kafka_version"].default


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_kafka_image_is_the_pinned_release() -> None:
    assert _compose()["services"]["kafka"]["image"] == f"apache/kafka:{DEFAULT_VERSION}"


def test_every_built_image_and_mounted_file_exists() -> None:
    for name, service in _compose()["services"].items():
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in _compose().get("volumes", {}), f"{name}: volume {source}"


def test_every_setting_is_one_the_scorer_reads() -> None:
    known = {name.upper() for name in Settings.model_fields}
    for name, service in _compose()["services"].items():
        if not service.get("build"):
            continue  # official images have settings of their own
        for variable in service.get("environment", {}):
            assert variable in known, f"{name}: {variable} is not a setting"


def test_every_python_command_names_a_module_of_the_project() -> None:
    for name, service in _compose()["services"].items():
        command = service.get("command") or []
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, f"{name}: {command[2]}"
            path = ROOT / command[2].replace(".", "/")
            assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()


LOOPBACK = "${SCORER_PUBLISH_HOST:-127.0.0.1}:"


def test_published_ports_match_the_settings_and_bind_to_loopback() -> None:
    services = _compose()["services"]
    assert services["kafka"]["ports"] == [LOOPBACK + "9092:9092"]
    port = Settings.model_fields["scorer_web_port"].default
    assert services["worker"]["ports"] == [f"{LOOPBACK}{port}:{port}"]
    assert services["worker"]["environment"]["SCORER_WEB_PORT"] == str(port)
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published and all(p.startswith(LOOPBACK) for p in published), published


def test_the_simulator_waits_for_the_workers_group() -> None:
    services = _compose()["services"]
    command = services["simulator"]["command"]
    group = command[command.index("--wait-for-group") + 1]
    assert group == Settings.model_fields["scorer_app_id"].default
