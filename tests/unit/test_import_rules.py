"""The import rules of ARCHITECTURE.md, read from the source with ``ast``.

Every ``import`` counts, wherever it is written: at module level, inside a
function, or under ``if TYPE_CHECKING:`` (a cycle that only the type
checker sees is still two modules that cannot be understood apart).
Importing a submodule (``from probes import icmp_packet``) is an edge to the
submodule, not to the package's ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("monitor", "probes", "alerts")

BASE = frozenset(
    {
        "monitor",
        "monitor.contract",
        "monitor.config_types",
        "monitor.config_errors",
        "monitor.regex",
        "monitor.redact",
        "monitor.clock",
        "monitor.dbfile",
        "monitor.i18n",
        "monitor.fast_init",
    }
)
"""The base room: what every package may import. It imports only itself."""

PURE = frozenset({"monitor.engine.state", "monitor.engine.policy", "monitor.engine.compact_values"})
"""The state step, the policy and the compact values a state keeps: pure, they import
only the base and each other."""

FORBIDDEN_THIRD_PARTY: Mapping[str, tuple[str, ...]] = {
    # Probes measure; the daemon exports and alerts.
    "probes": ("prometheus_client", "alerts"),
    "alerts": ("probes",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = project_modules()


def imported(path: Path, modules: Mapping[str, Path]) -> Iterator[str]:
    """Every name an import in ``path`` reaches: project modules and top-level packages."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            yield from submodules
            if len(submodules) < len(node.names):
                yield base


def project_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        found = set()
        for target in imported(path, MODULES):
            # The nearest project module the import names (``monitor.x.y`` -> ``monitor.x``).
            candidate = target
            while candidate and candidate not in MODULES:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
        edges[name] = found
    return edges


EDGES = project_edges()


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


DAEMON_ROOMS = ("engine", "web", "history")
"""Sub-packages of ``monitor`` (once it is split), lowest first."""


def room(module: str) -> str:
    if module in BASE:
        return "base"
    if module in PURE:
        return "pure"
    parts = module.split(".")
    if parts[0] == "monitor" and len(parts) >= 3 and parts[1] in DAEMON_ROOMS:
        return parts[1]
    return parts[0]


EVERYTHING = frozenset({"base", "pure", "probes", "alerts", *DAEMON_ROOMS, "monitor"})
ALLOWED: Mapping[str, frozenset[str]] = {
    "base": frozenset({"base"}),
    "pure": frozenset({"base", "pure"}),
    "probes": frozenset({"base", "probes"}),
    "alerts": frozenset({"base", "alerts"}),
    "engine": frozenset({"base", "pure", "probes", "alerts", "engine"}),
    "web": frozenset({"base", "pure", "engine", "web"}),
    "history": frozenset({"base", "pure", "alerts", "engine", "web", "history"}),
    "monitor": EVERYTHING,
}
"""Room -> the rooms its modules may import (ARCHITECTURE.md, "Import rules")."""

EXCEPTIONS: Mapping[tuple[str, str], str] = {
    (
        "monitor.engine.config",
        "monitor.web.security",
    ): "config validates [web] with the web room's model",
}


def test_the_graph_is_read() -> None:
    # The rules below pass vacuously on an empty graph: make sure it is not.
    assert len(MODULES) > 60
    assert "monitor.contract" in EDGES["monitor.engine.state"]
    assert "monitor.engine.shard_spec" in EDGES["monitor.engine.config"]


def test_no_import_cycles() -> None:
    assert cycles(EDGES) == []


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_exceptions_are_still_needed() -> None:
    # An exception whose import went away is a rule nobody enforces any more.
    for module, target in EXCEPTIONS:
        assert target in EDGES[module], (module, target)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_room_rules(module: str) -> None:
    allowed = ALLOWED[room(module)]
    wrong = sorted(
        t for t in EDGES[module] if room(t) not in allowed and (module, t) not in EXCEPTIONS
    )
    assert wrong == [], f"{module} ({room(module)}) may import only {sorted(allowed)}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN_THIRD_PARTY))
def test_packages_keep_off_what_is_not_theirs(package: str) -> None:
    offending = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if room(name) == package
        for target in imported(path, MODULES)
        if target.split(".")[0] in FORBIDDEN_THIRD_PARTY[package]
    )
    assert offending == []


def test_the_architecture_document_states_these_rules() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert "(ARCHITECTURE.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    for module in sorted(BASE - {"monitor"}):
        assert f"`{module.replace('.', '/')}.py`" in text, module
    for module in sorted(PURE):
        assert f"`{module.replace('.', '/')}.py`" in text, module
