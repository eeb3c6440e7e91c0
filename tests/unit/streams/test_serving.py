"""Swapping models between batches, refusing bad ones, and the canary and shadow split."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.mlp import artifact
from model.mlp.predictor import Predictor
from model.production.lifecycle import Announcement
from model.production.store import ModelStore
from streams import metrics
from streams.rules.score_sessions import CANARY_SALT, score_served
from streams.serving import ModelSet, in_share

ROW = {
    "beauty": 60.0,
    "expression": "smile",
    "emotion": "happy",
    "hour": 20,
    "is_new_user": False,
    "city": "Wuhan",
    "station_type": "supermarket",
    "total_purchase_days": 12,
    "frequent_type": "TWO_COLOR_BALL",
}


@pytest.fixture
def store(trained_model: Path, other_model: Path, tmp_path: Path) -> ModelStore:
    store = ModelStore(tmp_path / "models")
    store.add(trained_model)
    store.add(other_model)
    return store


@pytest.fixture
def served(store: ModelStore, trained_model: Path, other_model: Path) -> tuple[ModelSet, str, str]:
    """A model set serving the first version live, and the two versions."""
    old, new = artifact.load(trained_model).version, artifact.load(other_model).version
    return ModelSet(store, Predictor(store.load(old))), old, new


def _info() -> dict[tuple[str, str], float]:
    return {
        (s.labels["version"], s.labels["role"]): s.value
        for m in metrics.MODEL_INFO.collect()
        for s in m.samples
    }


def test_an_offered_version_serves_from_the_next_batch_only(
    served: tuple[ModelSet, str, str], store: ModelStore
) -> None:
    models, old, new = served
    batch = models.serving()
    assert models.offer(Announcement("live", new))
    assert batch.live.version == old  # the batch in flight keeps its model
    assert models.serving().live.version == new
    assert _info() == {(new, "live"): 1.0}


def test_a_corrupt_version_is_refused_and_the_current_one_serves_on(
    served: tuple[ModelSet, str, str], store: ModelStore
) -> None:
    models, old, new = served
    weights = store.path(new) / artifact.WEIGHTS
    weights.write_bytes(b"not weights")
    failures = metrics.MODEL_LOAD_FAILURES.labels(role="live")
    before = failures._value.get()
    assert not models.offer(Announcement("live", new))
    assert not models.offer(Announcement("canary", "mlp-19990101-00000000", share=0.5))
    assert failures._value.get() == before + 1
    assert models.serving().live.version == old and models.serving().canary is None
    assert _info() == {(old, "live"): 1.0}


def test_the_canary_serves_its_share_by_a_stable_hash_and_the_shadow_scores_beside(
    served: tuple[ModelSet, str, str], store: ModelStore
) -> None:
    models, old, new = served
    models.offer(Announcement("canary", new, share=0.25))
    models.offer(Announcement("shadow", new, share=1.0))
    serving = models.serving()
    ids = [f"sess-{i:05d}" for i in range(2000)]
    scored = score_served(serving, [ROW] * len(ids), ids)
    on_canary = [v == new for v in scored.versions]
    assert on_canary == [in_share(sid, 0.25, CANARY_SALT) for sid in ids]
    assert 0.22 < sum(on_canary) / len(ids) < 0.28
    assert sorted(scored.shadow) == list(range(len(ids)))
    live_result = Predictor(store.load(old)).predict([ROW])[0]
    canary_result = Predictor(store.load(new)).predict([ROW])[0]
    assert live_result["ranking"] != canary_result["ranking"]  # the two models differ
    for i, result in enumerate(scored.results):
        assert _same(result, canary_result if on_canary[i] else live_result)
        assert _same(scored.shadow[i], canary_result)
    assert _info() == {(old, "live"): 1.0, (new, "canary"): 1.0, (new, "shadow"): 1.0}
    models.offer(Announcement("canary", None))
    assert models.serving().canary is None and models.serving().shadow is not None
    assert models.offer(Announcement("canary", None))  # retired twice: nothing to do


def _same(a: dict, b: dict) -> bool:
    """The same result up to float rounding (a batch of 2,000 is summed in another order
    than a batch of one)."""
    probabilities = [r["probability"] for r in a["ranking"]] + [a["p_no_buy"]]
    expected = [r["probability"] for r in b["ranking"]] + [b["p_no_buy"]]
    return a["top_pick"] == b["top_pick"] and probabilities == pytest.approx(expected, abs=1e-6)


def test_a_sampled_shadow_scores_its_share_only(
    served: tuple[ModelSet, str, str], store: ModelStore
) -> None:
    models, old, new = served
    models.offer(Announcement("shadow", new, share=0.1))
    ids = [f"sess-{i:05d}" for i in range(2000)]
    scored = score_served(models.serving(), [ROW] * len(ids), ids)
    assert set(scored.versions) == {old}
    assert 0.08 < len(scored.shadow) / len(ids) < 0.12
