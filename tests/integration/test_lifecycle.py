"""The model's life in the stream, on the real broker with two workers under the
simulator's load: a version promoted mid-stream swaps in between batches with nothing
lost or repeated; a corrupt one is refused at the command and, announced anyway, by every
worker, which serve on; a canary serves its stable share of sessions and a shadow scores
beside it onto scoring.shadow only; a rollback goes back. What was seen is written to
out/reports/<broker>/lifecycle.json.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from confluent_kafka import Consumer

from infra.kafka.admin import ensure_topics
from infra.worker_env import worker_env
from model.mlp import artifact
from model.mlp.features import CLASSES, RAW_COLUMNS
from model.production import feature_log, kafka_io, lifecycle
from model.production.store import ModelStore
from schemas import topics
from schemas.codec import Codec
from streams.clock import to_ms
from streams.rules.score_sessions import CANARY_SALT
from streams.serving import in_share
from tests.integration.scorer import (
    PARTITIONS,
    ROOT,
    ScorerSetup,
    Worker,
    report,
    simulate,
    wait_stable,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
CANARY_SHARE = 0.3


def _model_command(setup: ScorerSetup, store: Path, *args: str) -> subprocess.CompletedProcess:
    env = worker_env(
        setup.bootstrap, scorer_topic_prefix=setup.prefix, scorer_partitions=PARTITIONS
    )
    return subprocess.run(
        [sys.executable, "-m", "model", *args, "--store", str(store)]
        if args[0] in ("promote", "models")
        else [sys.executable, "-m", "model", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _served(workers: list[Worker]) -> list[set[tuple[str, str]]]:
    """Each worker's (version, role) pairs from scorer_model_info."""
    return [
        {
            (dict(labels)["version"], dict(labels)["role"])
            for labels, value in w.samples("scorer_model_info").items()
            if value == 1
        }
        for w in workers
    ]


