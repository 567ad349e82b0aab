"""``eval`` checks its
outputs and the gold file before answering anything; input that once gave a
traceback gives one line and status 2; text from documents reaches the terminal
escaped; and an unexpected error prints one line, saves its traceback to a file
and exits with status 3 (``cli.main.INTERNAL_ERROR``)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

import ragdiplo.cli.main as cli
import ragdiplo.eval.run as eval_run
from ragdiplo.durable import file_record, seal
from ragdiplo.index.build import MANIFEST

from .helpers import refused as _fails
from .helpers import run_cli as _run
from .helpers import snapshot

QUESTION = "Who signed the harbour deal?"
GOLD = {"id": "q1", "question": QUESTION, "answers": ["Ilse Marten"],
        "evidence": [{"doc": "a.txt", "quote": "signed a harbour deal worth $40 million"}]}  # fmt: skip


def _gold(tmp_path: Path, *rows: object) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def nothing_answered(monkeypatch):
    """Fails the test if a question is answered: the checks must come first."""
    monkeypatch.setattr(eval_run, "predict", lambda *a, **k: pytest.fail("questions were answered"))
    monkeypatch.setattr(cli, "open_qa", lambda args: pytest.fail("the index was loaded"))


# -- item 8: eval checks its output paths first --------------------------------------------------


@pytest.mark.parametrize(
    ("option", "make", "expected"),
    [
        ("--out", lambda t: t / "missing" / "pred.jsonl", "does not exist"),
        ("--report", lambda t: t / "missing" / "report.html", "does not exist"),
        ("--json", lambda t: t, "is a folder"),
        ("--out", lambda t: t, "is a folder"),
    ],
    ids=["out-missing-folder", "report-missing-folder", "json-is-a-folder", "out-is-a-folder"],
)
def test_bad_output_paths_are_refused_before_the_run(
    cli_index, tmp_path, capsys, nothing_answered, option, make, expected
):
    line = _fails(capsys, "eval", _gold(tmp_path, GOLD), "--index", cli_index, option, make(tmp_path))
    assert option in line and expected in line


def test_two_outputs_naming_one_file_are_refused(cli_index, tmp_path, capsys, nothing_answered):
    same = tmp_path / "out.json"
    line = _fails(capsys, "eval", _gold(tmp_path, GOLD), "--index", cli_index, "--out", same, "--json", same)
    assert "name the same file" in line


def test_good_output_paths_still_work(cli_index, tmp_path, capsys):
    code, _, err = _run(capsys, "eval", _gold(tmp_path, GOLD), "--index", cli_index, "-q",
                          "--out", tmp_path / "p.jsonl", "--json", tmp_path / "m.json")  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "p.jsonl").is_file() and json.loads((tmp_path / "m.json").read_text())


# -- item 9: the gold file is validated up front, by line -----------------------------------------


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({**GOLD, "answers": "Ilse Marten"}, "'answers' must be a list"),  # was split into characters, exit 0
        ({**GOLD, "answers": [1, None]}, "'answers' must be a list of non-empty strings"),  # crashed after the run
        ({**GOLD, "evidence": [{"doc": "a.txt", "quote": ""}]}, "non-empty quote"),  # was accepted
        ({**GOLD, "question": ""}, "'question' must be a non-empty string"),
        ({**GOLD, "id": None}, "'id' must be"),
        ({**GOLD, "answer": ["x"]}, "unknown field 'answer'"),
        (["not", "an", "object"], "not a JSON object"),
        ('{"id": "q2", "question": ', "not JSON"),
    ],
    ids=[
        "answers-string", "answers-non-strings", "empty-quote", "empty-question", "null-id", "typo-field", "array",
        "truncated-line",
    ],
)
def test_malformed_gold_is_refused_with_its_line(cli_index, tmp_path, capsys, nothing_answered, bad, expected):
    gold = _gold(tmp_path, GOLD, bad)
    line = _fails(capsys, "eval", gold, "--index", cli_index)
    assert f"{gold}:2:" in line and expected in line


def test_duplicate_ids_are_refused(cli_index, tmp_path, capsys, nothing_answered):
    gold = _gold(tmp_path, GOLD, {**GOLD, "question": "How much was the deal worth?"})
    line = _fails(capsys, "eval", gold, "--index", cli_index)
    assert f"{gold}:2:" in line and "also on line 1" in line


# -- item 10: what once printed a traceback ---------------------------------------------------------


def test_non_utf8_bytes_in_a_question(cli_index, capsys):
    question = os.fsdecode(b"Who signed the \xff harbour deal?")  # how Python hands over such argv bytes
    assert "not UTF-8" in _fails(capsys, "ask", question, "--index", cli_index)


def test_non_utf8_bytes_in_the_repl_do_not_end_it(cli_index, capsys, monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"Who signed the \xff harbour deal?\n" + QUESTION.encode() + b"\n"), "utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = _run(capsys, "repl", "--index", cli_index)
    assert code == 0 and "Traceback" not in err
    assert out.count("Answer:") + out.count("withheld") >= 2, out


def _plant(root: Path, name: str, data: bytes) -> None:
    """Replace a data file and re-sign it, as someone controlling the folder would."""
    m = json.loads((root / MANIFEST).read_text())
    (root / m["data"] / name).write_bytes(data)
    m["files"][name] = file_record(root / m["data"] / name)
    (root / MANIFEST).write_text(json.dumps(seal(m)))


def _npy_header_tokenize_error(root: Path) -> None:
    m = json.loads((root / MANIFEST).read_text())
    data = bytearray((root / m["data"] / "passages.npy").read_bytes())
    size = int.from_bytes(data[8:10], "little")
    header = data[10 : 10 + size].replace(b"'<i8'", b"'''<i8")  # an unterminated string: tokenize.TokenError
    _plant(root, "passages.npy", bytes(data[:10] + header + data[10 + size :]))


def _bm25_params(root: Path) -> None:
    m = json.loads((root / MANIFEST).read_text())
    params = json.loads((root / m["data"] / "bm25" / "params.index.json").read_text())
    params["method"] = "bm25l"  # loads, then fails at the first query (no non-occurrence array)
    _plant(root, "bm25/params.index.json", json.dumps(params).encode())


@pytest.mark.parametrize("craft", [_npy_header_tokenize_error, _bm25_params], ids=["npy-header", "bm25-params"])
def test_crafted_data_is_one_line_and_index_rebuilds(cli_index, tiny_corpus, capsys, craft):
    craft(cli_index)
    line = _fails(capsys, "ask", QUESTION, "--index", cli_index)
    assert "cannot be read" in line and "ragdiplo index" in line
    code, _, err = _run(capsys, "index", tiny_corpus, "--index", cli_index)  # as the message says
    assert code == 0 and "full rebuild" in err
    assert _run(capsys, "ask", QUESTION, "--index", cli_index)[0] == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-document-mb", "inf"), ("--max-document-mb", "nan"), ("--lock-timeout", "nan"),
        ("--lock-timeout", "-1"), ("--lock-timeout", "inf"),
    ],
)
def test_numbers_that_are_not_limits(cli_index, tiny_corpus, capsys, option, value):
    before = snapshot(cli_index)
    line = _fails(capsys, "index", tiny_corpus, "--index", cli_index, option, value)
    assert option in line and snapshot(cli_index) == before


# -- item 13: terminal safety ---------------------------------------------------------------------

HOSTILE_TEXT = "Harbour deal signed\n\x1b[2J\x1b]0;pwned\x07The mayor signed a harbour deal on Tuesday.\x9b31m Done.\n"
HOSTILE_ID = "report\u202etxt.exe\u2028\x85.txt"
RAW = ("\x1b", "\x07", "\x9b", "\x85", "\u202e", "\u2028")


@pytest.fixture
def hostile_index(tmp_path, capsys) -> Path:
    corpus = tmp_path / "hostile"
    corpus.mkdir()
    (corpus / HOSTILE_ID).write_text(HOSTILE_TEXT)
    assert _run(capsys, "index", corpus, "--index", tmp_path / "h", "-q")[0] == 0
    return tmp_path / "h"


def test_ask_prints_document_text_and_ids_escaped(hostile_index, capsys):
    code, out, _ = _run(capsys, "ask", "Who signed the harbour deal?", "--index", hostile_index)
    assert code == 0 and not any(c in out for c in RAW)
    assert "\\x1b[2J\\x1b]0;" in out and "report\\u202etxt.exe\\u2028\\x85.txt" in out


def test_ask_json_is_escaped_and_still_the_same_json(hostile_index, capsys):
    code, out, _ = _run(capsys, "ask", "Who signed the harbour deal?", "--index", hostile_index, "--json")
    assert code == 0 and not any(c in out for c in RAW)
    answer = json.loads(out)
    assert {c["doc"] for c in answer["citations"] + answer["retrieved"]} == {HOSTILE_ID}


def test_repl_prints_document_text_escaped(hostile_index, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Who signed the harbour deal?\n:show 1\n"))
    code, out, _ = _run(capsys, "repl", "--index", hostile_index)
    assert code == 0 and not any(c in out for c in RAW)
    assert "\\x1b[2J" in out and "\\u202e" in out


def test_error_lines_are_escaped(tmp_path, capsys):
    line = _fails(capsys, "index", tmp_path / "no\x1b]0;pwned\x07such", "--index", tmp_path / "i")
    assert "\\x1b]0;pwned\\x07" in line and "\x1b" not in line


# -- the last resort ------------------------------------------------------------------------------


def test_an_internal_error_is_one_line_with_a_saved_traceback(cli_index, tmp_path, capsys, monkeypatch):
    import tempfile

    def bug(args):
        return 1 // 0

    monkeypatch.setattr(cli, "cmd_ask", bug)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, _, err = _run(capsys, "ask", QUESTION, "--index", cli_index)
    assert code == cli.INTERNAL_ERROR == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ragdiplo: internal error (ZeroDivisionError") and "Traceback" not in err
    saved = Path(lines[0].rsplit(" ", 1)[1])
    assert saved.parent == tmp_path and "ZeroDivisionError" in saved.read_text() and "Traceback" in saved.read_text()
