"""The architecture's rules, read from the source (docs/concepts/architecture.md, Layers;
docs/development/layout.md).

Each is one command: `pytest tests/unit/test_layout.py -k cycles` (or `streams`,
`stations`, `agent`, `dev`, `exceptions`).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "schemas", "model", "infra", "stations")


def modules() -> dict[str, Path]:
    """Every module of the project's packages (and of tests/), by dotted name."""
    found = {}
    for package in (*PACKAGES, "tests"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = modules()


def imports(path: Path, top_level_only: bool = False) -> Iterator[str]:
    """The project modules a file imports (at its top level only, or anywhere)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if n in MODULES else node.module for n in names]
        for name in names:
            if name.split(".")[0] in (*PACKAGES, "tests"):
                yield name


def _of(package: str) -> dict[str, Path]:
    return {name: path for name, path in MODULES.items() if name.split(".")[0] == package}


def _parents(name: str) -> list[str]:
    """The packages Python imports before the module `name` itself (a.b.c: a, a.b)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _packages_named(path: Path) -> set[str]:
    """The packages a file's top level names in `from package import x`: Python uses
    the package module itself there, even when it is still being imported."""
    return {
        node.module
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ImportFrom) and node.module in MODULES and node.level == 0
    }


def test_no_import_cycles() -> None:
    """No cycle among the modules' top-level imports, counting that importing a.b.c runs
    the __init__ of a and of a.b first (but not a module's own packages, which Python
    has always begun importing before the module, unless it names one in an import)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        own = set(_parents(name))
        targets = set(imports(path, top_level_only=True)) & set(MODULES)
        implied = {p for t in targets for p in _parents(t) if p in MODULES and p not in own}
        graph[name] = (targets | implied | _packages_named(path)) - {name}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


@pytest.mark.parametrize("package", ["model", "schemas"])
def test_model_and_schemas_import_nothing_of_streams(package: str) -> None:
    """model/ and schemas/ are below streams/; of each other model/ uses only the public
    face of schemas/ (the error base, and the codec and topic catalogue its model
    announcements are written with: docs/concepts/architecture.md, Layers, forbids
    internals), and schemas/ nothing of model/."""
    allowed_other = {
        "model": {"schemas.errors", "schemas.codec", "schemas.topics"},
        "schemas": set(),
    }[package]
    other = "schemas" if package == "model" else "model"
    bad = {
        name: sorted(
            i
            for i in imports(path)
            if i.startswith(("streams", "stations", "tests"))
            or (i.startswith(other) and i not in allowed_other)
        )
        for name, path in _of(package).items()
    }
    assert not {k: v for k, v in bad.items() if v}


def test_stations_import_nothing_of_streams() -> None:
    """The simulator and the demo speak the wire format only, like a station's producer."""
    bad = {
        name: sorted(i for i in imports(path) if i.startswith(("streams", "tests")))
        for name, path in _of("stations").items()
    }
    assert not {k: v for k, v in bad.items() if v}


def test_no_agent_imports_another_agent() -> None:
    """Agents are thin adapters from Faust to the stages of streams/pipeline.py; what
    one stage hands another goes through the pipeline, not from agent to agent."""
    agents = {name for name in MODULES if name.startswith("streams.agents.")}
    assert {"streams.agents.join_faces", "streams.agents.score_sessions"} <= agents
    bad = {
        name: sorted(i for i in imports(MODULES[name]) if i.startswith("streams.agents"))
        for name in agents
    }
    assert not {k: v for k, v in bad.items() if v}


def test_no_product_module_imports_the_developer_tools() -> None:
    """infra/dev/ drives Java and Maven on a developer's machine: a deployed worker, the
    stations' tools and the model's commands never import it."""
    bad = {
        name: sorted(i for i in imports(path) if i.startswith("infra.dev"))
        for name, path in MODULES.items()
        if not name.startswith(("infra.dev", "tests"))
    }
    assert "infra.dev.broker" in MODULES  # the check sees the package
    assert not {k: v for k, v in bad.items() if v}


def test_every_exception_class_derives_from_the_one_base() -> None:
    bases: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [ast.unparse(b).split(".")[-1] for b in node.bases]
                where[node.name] = name

    def builtin_exception(base: str) -> bool:
        kind = getattr(builtins, base, None)
        return isinstance(kind, type) and issubclass(kind, BaseException)

    def is_exception(cls: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            builtin_exception(b) or (b in bases and b not in seen and is_exception(b, seen | {cls}))
            for b in bases.get(cls, [])
        )

    def has_base(cls: str, seen: frozenset[str] = frozenset()) -> bool:
        return cls == "ScorerError" or any(
            b in bases and b not in seen and has_base(b, seen | {cls}) for b in bases[cls]
        )

    exceptions = [cls for cls in bases if is_exception(cls)]
    assert "CodecError" in exceptions and "BrokerError" in exceptions  # the check sees them
    assert not {f"{where[c]}.{c}": bases[c] for c in exceptions if not has_base(c)}