def _wait_served(workers: list[Worker], wanted: set[tuple[str, str]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s == wanted for s in _served(workers)):
            return
        time.sleep(0.2)
    raise AssertionError(f"workers serve {_served(workers)}, not {wanted}")


def _read_all(
    setup: ScorerSetup, spec: topics.TopicSpec, until: Any, timeout: float = 120, settle: float = 5
) -> list[tuple[int, int, dict]]:
    """(partition, offset, record) of a topic until `until(records)`, then `settle` s."""
    consumer = Consumer(
        {
            "bootstrap.servers": setup.bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([setup.topic(spec)])
    out: list[tuple[int, int, dict]] = []
    deadline, settled_at = time.monotonic() + timeout, None
    try:
        while time.monotonic() < deadline:
            if settled_at is None and until([r for _, _, r in out]):
                settled_at = time.monotonic() + settle
            if settled_at is not None and time.monotonic() > settled_at:
                break
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                out.append(
                    (msg.partition() or 0, msg.offset() or 0, setup.codec.decode(msg.value()))
                )
    finally:
        consumer.close()
    return out


def _shadow_log_loss(workers: list[Worker]) -> dict[str, Any]:
    """scorer_shadow_log_loss summed over the workers: sessions and mean loss of the served
    model and of the shadow on the same decided sessions; and how many were decided."""
    out: dict[str, Any] = {}
    for role in ("served", "shadow"):
        key = (("scored_as", role),)
        n = sum(w.samples("scorer_shadow_log_loss_count").get(key, 0) for w in workers)
        total = sum(w.samples("scorer_shadow_log_loss_sum").get(key, 0) for w in workers)
        out[role] = {"sessions": int(n), "mean": round(total / n, 4) if n else None}
    out["decided"] = int(
        sum(sum(w.samples("scorer_outcome_log_loss_count").values()) for w in workers)
    )
    return out


def _third_version(other_model: Path, folder: Path) -> Path:
    model = artifact.load(other_model)
    with torch.no_grad():
        for parameter in model.network.parameters():
            parameter.mul_(0.9)
    artifact.save(
        folder,
        model.network,
        model.imputation,
        metrics=model.metrics,
        data=model.data,
        created_at="2026-12-01T13:00:00+00:00",
        input_shares=model.input_shares,
    )
    return folder


def test_promote_refuse_canary_shadow_and_rollback_under_load(
    kafka_bootstrap: str,
    trained_model: Path,
    other_model: Path,
    customer_model: Path,
    tmp_path: Path,
) -> None:
    store = ModelStore(tmp_path / "models")
    v1, v2 = store.add(trained_model), store.add(other_model)
    v3 = store.add(_third_version(other_model, tmp_path / "third"))
    weights = store.path(v3) / artifact.WEIGHTS
    weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])
    # The workers' own artifact is v2: that they serve v1 proves they read the announcement.
    setup = ScorerSetup(
        kafka_bootstrap,
        other_model,
        tmp_path,
        customer_model,
        settings={"scorer_model_store": store.root},
    )
    ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
    # The commands that need no load run before it: the first live version, and the
    # corrupt one refused by `promote` itself.
    first = _model_command(setup, store.root, "promote", v1, "--by", "test")
    assert first.returncode == 0, first.stderr
    refused = _model_command(setup, store.root, "promote", v3)
    assert refused.returncode == 1 and "corrupt" in refused.stderr, refused
    codec = Codec()
    models_topic = setup.topic(topics.MODELS)

    def announce(role: str, version: str | None, share: float = 1.0) -> None:
        """What `promote` writes, written here: fast enough to keep to the load's clock."""
        current = kafka_io.read_announcements(kafka_bootstrap, models_topic, codec)
        made = lifecycle.announcement(role, version, share, current, "test")
        kafka_io.publish_announcement(kafka_bootstrap, models_topic, codec, made)

    workers = [Worker(setup, "w1").start(), Worker(setup, "w2").start()]
    sims: list[subprocess.Popen[bytes]] = []
    try:
        wait_stable(workers)
        _wait_served(workers, {(v1, "live")})
        # Two loads: one through the promotions and the refused version, one started once
        # the canary and the shadow serve (however long the steps before took).
        summaries = [tmp_path / "sent.json", tmp_path / "sent-canary.json"]
        sims.append(simulate(setup, summaries[0], duration=40, seed=11))
        time.sleep(8)
        promoted = _model_command(setup, store.root, "promote", v2, "--by", "test")
        assert promoted.returncode == 0 and f"was {v1}" in promoted.stdout, promoted
        _wait_served(workers, {(v2, "live")})
        time.sleep(2)
        announce("live", v3)  # corrupt in the store: every worker must refuse it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            failures = [
                sum(w.samples("scorer_model_load_failures_total").values()) for w in workers
            ]
            if all(f >= 1 for f in failures):
                break
            time.sleep(0.2)
        assert failures == [1, 1], failures
        assert all(s == {(v2, "live")} for s in _served(workers))
        time.sleep(2)
        canary_from = int(time.time() * 1000)
        announce("canary", v1, CANARY_SHARE)
        announce("shadow", v1)
        _wait_served(workers, {(v2, "live"), (v1, "canary"), (v1, "shadow")})
        split_at = int(time.time() * 1000)
        sims.append(simulate(setup, summaries[1], duration=20, seed=12))
        for sim in sims:
            assert sim.wait(180) == 0, (tmp_path / "simulator.log").read_text()[-2000:]
        expected = {
            session
            for summary in summaries
            for session in json.loads(summary.read_text())["session_ids"]
        }
        recs = _read_all(
            setup, topics.RECOMMENDATIONS, lambda rs: expected <= {r["session_id"] for r in rs}
        )
        shadow = _read_all(setup, topics.SHADOW, lambda rs: False, timeout=5, settle=0)
        per_session = Counter(r["session_id"] for _, _, r in recs)
        by_version = Counter(r["model_version"] for _, _, r in recs)
        # Per partition, in offset order, the live version only ever moves forward until
        # the canary starts: v1, then v2, never v1 again.
        flips = 0
        by_partition: dict[int, list[tuple[int, dict]]] = defaultdict(list)
        for partition, offset, record in recs:
            by_partition[partition].append((offset, record))
        for rows in by_partition.values():
            live = [
                r["model_version"]
                for _, r in sorted(rows, key=lambda x: x[0])
                if to_ms(r["scored_at"]) < canary_from
            ]
            flips += sum(1 for pair in itertools.pairwise(live) if pair == (v2, v1))
        late = [r for _, _, r in recs if to_ms(r["scored_at"]) > split_at]
        wrong_split = [
            r["session_id"]
            for r in late
            if (r["model_version"] == v1) != in_share(r["session_id"], CANARY_SHARE, CANARY_SALT)
        ]
        shadowed = {r["session_id"] for _, _, r in shadow}
        seen: dict[str, Any] = {
            "sessions_sent": len(expected),
            "recommendations": sum(per_session.values()),
            "lost": len(expected - set(per_session)),
            "repeated": sum(1 for n in per_session.values() if n > 1),
            "recommendations_per_version": {
                v1: by_version[v1],
                v2: by_version[v2],
                v3: by_version[v3],
            },
            "live_version_back_to_old_in_a_partition": flips,
            "after_canary": len(late),
            "after_canary_on_canary": sum(1 for r in late if r["model_version"] == v1),
            "after_canary_wrong_split": len(wrong_split),
            "shadow_results": len(shadow),
            "after_canary_without_shadow": len({r["session_id"] for r in late} - shadowed),
            "shadow_agreement": {
                dict(k)["agree"]: sum(
                    w.samples("scorer_shadow_agreement_total").get(k, 0) for w in workers
                )
                for k in workers[0].samples("scorer_shadow_agreement_total")
            },
        }
        seen["shadow_log_loss"] = _shadow_log_loss(workers)
        # Promoted after the refused v3, v1 names v2 as the version it replaced (what the
        # workers went on serving), so a rollback goes back to v2.
        again = _model_command(setup, store.root, "promote", v1, "--by", "test")
        assert again.returncode == 0 and f"was {v2}" in again.stdout, again
        _wait_served(workers, {(v1, "live"), (v1, "canary"), (v1, "shadow")})
        rollback = _model_command(setup, store.root, "rollback", "--by", "test")
        assert rollback.returncode == 0 and f"live: {v2}" in rollback.stdout, rollback
        _wait_served(workers, {(v2, "live"), (v1, "canary"), (v1, "shadow")})
        seen["rolled_back_to"] = v2
        report("lifecycle", seen)
        for command in (
            ("promote", v2, "--role", "canary", "--share", "0.05"),
            ("retire", "shadow"),
        ):
            done = _model_command(setup, store.root, *command)
            assert done.returncode == 0, done.stderr
        _wait_served(workers, {(v2, "live"), (v2, "canary")})
        listed = _model_command(setup, store.root, "models").stdout
        line = next(row for row in listed.splitlines() if row.startswith(v2))
        assert line.endswith("canary 5%, live"), listed
        assert seen["lost"] == 0 and seen["repeated"] == 0, seen
        assert by_version[v1] > 0 and by_version[v2] > 0 and by_version[v3] == 0, seen
        assert set(by_version) == {v1, v2}, seen
        assert flips == 0, seen
        assert len(late) > 100 and not wrong_split, seen
        assert 0.2 < seen["after_canary_on_canary"] / len(late) < 0.4, seen
        assert {r["model_version"] for _, _, r in shadow} == {v1}, seen
        assert shadowed <= expected and seen["after_canary_without_shadow"] == 0, seen
        assert sum(seen["shadow_agreement"].values()) == len(shadow), seen
        pairs = seen["shadow_log_loss"]
        assert pairs["served"]["sessions"] == pairs["shadow"]["sessions"] > 50, seen
        assert pairs["served"]["sessions"] <= pairs["decided"], seen
        assert all(0 < pairs[k]["mean"] < 3 for k in ("served", "shadow")), seen
    finally:
        for sim in sims:
            if sim.poll() is None:
                sim.kill()
        for w in workers:
            if w.proc is not None and w.proc.poll() is None:
                w.stop()


