"""The Faust app of the bench's Faust contenders: the sessions' topic in, their output
topic out, raw bytes both ways, on the project's broker."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import faust

from infra.kafka.client import faust_credentials
from schemas import topics


def faust_app(bootstrap: str, prefix: str, output: str, group: str) -> tuple[faust.App, Any, Any]:
    """The app, its sessions topic and its output topic. Its Faust state goes to
    SCORER_DATA_DIR, as the worker's does (the bench gives a folder it removes)."""
    datadir = os.environ.get("SCORER_DATA_DIR") or f"{tempfile.gettempdir()}/bench-{group}"
    app = faust.App(
        group,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        broker_credentials=faust_credentials(),
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        topic_allow_declare=False,
        autodiscover=False,
        datadir=datadir,
    )
    sessions = app.topic(
        topics.named(topics.SESSIONS, prefix), key_serializer="raw", value_serializer="raw"
    )
    out = app.topic(output, key_serializer="raw", value_serializer="raw")
    return app, sessions, out


def run(app: faust.App) -> int:
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
    return 0
