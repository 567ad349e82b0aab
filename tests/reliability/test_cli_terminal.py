"""What reaches the terminal from data: an error line stays one line whatever a
file name holds; ``ask`` never prints a control character from a document, even
one that is a colour code ragdiplo itself uses (``\\x1b[0m``); and a ``--model``
folder that does not exist is named as such."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

import ragdiplo.cli.main as cli
from ragdiplo.cli.format import Style

from .helpers import refused as _fails
from .helpers import run_cli as _run

COLOURED = ("Harbour deal signed\nThe mayor \x1b[0msigned\x1b[1m a harbour deal \x1b[2mon Tuesday\x1b[1;33m in "
            "Port Vesta.\x07 Cranes arrive in May.\n")  # fmt: skip


# -- item 9: names in error lines ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["no\nsuch", "no\r\nsuch", "tab\there"], ids=["newline", "crlf", "tab"])
def test_an_error_naming_a_file_with_a_newline_stays_one_line(tmp_path, capsys, name):
    line = _fails(capsys, "index", tmp_path / name, "--index", tmp_path / "i")
    assert "\n" not in line.strip() and "\r" not in line and "\t" not in line
    assert "no such file or folder" in line


def test_a_corpus_file_named_with_a_newline_is_named_escaped(tmp_path, capsys):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "bad\nname.txt").write_bytes(b"caf\xe9")  # not UTF-8: an error that names the file
    line = _fails(capsys, "index", corpus, "--index", tmp_path / "i")
    assert "bad\\x0aname.txt" in line and "control characters" in line


# -- item 10: --model names a folder ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["index", "ask", "eval", "repl"])
def test_a_model_folder_that_does_not_exist_is_named(cli_index, tiny_corpus, tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    argv = {"index": ["index", tiny_corpus], "ask": ["ask", "Who signed?"], "eval": ["eval", tmp_path / "g.jsonl"],
            "repl": ["repl"]}[command]  # fmt: skip
    line = _fails(capsys, *argv, "--index", cli_index, "--model", "/nonexistent/model")
    assert "--model /nonexistent/model" in line and "no such folder" in line
    assert "repo" not in line.lower()


def test_a_model_that_is_a_file_is_named(cli_index, tmp_path, capsys):
    file = tmp_path / "model.bin"
    file.write_bytes(b"\x00")
    line = _fails(capsys, "ask", "Who signed?", "--index", cli_index, "--model", file)
    assert f"--model {file}" in line and "not a folder" in line


# -- item 11: colour codes inside documents ---------------------------------------------------------


@pytest.fixture
def coloured_index(tmp_path, capsys) -> Path:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "vesta.txt").write_text(COLOURED)
    assert _run(capsys, "index", corpus, "--index", tmp_path / "i", "-q")[0] == 0
    return tmp_path / "i"


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR", "piped"])
def test_document_colour_codes_are_escaped_without_a_terminal(coloured_index, capsys, monkeypatch, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    code, out, err = _run(capsys, "ask", "Who signed the harbour deal on Tuesday?", "--index", coloured_index)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[0m" in out or "withheld" in out


def test_document_colour_codes_are_escaped_on_a_terminal(coloured_index, capsys, monkeypatch):
    """On a colour terminal too: a document's ``\\x1b[0m`` is shown, never obeyed."""
    monkeypatch.setattr(cli, "style_for", lambda stream: Style(color=True, width=100))
    code, out, err = _run(capsys, "ask", "Who signed the harbour deal on Tuesday?", "--index", coloured_index,
                          "-k", "1")  # fmt: skip
    assert code == 0, err
    assert "\\x1b[0m" in out and "\\x1b[1m" in out and "\\x07" in out
    assert "\x07" not in out


def test_plain_documents_keep_their_colour(cli_index, capsys, monkeypatch):
    monkeypatch.setattr(cli, "style_for", lambda stream: Style(color=True, width=100))
    code, out, err = _run(capsys, "ask", "How long will the dredging take?", "--index", cli_index)
    assert code == 0, err
    assert "\x1b[1m" in out and "\\x1b" not in out