def test_a_shifted_input_crosses_the_psi_threshold_and_the_logged_sessions_retrain(
    kafka_bootstrap: str, trained_model: Path, customer_model: Path, tmp_path: Path
) -> None:
    """Two deployments side by side on the same model, one fed the generator's station mix,
    one with every station a clubhouse: scorer_feature_psi of station_type crosses 0.25
    on the second only, and every other input stays under 0.1 on both. The first logs
    every session it serves to scoring.features: `train --from-topic` on that log and the
    conversions gives the same model, to float tolerance, as `train --from-file` on the
    simulator's own record of the same sessions (no training/serving skew)."""
    store = ModelStore(tmp_path / "models")
    store.add(trained_model)
    runs: dict[str, tuple[ScorerSetup, Worker]] = {}
    for name in ("as_trained", "clubhouses"):
        logging = {"scorer_feature_log_share": 1.0, "scorer_conversion_window_s": 60}
        setup = ScorerSetup(
            kafka_bootstrap,
            trained_model,
            tmp_path / name,
            customer_model,
            settings={
                "scorer_drift_min_sessions": 1000,
                "scorer_face_wait_ms": 10_000,
                "scorer_feature_log_share": 0.0,
                **(logging if name == "as_trained" else {}),
            },
        )
        ensure_topics(kafka_bootstrap, PARTITIONS, specs=topics.prefixed(setup.prefix))
        runs[name] = (setup, Worker(setup, "w1").start())
    sims: list[subprocess.Popen[bytes]] = []
    try:
        wait_stable([w for _, w in runs.values()])
        for name, (setup, _) in runs.items():
            shift = ["--station-type", "clubhouse"] if name == "clubhouses" else []
            # Every face on time and waited for long enough: a face scored late or missing
            # is imputed, which moves the face inputs with the machine's load, not with the
            # stations. (Sent with the session, a face carries no face-library match.) The
            # live orders come after the last session, so that no history changes while a
            # session is scored: the simulator's record of what the scorer saw is exact.
            args = [
                "--rate",
                "40",
                "--duration",
                "40",
                "--users",
                "2000",
                "--stations",
                "200",
                "--history-days",
                "540",
                "--seed",
                "5",
                "--order-delay",
                "42",
                "48",
                "--embedded-faces",
                "0",
                "--late-faces",
                "0",
                "--missing-faces",
                "0",
                "--wait-for-group",
                setup.app_id,
                "--truth",
                str(setup.base / "truth.csv"),
                *shift,
            ]
            log = (setup.base / "simulator.log").open("ab")
            sims.append(
                subprocess.Popen(
                    [sys.executable, "-m", "stations.simulator", *args],
                    cwd=ROOT,
                    env=setup.env("simulator", 0),
                    stdout=log,
                    stderr=log,
                )
            )
        for sim in sims:
            assert sim.wait(300) == 0
        psi: dict[str, dict[str, float]] = {}
        for name, (_, worker) in runs.items():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # exported every 10 s once 1,000 are served
                values = worker.samples("scorer_feature_psi")
                sessions = sum(worker.samples("scorer_drift_window_sessions").values())
                if values and sessions >= 1500:
                    break
                time.sleep(1)
            psi[name] = {dict(k)["feature"]: round(v, 4) for k, v in values.items()}
        report("drift", psi)
        same, shifted = psi["as_trained"], psi["clubhouses"]
        assert "hour" not in same  # not before a day of sessions has been served
        assert set(same) == set(shifted) and len(same) == 9, psi
        assert same["station_type"] < 0.1 <= 0.25 <= shifted["station_type"], psi
        for feature in set(same) - {"station_type"}:
            assert max(same[feature], shifted[feature]) < 0.1, (feature, psi)
        setup, worker = runs["as_trained"]
        _retrain_from_the_log(setup, worker, store, setup.base / "truth.csv", tmp_path)
    finally:
        for sim in sims:
            if sim.poll() is None:
                sim.kill()
        for _, worker in runs.values():
            if worker.proc is not None and worker.proc.poll() is None:
                worker.stop()


