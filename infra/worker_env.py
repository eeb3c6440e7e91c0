"""Starting a scorer worker from outside it: its command and its environment.

The one builder of a worker's environment, shared by the demo, the benchmark and the
tests, so that they all name the worker's settings (streams/settings.py) the same way.
"""

from __future__ import annotations

import os
import sys

from schemas.errors import ScorerError

#: The worker process, run from the project's folder.
WORKER_COMMAND = (sys.executable, "-m", "streams.worker")


def worker_env(bootstrap: str, **settings: object) -> dict[str, str]:
    """This process's environment for a worker on `bootstrap`, with each of `settings`
    (a field name of the worker's Settings, e.g. scorer_web_port=8828) as its variable."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    for name, value in settings.items():
        if not name.startswith(("scorer_", "kafka_")):
            raise ScorerError(f"{name!r} is not a setting of the worker (SCORER_* or KAFKA_*)")
        env[name.upper()] = str(value)
    return env
