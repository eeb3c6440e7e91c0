"""The outlook artifact gives back what was saved, and refuses one that is not whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model.mlp.artifact import ArtifactError
from model.outlook import artifact as outlook_artifact
from model.outlook import journeys, loyalty
from model.outlook import next_class as outlook
from model.outlook.artifact import OutlookModel


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OutlookModel, outlook.Prepared]:
    drawn = journeys.generate(400, 8, seed=6)
    data = outlook.prepare(drawn, seed=0)
    trained = outlook.fit_sequence(data, seed=0, epochs=1, progress=False)
    fitted = loyalty.fit(loyalty.Inputs.of(drawn, data.days, data.spend), data.train, seed=0)
    model = OutlookModel(data.fitted[-1], trained.network, fitted, data={"seed": 0})
    folder = tmp_path_factory.mktemp("outlook")
    outlook_artifact.save(folder, model, "2026-12-03T09:00:00+00:00")
    return folder, model, data


def test_a_saved_artifact_loads_and_predicts_the_same(
    saved: tuple[Path, OutlookModel, outlook.Prepared],
) -> None:
    folder, model, data = saved
    back = outlook_artifact.load(folder)
    assert back.version.startswith("outlook-20261203-") and back.data == {"seed": 0}
    assert np.allclose(back.classes.centroids, model.classes.centroids)
    x = data.x[:50]
    from model.outlook import sequence

    assert np.allclose(
        sequence.predict_proba(back.network, x),
        sequence.predict_proba(model.network, x),
        atol=1e-6,
    )
    inputs = loyalty.Inputs.of(data.drawn, data.days, data.spend)
    assert np.allclose(
        back.loyalty.predict(inputs.counts, inputs.history),
        model.loyalty.predict(inputs.counts, inputs.history),
    )


def _copy(folder: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(folder, out)
    return out


@pytest.mark.parametrize("name", [outlook_artifact.WEIGHTS, outlook_artifact.BOOSTER])
def test_a_changed_or_missing_file_is_refused(
    saved: tuple[Path, OutlookModel, outlook.Prepared], tmp_path: Path, name: str
) -> None:
    folder = _copy(saved[0], tmp_path)
    with (folder / name).open("ab") as f:
        f.write(b"\n")
    with pytest.raises(ArtifactError, match="corrupt"):
        outlook_artifact.load(folder)
    (folder / name).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        outlook_artifact.load(folder)


def test_edited_parameters_are_refused(
    saved: tuple[Path, OutlookModel, outlook.Prepared], tmp_path: Path
) -> None:
    folder = _copy(saved[0], tmp_path)
    meta = json.loads((folder / outlook_artifact.META).read_text())
    meta["params"]["classes"]["centroids"][0][0] += 1
    (folder / outlook_artifact.META).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="corrupt"):
        outlook_artifact.load(folder)
    (folder / outlook_artifact.META).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        outlook_artifact.load(folder)


def test_weights_of_another_shape_are_refused(
    saved: tuple[Path, OutlookModel, outlook.Prepared], tmp_path: Path
) -> None:
    """Hashes made to match, but the GRU's shape recorded differs from its weights."""
    folder = _copy(saved[0], tmp_path)
    model = outlook_artifact.load(folder)
    model.network.gru.hidden_size = 16  # what the JSON will say; the weights stay 32 wide
    outlook_artifact.save(folder, model, "2026-12-03T09:00:00+00:00")
    with pytest.raises(ArtifactError, match="not an outlook model"):
        outlook_artifact.load(folder)


def test_a_folder_without_an_artifact_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="train-outlook"):
        outlook_artifact.load(tmp_path)
