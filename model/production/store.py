"""The model store: one folder per model version, `<store>/<version>/` (docs/concepts/model.md).

An artifact's version is its training date and the hash of its weights
(model/mlp/artifact.py), so two different models never share a folder and the same model
added twice is one entry. Workers load the versions that scoring.models announces from
here; a folder whose artifact is corrupt, or names another version than its folder, is
refused like any bad artifact.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from model.mlp import artifact
from model.mlp.artifact import ArtifactError

#: The store's default folder (SCORER_MODEL_STORE in the worker).
DEFAULT = Path("out/models")


@dataclass(frozen=True)
class Entry:
    version: str
    created_at: str
    path: Path


class ModelStore:
    """The versions kept under `root`."""

    def __init__(self, root: Path | str = DEFAULT) -> None:
        self.root = Path(root)

    def add(self, folder: Path | str) -> str:
        """Check the artifact in `folder` and copy it into the store; returns its version."""
        model = artifact.load(folder)
        target = self.root / model.version
        if target.exists():
            self.load(model.version)  # the kept copy must be sound too
            return model.version
        staging = self.root / f".{model.version}.adding"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(folder, staging)
        staging.rename(target)  # a half-copied folder is never seen under its version
        return model.version

    def path(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise ArtifactError(f"{version!r} is not a model version")
        return self.root / version

    def load(self, version: str) -> artifact.Artifact:
        """The checked artifact of `version`; ArtifactError when it is missing, corrupt or
        is another version than its folder says."""
        folder = self.path(version)
        if not folder.is_dir():
            raise ArtifactError(f"model version {version!r} is not in the store {self.root}")
        model = artifact.load(folder)
        if model.version != version:
            raise ArtifactError(f"{folder} holds model version {model.version!r}, not {version!r}")
        return model

    def entries(self) -> list[Entry]:
        """Every version in the store, oldest first (unchecked: `load` checks)."""
        found = []
        for folder in sorted(self.root.glob("*/")) if self.root.is_dir() else []:
            if folder.name.startswith("."):
                continue
            created = artifact.created_at(folder)
            found.append(Entry(folder.name, created, folder))
        return sorted(found, key=lambda e: (e.created_at, e.version))
