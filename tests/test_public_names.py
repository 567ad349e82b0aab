"""The top-level names: one table (``_MODULE_OF``) that ``__all__``, the lazy
loader and the TYPE_CHECKING imports all agree with; and every exception the
library raises reachable from ``ragdiplo.errors`` and documented."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
from pathlib import Path

import pytest

import ragdiplo
import ragdiplo.errors as errors

REPO = Path(__file__).resolve().parents[1]
INIT = REPO / "ragdiplo" / "__init__.py"


def _type_checking_imports() -> dict[str, str]:
    """name -> module (relative to ragdiplo) of each import under ``if TYPE_CHECKING:``."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    blocks = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    assert len(blocks) == 1, "one `if TYPE_CHECKING:` block of imports"
    seen: dict[str, str] = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom) and node.module, ast.unparse(node)
        for alias in node.names:
            # "X as X" marks a re-export for mypy --no-implicit-reexport and pyright
            assert alias.asname == alias.name, f"write `{alias.name} as {alias.name}`"
            assert alias.name not in seen, f"{alias.name} imported twice"
            seen[alias.name] = node.module.removeprefix("ragdiplo.")
    return seen


def test_table_all_and_type_checking_block_agree():
    table = ragdiplo._MODULE_OF
    assert _type_checking_imports() == table
    assert ragdiplo.__all__ == ["__version__", *table]
    assert len(set(ragdiplo.__all__)) == len(ragdiplo.__all__)


def test_each_public_name_is_its_stage_modules_object():
    for name, module in ragdiplo._MODULE_OF.items():
        assert getattr(ragdiplo, name) is getattr(importlib.import_module(f"ragdiplo.{module}"), name), name
    assert set(ragdiplo.__all__) <= set(dir(ragdiplo))


def test_a_name_outside_the_table_is_not_top_level_but_stays_importable():
    with pytest.raises(AttributeError, match="OnnxEmbedder"):
        ragdiplo.OnnxEmbedder  # noqa: B018
    from ragdiplo.embed.onnx_backend import OnnxEmbedder
    from ragdiplo.stores.faiss_store import StoreConfig

    assert OnnxEmbedder.__name__ == "OnnxEmbedder" and StoreConfig.__name__ == "StoreConfig"


def _raised_names() -> set[str]:
    """Names of the classes raised (``raise Name(...)``) anywhere in the library."""
    names = set()
    for path in (REPO / "ragdiplo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
                names.add(node.exc.func.id)
    return names


def _library_errors() -> dict[str, type]:
    return {n: c for n, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.RagdiploError)}


def test_every_library_error_raised_lives_in_ragdiplo_errors():
    ours = {n for n in _raised_names() if n.endswith("Error") and not hasattr(builtins, n)}
    assert ours, "the scan found the library's raises"
    assert ours <= set(_library_errors()), ours - set(_library_errors())


def test_every_library_error_is_documented_in_the_guide():
    guide = (REPO / "docs" / "guide.md").read_text(encoding="utf-8")
    section = guide.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    assert "ragdiplo.errors" in section
    missing = [n for n in _library_errors() if not re.search(rf"`{n}`", section)]
    assert not missing, f"docs/guide.md#errors does not name {missing}"


def test_top_level_errors_are_those_of_ragdiplo_errors():
    top = [n for n in ragdiplo._MODULE_OF if n.endswith("Error")]
    assert "RagdiploError" in top
    assert all(getattr(ragdiplo, n) is getattr(errors, n) for n in top)