def _retrain_from_the_log(
    setup: ScorerSetup, worker: Worker, store: ModelStore, truth: Path, tmp_path: Path
) -> None:
    seen = pd.read_csv(truth, dtype={"class": object, "frequent_type": object})
    sessions = set(seen["session_id"])
    decided = _read_all(
        setup,
        topics.CONVERSIONS,
        lambda rs: sessions <= {r["session_id"] for r in rs},
        timeout=180,
        settle=0,
    )
    assert sessions <= {r["session_id"] for _, _, r in decided}, "outcomes missing"
    assert sum(worker.samples("scorer_features_logged_total").values()) == len(sessions)
    logged = feature_log.read(
        setup.bootstrap, setup.topic(topics.FEATURES), setup.topic(topics.CONVERSIONS)
    )
    frame = logged.frame.set_index("session_id")
    assert set(frame.index) == sessions and logged.undecided == 0, logged
    # The stream's raw inputs and labels against the simulator's record, field by field.
    expected = seen.set_index("session_id").loc[frame.index]
    differing: dict[str, int] = {}
    expected["label"] = expected["class"].map(CLASSES.index)
    for column in (*RAW_COLUMNS, "label"):
        mine, theirs = frame[column], expected[column]
        same = (mine == theirs) | (mine.isna() & theirs.isna())
        differing[column] = int((~same).sum())
    assert not any(differing.values()), differing
    offline = tmp_path / "offline.csv"
    seen.sample(frac=1.0, random_state=3).to_csv(offline, index=False)  # another row order
    runs = {}
    for name, source in (
        ("from_log", ["--from-topic", topics.FEATURES.name]),
        ("offline", ["--from-file", str(offline)]),
    ):
        out = tmp_path / name
        done = _model_command(
            setup,
            store.root,
            "train",
            *source,
            "--out",
            str(out),
            "--seed",
            "7",
            "--store",
            str(store.root),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = (artifact.load(out), done.stdout)
    (from_log, said), (offline_model, _) = runs["from_log"], runs["offline"]
    assert f"{len(sessions):,} with an outcome" in said and " 0 differ " in said, said
    weights = {k: v for k, v in offline_model.network.state_dict().items()}
    gap = max(float((v - weights[k]).abs().max()) for k, v in from_log.network.state_dict().items())
    parity = {
        "sessions": len(sessions),
        "served_by": logged.versions,
        "largest_weight_difference": gap,
        "from_log": from_log.version,
        "offline": offline_model.version,
        "imputation_equal": from_log.imputation == offline_model.imputation,
    }
    report("feature_log", parity)
    assert parity["imputation_equal"] and gap <= 1e-6, parity
