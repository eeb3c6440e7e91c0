"""The model store and the announcements of model/production/lifecycle.py (no broker)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.mlp import artifact
from model.mlp.artifact import ArtifactError
from model.production import lifecycle
from model.production.lifecycle import Announcement, AnnouncementError
from model.production.store import ModelStore
from schemas.codec import Codec


def test_an_artifact_is_kept_under_its_version_once(trained_model: Path, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    version = store.add(trained_model)
    assert version == artifact.load(trained_model).version
    assert store.add(trained_model) == version  # the same model twice is one entry
    assert [e.version for e in store.entries()] == [version]
    assert store.load(version).version == version


def test_versions_are_listed_oldest_first(
    trained_model: Path, other_model: Path, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path / "models")
    second, first = store.add(other_model), store.add(trained_model)
    created = {e.version: e.created_at for e in store.entries()}
    assert [e.version for e in store.entries()] == sorted(created, key=lambda v: created[v])
    assert {first, second} == set(created) and first != second


def test_a_corrupt_or_misfiled_version_is_refused(
    trained_model: Path, other_model: Path, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path / "models")
    version = store.add(trained_model)
    with pytest.raises(ArtifactError, match="not in the store"):
        store.load("mlp-20000101-00000000")
    with pytest.raises(ArtifactError, match="is not a model version"):
        store.load("../etc")
    weights = store.path(version) / artifact.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="corrupt"):
        store.load(version)
    with pytest.raises(ArtifactError, match="corrupt"):
        store.add(trained_model)  # the kept copy is checked, not trusted
    misfiled = store.path("mlp-20261201-aaaaaaaa")
    shutil.copytree(other_model, misfiled)
    with pytest.raises(ArtifactError, match="not 'mlp-20261201-aaaaaaaa'"):
        store.load("mlp-20261201-aaaaaaaa")


def test_an_announcement_round_trips_and_names_what_it_replaced() -> None:
    codec = Codec()
    current = {"live": Announcement("live", "v1", announced_by="ops", announced_at_ms=1)}
    made = lifecycle.announcement("live", "v2", 1.0, current, by="ops")
    assert made.previous == "v1"
    assert lifecycle.decode(codec, codec.encode("ModelAnnouncement", made.to_record())) == made
    back = lifecycle.rollback({"live": made}, by="ops")
    assert (back.version, back.previous) == ("v1", "v2")
    # After a refused version, what it replaced is what served: that is what is replaced.
    refused = lifecycle.announcement("live", "bad", 1.0, {"live": made}, by="ops")
    after = lifecycle.announcement(
        "live", "v3", 1.0, {"live": refused}, by="ops", sound=lambda v: v != "bad"
    )
    assert after.previous == "v2"


def test_bad_announcements_are_refused_with_the_reason() -> None:
    with pytest.raises(AnnouncementError, match="cannot be retired"):
        Announcement("live", None)
    with pytest.raises(AnnouncementError, match="not one of"):
        Announcement("blue", "v1")
    with pytest.raises(AnnouncementError, match="between 0 and 1"):
        Announcement("canary", "v1", share=1.5)
    with pytest.raises(AnnouncementError, match="nothing to roll back"):
        lifecycle.rollback({})
    with pytest.raises(AnnouncementError, match="nothing to go back to"):
        lifecycle.rollback({"live": Announcement("live", "v1")})
