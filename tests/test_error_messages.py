"""Library errors speak to Python callers: a message names the parameter that fixes
it (``max_document_bytes=``, ``StoreConfig(uri=...)``), never a command-line flag;
the flag goes into ``cli_message``, which the CLI and the REPL print instead."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.errors import CorpusError, RagdiploError
from ragdiplo.ingest.corpus import load_corpus

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "ragdiplo"
# a flag (--store) or a command line (`ragdiplo index ...`)
CLI_WORDS = re.compile(r"(?<![\w-])--[a-z]|\bragdiplo (index|ask|eval|repl)\b")


def _strings(node: ast.AST, bound: dict[str, list[ast.expr]], depth: int = 0) -> list[str]:
    """The string constants ``node`` is made of, following local names one step
    (``what = f"..."; raise X(f"{what}; ...")``) and constant subscripts of tuples."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if depth < 3 and isinstance(node, ast.Name):
        return [s for value in bound.get(node.id, []) for s in _strings(value, bound, depth + 1)]
    if (depth < 3 and isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int)):
        picked = [v.elts[node.slice.value] for v in bound.get(node.value.id, []) if isinstance(v, ast.Tuple)]
        return [s for value in picked for s in _strings(value, bound, depth + 1)]
    return [s for child in ast.iter_child_nodes(node) for s in _strings(child, bound, depth)]


def _bindings(scope: ast.AST) -> dict[str, list[ast.expr]]:
    """Names assigned in a function, or at a module's top level."""
    bound: dict[str, list[ast.expr]] = {}
    for node in scope.body if isinstance(scope, ast.Module) else ast.walk(scope):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bound.setdefault(node.targets[0].id, []).append(node.value)
    return bound


def _error_messages(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string in the message (first argument) of an ``...Error(...)`` call."""
    tree = ast.parse(source)
    found = []
    module = _bindings(tree)
    for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
        bound = module if scope is tree else {**module, **_bindings(scope)}  # a local name hides a module one
        body = scope.body if isinstance(scope, ast.Module) else [scope]
        for node in (n for top in body for n in ast.walk(top)):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name.endswith("Error"):
                found += [(node.lineno, s) for s in _strings(node.args[0], bound)]
    return found


def _offenders() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("ragdiplo/cli/"):
            continue
        bad = sorted({f"{line}: {text!r}" for line, text in _error_messages(path.read_text("utf-8"))
                      if CLI_WORDS.search(text)})
        if bad:
            out[rel] = bad
    return out


def test_the_scan_finds_flags_in_messages():
    source = '''
def f(uri):
    what = f"bad {uri}"
    remedy = ("pass uri=", "pass --milvus-uri")
    raise ConfigError(f"{what}; {remedy[0]}", cli_message=f"{what}; {remedy[1]}")
def g():
    return CorpusError("too big; raise it with --max-document-mb")
def h(what="x"):
    raise GoldError(f"{what}; write one with `ragdiplo eval ... --json FILE`")
HINT = "or pass --lock-timeout"
def k():
    raise IndexLockedError(f"busy; {HINT}")
'''
    texts = [text for _, text in _error_messages(source)]
    assert "pass uri=" in texts and "pass --milvus-uri" not in texts  # cli_message is where flags belong
    assert {t for t in texts if CLI_WORDS.search(t)} == {
        "too big; raise it with --max-document-mb", "; write one with `ragdiplo eval ... --json FILE`",
        "or pass --lock-timeout"}


def test_library_error_messages_name_no_command_line_flags():
    offenders = _offenders()
    assert not offenders, "name the Python remedy; put the flag in cli_message=:\n" + "\n".join(
        f"{path}:{line}" for path, bad in offenders.items() for line in bad)


def test_too_big_document_names_the_parameter_and_the_cli_the_flag(tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "long.txt").write_text("A sentence of news. " * 100, encoding="utf-8")
    with pytest.raises(CorpusError) as caught:
        load_corpus(corpus, max_document_bytes=100)
    assert "max_document_bytes=" in str(caught.value) and "--" not in str(caught.value)
    assert "--max-document-mb" in (caught.value.cli_message or "")

    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    assert cli.main(["index", str(corpus), "--index", str(tmp_path / "i"), "--max-document-mb", "0.0001"]) == 2
    err = capsys.readouterr().err
    assert "--max-document-mb" in err and "max_document_bytes" not in err


def test_cli_and_repl_print_the_cli_message(tmp_path, capsys, monkeypatch):
    import io

    import ragdiplo.ingest.corpus as corpus
    from ragdiplo.cli import repl

    error = RagdiploError("pass k= to QA.ask", cli_message="pass --k to ragdiplo ask")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(corpus, "load_corpus", fail)
    assert cli.main(["index", str(tmp_path), "--index", str(tmp_path / "i")]) == 2
    assert capsys.readouterr().err.strip() == "ragdiplo: error: pass --k to ragdiplo ask"

    session = repl.Session(qa=type("FailingQA", (), {"ask": staticmethod(fail)})(), k=3, out=io.StringIO())
    repl.ask(session, "anything")
    assert session.out.getvalue() == "error: pass --k to ragdiplo ask\n"
