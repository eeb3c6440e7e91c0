"""`python -m streams.worker`: one scorer worker (what `make worker` runs).

Before Faust starts: the settings are checked, the model artifact and the customer model
are loaded (a bad one stops the worker with the reason), the topics and the tables'
changelogs are created if missing, the live version announced on scoring.models is
loaded from the model store (refused, the artifact of SCORER_MODEL_DIR serves until the
next announcement), the
follower of that topic starts and the station registry starts loading. Then the agents
and web views are registered, the web front starts in a process of its own
(streams/web/front.py), what is alive by then is left out of the garbage collector's
full collections (`leave_out_of_collections`) and Faust runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

from infra.kafka.admin import ensure_topics
from infra.kafka.cluster import bootstrap_servers
from model.customers import customer_model, history
from model.mlp.artifact import ArtifactError
from model.mlp.predictor import Predictor
from model.outlook import artifact as outlook_artifact
from model.outlook import live as outlook_live
from model.outlook.artifact import OutlookModel
from model.production import kafka_io
from model.production.store import ModelStore
from schemas import topics
from schemas.codec import Codec
from schemas.errors import ScorerError
from schemas.topics import prefixed
from streams.kafka.model_follower import ModelFollower
from streams.kafka.probe import BrokerProbe
from streams.kafka.publisher import Publisher
from streams.kafka.registry import StationRegistry
from streams.rules.drift import DriftMonitor
from streams.runtime import Runtime, install
from streams.serving import ModelSet
from streams.settings import retired, settings
from streams.web.front import FrontProcess

CLEAN_STOP = "clean-stop"


def discard_state_after_crash(data_dir: Path) -> None:
    """Drop local table state that a crash may have left ahead of the changelogs.

    A table write lands in RocksDB at once and in its changelog topic a moment later; a
    worker killed in between restarts with local state the changelog never got (a session
    marked scored whose scoring request was never sent). The changelogs are the truth, so
    after anything but a clean stop the tables are rebuilt from them.
    """
    marker = data_dir / CLEAN_STOP
    if data_dir.exists() and not marker.exists() and any(data_dir.iterdir()):
        logging.getLogger(__name__).warning(
            "the last run in %s did not stop cleanly: rebuilding tables from changelogs", data_dir
        )
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)


def prepare() -> Runtime:
    """Everything a worker needs before Faust starts; raises with a clear reason."""
    conf = settings()
    bootstrap = bootstrap_servers()
    # One intra-op thread: the batches are small and the event loop waits on each forward
    # pass, while torch's extra threads spin between ops on the cores the broker and the
    # consumer thread need (measured: 200 sessions/s went from a growing backlog, p50 3.3 s,
    # to p50 115 ms; make bench).
    torch.set_num_threads(1)
    for retired_variable in retired(os.environ):
        logging.getLogger(__name__).warning("%s", retired_variable)
    if conf.web_token() is None:  # and a token file that cannot be read stops the start
        logging.getLogger(__name__).warning(
            "SCORER_WEB_TOKEN is not set: /score, /users and /profiles are open to anyone "
            "who reaches %s:%d",
            conf.scorer_web_host,
            conf.scorer_web_port,
        )
    predictor = Predictor.from_artifact(conf.scorer_model_dir)
    customers = customer_model.load(conf.scorer_customer_model_dir)
    outlook = load_outlook(conf.scorer_outlook_dir)
    discard_state_after_crash(conf.scorer_data_dir)
    from streams.tables import changelog_topics  # builds the Faust app: settings are valid

    # The tables' changelogs too: Faust would create them, but its assignor may look before
    # the broker lists them, and a table whose changelog it saw with 0 partitions crashes
    # on its first write (seen in CI: record_orders, PartitionsMismatch).
    ensure_topics(
        bootstrap,
        conf.scorer_partitions,
        conf.scorer_replication_factor,
        [*prefixed(conf.scorer_topic_prefix), *changelog_topics()],
    )
    codec = Codec(
        max_message_bytes=conf.scorer_max_message_bytes, max_string=conf.scorer_max_string
    )
    models = ModelSet(ModelStore(conf.scorer_model_store), predictor)
    models_topic = topics.named(topics.MODELS, conf.scorer_topic_prefix)
    for announced in kafka_io.read_announcements(bootstrap, models_topic, codec).values():
        models.offer(announced)
    models.serving()  # what was announced serves from the first batch
    follower = ModelFollower(bootstrap, codec, models_topic, models)
    follower.start()
    registry_topic = topics.named(topics.REGISTRY, conf.scorer_topic_prefix)
    registry = StationRegistry(bootstrap, codec, registry_topic)
    registry.start()
    probe = BrokerProbe(bootstrap, registry_topic)
    probe.start()
    drift = DriftMonitor(conf.scorer_drift_window_s, conf.scorer_drift_min_sessions)
    return Runtime(
        conf,
        bootstrap,
        codec,
        models,
        registry,
        probe,
        Publisher(bootstrap),
        customers,
        follower,
        drift,
        outlook,
    )


def load_outlook(folder: Path) -> OutlookModel | None:
    """The outlook artifact in `folder`; None, said once, when there is none there; one
    that is there but bad stops the start (ArtifactError, with the reason)."""
    if not (folder / outlook_artifact.META).exists():
        logging.getLogger(__name__).warning(
            "no outlook in %s (make outlook): profiles carry no next month's class or "
            "loyalty score",
            folder,
        )
        return None
    model = outlook_artifact.load(folder)
    months = outlook_live.months_of(model)
    if months > history.OUTLOOK_MONTHS:
        raise ArtifactError(
            f"{folder} was trained on series of {months} months; a user "
            f"history keeps {history.OUTLOOK_MONTHS}"
        )
    return model


STOP_GRACE_S = 30.0
#: Tracked objects allocated (net) between two young collections; Python's default is 700.
YOUNG_COLLECTION_EVERY = 20_000


def leave_out_of_collections() -> None:
    """Move every object alive now (the modules, torch's most, the models, the runtime)
    out of the cyclic garbage collector's reach, for good, and collect the young
    generation every YOUNG_COLLECTION_EVERY allocations rather than every 700.

    They live as long as the worker, yet each full collection walked them all: about
    356,000 objects, 100 to 240 ms a collection with the event loop stopped (gc callbacks
    in quick bench workers); 2 to 35 ms after the freeze. Reference counting still frees
    what they drop; only a cycle among them would never be collected, and they are not
    garbage.

    A session's events, records and futures live for one batch, but every 700 allocations
    a young collection found a batch in flight and moved what it held to an older
    generation, so full collections still came about once a second under load: 20 to 40
    ms at 5,000 sessions/s, 70 to 120 ms while draining a backlog, each one a stop of the
    event loop (gc callbacks, quick bench worker, 90,000 objects after the freeze). Every
    20,000, what a batch holds is mostly gone by the time of the collection: about one
    collection a second instead of a hundred, none of them full in the same bench, the
    longest 18 ms. Cycles are still collected, by the next young collection."""
    gc.collect()  # what start-up left as garbage goes now, not frozen with the rest
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, older, oldest)


def _stop_watchdog(app: Any) -> None:
    """Leave if a stop takes longer than STOP_GRACE_S.

    Faust's consumer thread was seen to hang for good while stopping during a rebalance.
    What the worker processed but did not commit is processed again by the next owner of
    its partitions, and the scorer drops what that repeats (docs/development/decisions.md, 1), so
    leaving is safe.
    A worker that stops because it crashed leaves with 1, so that its supervisor starts it
    again; one asked to stop (SIGTERM, SIGINT) leaves with 0, as it would have anyway.
    """
    while not app.should_stop:
        time.sleep(0.5)
    time.sleep(STOP_GRACE_S)
    crashed = getattr(app, "crash_reason", None) is not None
    logging.getLogger(__name__).error(
        "stop took over %.0f s (%s); leaving now",
        STOP_GRACE_S,
        "after a crash" if crashed else "asked to stop",
    )
    logging.shutdown()
    os._exit(1 if crashed else 0)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO)
    try:
        runtime = prepare()
    except ScorerError as exc:
        print(f"error: the worker cannot start: {exc}", file=sys.stderr)
        return 1
    install(runtime)
    print(
        f"Serving model {runtime.models.serving().live.version}, "
        f"customer model {runtime.customers.version}, outlook "
        f"{runtime.outlook.version if runtime.outlook else 'none'}; "
        f"web on http://{runtime.settings.scorer_web_host}:{runtime.settings.scorer_web_port}",
        flush=True,
    )
    import streams.agents
    import streams.monitoring
    import streams.web.profiles
    import streams.web.views
    from streams.app import app

    streams.monitoring.publish_model_info()

    threading.Thread(target=_stop_watchdog, args=(app,), name="stop-watchdog", daemon=True).start()
    front = FrontProcess(runtime.settings.web_socket())
    front.start()
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info", *(argv or [])]
    leave_out_of_collections()
    try:
        app.main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0
    else:
        code = 0
    # Faust has stopped every service and committed what it processed. Leave now rather
    # than in the interpreter's exit, which was seen to hang on a leftover thread once
    # Faust's event loop had closed.
    front.stop()
    runtime.registry.stop()
    runtime.follower.stop()
    runtime.probe.stop()
    runtime.publisher.close()  # delivered before the last commit; this only stops it
    if code == 0:
        (runtime.settings.scorer_data_dir / CLEAN_STOP).touch()
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
