"""The package's shape: stage packages that import only downwards, and no cycles.

The order is the pipeline's (docs/architecture.md): what a module may import is
its own stage or a stage listed before it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ragdiplo"
STAGES = [
    {"types", "errors", "_version", "durable"},
    {"ingest"},
    {"embed"},
    {"stores"},
    {"index"},
    {"answer"},
    {"eval"},
    {"qa"},
    {"cli"},
    {"__init__", "__main__"},
]
MAX_LINES = 400


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _stage(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for level, names in enumerate(STAGES):
        if top in names:
            return level
    raise AssertionError(f"{module} belongs to no stage; add it to STAGES and docs/architecture.md")


def _imports(path: Path) -> set[str]:
    """Every ragdiplo module ``path`` imports, at any depth (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ragdiplo"):
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{_module(path)}: use absolute imports (from ragdiplo.x import ...)")
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ragdiplo")}
    return {m for m in found if m != "ragdiplo"}


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path):
            # "ragdiplo.index" names the package: its __init__
            targets.add(imported if imported in modules else imported + ".__init__")
        graph[name] = targets
    return graph


def test_modules_import_only_their_own_stage_or_stages_below():
    if (PACKAGE / "__init__.py").read_text().count("import_module") == 0:
        pytest.fail("the top-level package should import lazily")
    upward = [
        f"{src} -> {dst}"
        for src, targets in _graph().items()
        for dst in targets
        if not src.endswith("__init__") or src.count(".") > 1
        if _stage(dst) > _stage(src)
    ]
    assert not upward, "imports that climb up the pipeline:\n" + "\n".join(sorted(upward))


def test_there_are_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]) if nxt in trail else nxt)
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_modules_stay_small():
    big = {_module(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split them): {big}"


def test_the_architecture_page_lists_every_module_once():
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")

    listed = re.findall(r"^- `(ragdiplo/[\w/]+\.py)`", page, flags=re.M)
    actual = sorted(p.relative_to(PACKAGE.parent).as_posix() for p in PACKAGE.rglob("*.py"))
    assert sorted(listed) == actual, "docs/architecture.md and the tree disagree: " + str(
        sorted(set(listed) ^ set(actual))
    )
