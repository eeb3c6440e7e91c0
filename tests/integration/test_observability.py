"""A real Prometheus scrapes two real workers while the simulator runs: every dashboard
panel's query returns data, and the conversion rate Prometheus computes is the one counted
from scoring.conversions. What was seen goes to out/reports/<broker>/observability.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.kafka.admin import ensure_topics
from schemas import topics
from tests.integration.scorer import (
    PARTITIONS,
    ROOT,
    ScorerSetup,
    Worker,
    collect,
    free_port,
    report,
    wait_stable,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
RULES = ROOT / "infra" / "prometheus" / "rules.yml"
DASHBOARD = ROOT / "infra" / "grafana" / "dashboards" / "station-scorer.json"
#: Panels this run cannot fill: no shadow is promoted, and fewer sessions are served than
#: a PSI waits for (SCORER_DRIFT_MIN_SESSIONS); test_lifecycle.py fills both.
NEEDS_MORE = {
    "Shadow agreement (with a shadow only)",
    "Input drift, PSI per input",
    "Log loss, served and shadow on the same sessions (with a shadow only)",
}


class Prometheus:
    def __init__(self, folder: Path, targets: list[str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is missing: `make setup` installs Debian's package")
        self.port = free_port()
        config = folder / "prometheus.yml"
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {"job_name": "scorer", "static_configs": [{"targets": targets}]}
                    ],
                }
            )
        )
        self.log = (folder / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def wait_until(self, expr: str, check: Any, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                result = self.query(expr)
                if check(result):
                    return result
            except OSError:
                pass
            time.sleep(1)
        raise AssertionError(f"{expr}: {result}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture
def deployment(
    kafka_bootstrap: str, trained_model: Path, customer_model: Path, tmp_path: Path
) -> Iterator[tuple[ScorerSetup, Prometheus]]:
    setup = ScorerSetup(
        kafka_bootstrap,
        trained_model,
        tmp_path,
        customer_model,
        settings={"scorer_conversion_window_s": 8},
    )
    ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    workers = [Worker(setup, "w1").start(), Worker(setup, "w2").start()]
    wait_stable(workers)
    prometheus = Prometheus(tmp_path, [f"127.0.0.1:{w.port}" for w in workers])
    yield setup, prometheus
    prometheus.stop()
    for w in workers:
        w.stop()


def _number(result: list[dict[str, Any]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_every_panel_has_data_and_the_conversion_rate_matches_the_topic(
    deployment: tuple[ScorerSetup, Prometheus],
) -> None:
    setup, prometheus = deployment
    summary = setup.base / "sent.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stations.simulator",
            "--rate",
            "30",
            "--duration",
            "15",
            "--users",
            "300",
            "--stations",
            "10",
            "--history-days",
            "60",
            "--order-delay",
            "1",
            "4",
            "--malformed",
            "0.05",
            "--seed",
            "11",
            "--summary",
            str(summary),
        ],
        cwd=ROOT,
        env=setup.env("simulator", 0),
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sent = json.loads(summary.read_text())
    sessions = set(sent["session_ids"])
    outcomes = collect(
        setup,
        topics.CONVERSIONS,
        lambda cs: sessions <= {c["session_id"] for c in cs},
        timeout=120,
        settle=3,
    )
    decided = {c["session_id"]: c["outcome"] for c in outcomes}
    assert len(outcomes) == len(decided) == len(sessions), "one outcome per session"
    converted = sum(1 for o in decided.values() if o.startswith("CONVERTED"))
    topic_rate = converted / len(decided)

    total = prometheus.wait_until(
        "sum(scorer_conversions_total)", lambda r: r and _number(r) == len(sessions)
    )
    assert _number(total) == len(sessions)
    # Each malformed event is one dead letter, and nothing else is one (no good event).
    assert sent["malformed"] > 0
    letters = prometheus.wait_until(
        "sum(scorer_dead_letters_total)", lambda r: r and _number(r) >= sent["malformed"]
    )
    time.sleep(3)  # a few more scrapes: a dead letter too many would show now
    assert _number(prometheus.query("sum(scorer_dead_letters_total)")) == sent["malformed"], letters
    rate = _number(prometheus.wait_until("scorer:conversion_rate:ratio", bool))
    assert rate == pytest.approx(topic_rate, abs=1e-12)
    top = sum(1 for o in decided.values() if o == "CONVERTED_TOP_PICK") / len(decided)
    assert _number(prometheus.query("scorer:top_pick_conversion_rate:ratio")) == pytest.approx(top)

    panels: dict[str, dict[str, Any]] = {}
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            if panel["title"] in NEEDS_MORE:  # a valid query, with no data in this run
                prometheus.query(target["expr"])
                continue
            result = prometheus.wait_until(target["expr"], bool, timeout=30)
            panels[f"{panel['title']} / {target['legendFormat']}"] = {
                "series": len(result),
                "first": result[0]["value"][1],
            }
    seen = {
        "sessions": len(sessions),
        "malformed_sent": sent["malformed"],
        "conversion_rate_topic": topic_rate,
        "conversion_rate_prometheus": rate,
        "top_pick_rate_topic": top,
        "panels": panels,
    }
    report("observability", seen)
