"""The changelog topics the worker creates are the ones Faust declares for its tables."""

from __future__ import annotations

import importlib

import faust


def test_every_table_changelog_is_declared_as_faust_would(scorer_app: faust.App) -> None:
    app = scorer_app
    changelog_topics = importlib.import_module("streams.tables").changelog_topics
    specs = {spec.name: spec for spec in changelog_topics()}
    assert set(specs) == {
        f"{app.conf.id}-pending-sessions-changelog",
        f"{app.conf.id}-user-history-changelog",
    }
    for table in app.tables.values():
        topic = table.changelog_topic
        spec = specs[topic.get_topic_name()]
        # Faust's own declaration: compacted, not deleting, no retention, the app's count.
        assert topic.compacting and not topic.deleting and topic.retention is None
        assert spec.config == {"cleanup.policy": "compact"} and spec.co_partitioned
        assert (topic.partitions or app.conf.topic_partitions) == app.conf.topic_partitions
