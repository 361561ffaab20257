"""The one dependency rule (docs/architecture.md, "Packages and the dependency rule"), enforced.

Every import in every package (module level and inside functions; ``if TYPE_CHECKING:`` blocks
excluded, they never run) is read from the source. A package may import only the layers
listed for it in ``ALLOWED`` (no back-edges), and no module may reach itself again through
its imports (no cycles, not even through an import inside a function).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "eventlog", "engine", "projections", "replay", "ui", "hedge", "bench")

# layer -> the layers it may import (besides itself). Read bottom-up, as in docs/architecture.md.
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "eventlog": set(),
    "engine.rules": {"config"},
    "engine": {"config", "eventlog", "engine.rules"},
    "engine.venues": {"config", "eventlog", "engine.rules", "engine"},
    "engine.bootstrap": {"config", "eventlog", "engine.rules", "engine", "engine.venues"},
    "projections": {"config", "eventlog", "engine.rules"},
    "replay": {"config", "eventlog", "engine.rules", "engine", "engine.venues", "engine.bootstrap", "projections"},
    "ui": set(),
    "hedge": {"config", "eventlog", "engine.rules", "engine", "engine.venues", "engine.bootstrap", "projections",
              "replay", "ui"},
    "bench": {"config", "eventlog", "engine.rules", "engine", "engine.venues", "engine.bootstrap", "projections",
              "replay", "ui"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "engine" and len(parts) > 1 and parts[1] in ("rules", "venues", "bootstrap"):
        return f"engine.{parts[1]}"
    return parts[0]


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_pkg: bool) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")
                pkg = pkg if is_pkg else pkg[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            found.append(base)
            found.extend(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    g: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for target in _imports(ast.parse(path.read_text()), name, path.name == "__init__.py"):
            if target in mods and target != name:
                g[name].add(target)
    return g


def test_every_import_follows_the_dependency_rule() -> None:
    bad = sorted(f"{src} -> {dst}" for src, dsts in graph().items() for dst in dsts
                 if layer(src) != layer(dst) and layer(dst) not in ALLOWED[layer(src)])
    assert not bad, "imports against docs/architecture.md's dependency rule:\n" + "\n".join(bad)


def test_nothing_imports_the_tests_or_the_benches() -> None:
    mods = modules()
    bad = [f"{name}: {t}" for name, path in mods.items() if not name.startswith("bench")
           for t in _imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
           if t.split(".")[0] in ("tests", "bench")]
    assert not bad, bad


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            strong(v)
    return out


#: Cycles known and left to their owner, each with the reason; the test fails on any other
#: cycle, and on an entry here that no longer exists (so the list only shrinks).
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def test_no_import_cycles() -> None:
    found = {frozenset(c) for c in _cycles(graph())}
    assert found - set(KNOWN_CYCLES) == set(), "new import cycles: " + str(sorted(map(sorted, found - set(KNOWN_CYCLES))))
    assert set(KNOWN_CYCLES) - found == set(), "fixed cycles still listed in KNOWN_CYCLES"


def test_the_checker_sees_back_edges_and_cycles() -> None:
    """The rule test can fail: a planted back-edge and a planted cycle are caught."""
    tree = ast.parse("def f():\n    from hedge.progress import counter\n")
    assert _imports(tree, "projections.runner", False) == ["hedge.progress", "hedge.progress.counter"]
    assert "hedge" not in ALLOWED[layer("projections.runner")]
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    tc = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from projections.fold import Projector\n")
    assert _imports(tc, "projections.shadow", False) == ["typing", "typing.TYPE_CHECKING"]


#: The modules that hold or store the whole fold; every view and renderer is given what it reads.
PROJECTOR_USERS = {"projections.runner", "projections.parallel", "projections.checkpoint"}


def test_projection_views_are_given_what_they_need_not_the_projector() -> None:
    """No view imports ``projections.fold`` - not even for a type (``if TYPE_CHECKING:``), which
    is how six views once read their siblings through the ``Projector``."""
    found = []
    for name, path in modules().items():
        if not name.startswith("projections.") or name == "projections.fold" or name in PROJECTOR_USERS:
            continue
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        if "projections.fold" in imported:
            found.append(name)
    assert not found, f"views importing the Projector: {found}"
