"""The Prometheus configuration, rules and alert unit tests, checked by the real promtool
(Debian's prometheus package, installed by `make setup`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "infra" / "prometheus"
DASHBOARD = ROOT / "infra" / "grafana" / "dashboards" / "station-scorer.json"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: `make setup` installs Debian's prometheus package")
    return subprocess.run(
        [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )


def test_config_is_valid() -> None:
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_are_valid() -> None:
    done = promtool("check", "rules", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 rules found" in done.stdout


def test_every_alert_has_a_unit_test_and_they_pass() -> None:
    done = promtool("test", "rules", "rules_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = {
        line.split(":", 1)[1].strip()
        for line in (PROMETHEUS / "rules.yml").read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    tested = (PROMETHEUS / "rules_test.yml").read_text()
    assert alerts and all(f"alertname: {a}" in tested for a in alerts), alerts


NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def exported_series() -> set[str]:
    """Every series name the worker's metrics expose: prometheus-client names a counter's
    family without `_total`, so the names are built from each metric's type."""
    from streams import metrics

    return {m.name + suffix for m in metrics.REGISTRY.collect() for suffix in SUFFIXES[m.type]}


def _rules() -> list[dict[str, str]]:
    groups = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_query_names_only_series_the_scorer_exports_or_records() -> None:
    known = exported_series() | {r["record"] for r in _rules() if "record" in r}
    assert "scorer_events_consumed_total" in known and "scorer_events_consumed" not in known
    queries = [(r.get("record") or r["alert"], r["expr"]) for r in _rules()]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(panels) >= 12
    queries += [(p["title"], t["expr"]) for p in panels for t in p["targets"]]
    unknown = {
        (where, name)
        for where, expr in queries
        for name in NAME.findall(expr)
        if "scorer" in name and name not in known
    }
    assert not unknown
