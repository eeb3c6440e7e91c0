"""The bench's wide Faust passthrough reads what the worker's agents read."""

from __future__ import annotations

import importlib

import faust

from schemas import topics
from streams.settings import settings
from tests.bench.contenders.faust_passthrough import SCORER_INPUTS


def test_the_wide_passthrough_reads_the_topics_of_the_workers_agents(scorer_app: faust.App) -> None:
    importlib.import_module("streams.agents")  # every agent, as the worker imports them
    read = {t for agent in scorer_app.agents.values() for t in agent.channel.topics}
    prefix = settings().scorer_topic_prefix
    assert read == {topics.named(spec, prefix) for spec in SCORER_INPUTS}
    assert len(read) == 7
