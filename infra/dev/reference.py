"""The reference pages of the docs, made from the code: settings, topics, metrics, alerts.

`python -m infra.dev.reference` writes them into docs/reference/;
`python -m infra.dev.reference --check` says which differ from what the code makes, as
tests/unit/test_reference_docs.py does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "reference"
RULES = ROOT / "infra" / "prometheus" / "rules.yml"
GENERATED = (
    "<!-- Made by `python -m infra.dev.reference` from the code; edit the code, not this page. -->"
)


def _cell(text: object) -> str:
    """A value fit for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _default(field: FieldInfo) -> str:
    """A setting's default as an operator reads it: paths inside the checkout relative to it."""
    value: Any = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, Path) and value.is_absolute() and value.is_relative_to(ROOT):
        value = value.relative_to(ROOT)
    return f"`{value}`"


def settings_page() -> str:
    """Every setting of the worker (the Kafka ones included) with its default and meaning."""
    from streams.settings import Settings

    rows = [
        (f"`{name.upper()}`", _default(field), field.description or "")
        for name, field in Settings.model_fields.items()
    ]
    return (
        f"# Settings\n\n{GENERATED}\n\n"
        "Every setting is an environment variable of the worker, read once at start and "
        "checked there: a bad value stops the worker with a message that names the "
        "variable. The tools of `infra/` and `stations/` read the Kafka ones too. "
        "[Settings and security](../operations/settings.md) explains how they fit together.\n\n"
        + _table(("variable", "default", "meaning"), rows)
        + "\n"
    )


def topics_page() -> str:
    """Every topic with its key, value schema, configuration and purpose."""
    from schemas import topics

    def config(spec: topics.TopicSpec) -> str:
        shared = "partitions: `SCORER_PARTITIONS`" if spec.co_partitioned else "partitions: 1"
        return "; ".join([shared, *(f"`{k}={v}`" for k, v in sorted(spec.config.items()))])

    rows = [
        (f"`{spec.name}`", spec.key, spec.value_schema, config(spec), spec.purpose)
        for spec in topics.ALL
    ]
    return (
        f"# Topics\n\n{GENERATED}\n\n"
        "Names as created without `SCORER_TOPIC_PREFIX`. Values are Avro in single-object "
        "encoding ([wire format](../producers/wire-format.md)) unless marked JSON.\n\n"
        + _table(("topic", "key", "value", "configuration", "purpose"), rows)
        + "\n"
    )


def _metric_rows(registry: CollectorRegistry) -> list[tuple[str, ...]]:
    rows = []
    for family in registry.collect():
        collector = registry._names_to_collectors.get(family.name)  # the labels live there
        labels = ", ".join(getattr(collector, "_labelnames", ()))
        name = family.name + ("_total" if family.type == "counter" else "")
        rows.append((f"`{name}`", family.type, labels or "–", family.documentation))
    return sorted(rows)


def metrics_page() -> str:
    """Every metric a worker serves at /metrics, its type, labels and meaning."""
    from streams import metrics
    from streams.web import front

    registry = CollectorRegistry()
    for source in (metrics.REGISTRY, front.REGISTRY):
        for collector in set(source._names_to_collectors.values()):
            registry.register(collector)
    return (
        f"# Metrics\n\n{GENERATED}\n\n"
        "Served by every worker at `/metrics`. Labels are bounded: never a customer, face "
        "or session id. Histograms also give `_bucket`, `_sum` and `_count` series.\n\n"
        + _table(("metric", "type", "labels", "meaning"), _metric_rows(registry))
        + "\n"
    )


def alerts_page() -> str:
    """Every recording and alerting rule of infra/prometheus/rules.yml."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    alerts = [
        (
            f"`{r['alert']}`",
            r.get("labels", {}).get("severity", ""),
            r.get("for", "at once"),
            r.get("annotations", {}).get("summary", ""),
        )
        for r in rules
        if "alert" in r
    ]
    records = [(f"`{r['record']}`", f"`{_cell(r['expr'])}`") for r in rules if "record" in r]
    return (
        f"# Alerts\n\n{GENERATED}\n\n"
        "From `infra/prometheus/rules.yml`, which Prometheus loads beside the scrape "
        "configuration; `promtool test rules` checks them against "
        "`infra/prometheus/rules_test.yml` in the suite.\n\n"
        "## Alerts\n\n"
        + _table(("alert", "severity", "firing after", "what it means"), alerts)
        + "\n\n## Recording rules\n\n"
        + _table(("series", "expression"), records)
        + "\n"
    )


MAKERS: dict[str, Callable[[], str]] = {
    "settings.md": settings_page,
    "topics.md": topics_page,
    "metrics.md": metrics_page,
    "alerts.md": alerts_page,
}


def stale(folder: Path = PAGES) -> list[str]:
    """The pages in `folder` that differ from what the code makes now."""
    return [
        name
        for name, make in MAKERS.items()
        if not (folder / name).is_file() or (folder / name).read_text() != make()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.dev.reference", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say which pages differ")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale()
        for name in differ:
            print(f"docs/reference/{name} differs from the code: run python -m infra.dev.reference")
        return 1 if differ else 0
    PAGES.mkdir(parents=True, exist_ok=True)
    for name, make in MAKERS.items():
        (PAGES / name).write_text(make())
        print(f"wrote docs/reference/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
