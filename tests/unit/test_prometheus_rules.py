"""The Prometheus configuration, rules and alert unit tests, checked by the real promtool
(Debian's prometheus package, installed by `make setup`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "infra" / "prometheus"
DASHBOARD = ROOT / "infra" / "grafana" / "dashboards" / "station-scorer.json"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: `make setup` installs Debian's prometheus package")
    return subprocess.run([tool, *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_config_is_valid() -> None:
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_are_valid() -> None:
    done = promtool("check", "rules", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "11 rules found" in done.stdout


def test_every_alert_has_a_unit_test_and_they_pass() -> None:
    done = promtool("test", "rules", "rules_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = {line.split(":", 1)[1].strip() for line in (PROMETHEUS / "rules.yml").read_text()
              .splitlines() if line.strip().startswith("- alert:")}  # fmt: skip
    tested = (PROMETHEUS / "rules_test.yml").read_text()
    assert alerts and all(f"alertname: {a}" in tested for a in alerts), alerts


def test_dashboard_queries_name_only_metrics_the_scorer_exports() -> None:
    from streams import metrics

    exported = {m.name for m in metrics.REGISTRY.collect()}
    recorded = {line.split(":", 1)[1].strip() for line in (PROMETHEUS / "rules.yml").read_text()
                .splitlines() if line.strip().startswith("- record:")}  # fmt: skip
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(panels) >= 12
    for panel in panels:
        for target in panel["targets"]:
            expr = target["expr"]
            assert any(name in expr for name in exported | recorded), (panel["title"], expr)
