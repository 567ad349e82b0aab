"""What ``ragdiplo index`` does with a corpus it can only partly read: a folder
whose names can be listed but whose files cannot be opened is refused, naming the
folder, and an update from it removes nothing; what it skips on purpose (hidden
files, other kinds of file, empty ones) is counted in its summary line; JSONL
fields of the wrong type are refused with their line.

Permission cases run the command in a child process without the power to ignore
file permissions: as an ordinary user, or as root under ``setpriv`` dropping the
DAC capabilities (skipped when neither is possible)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ragdiplo.index.load import load_index

from .helpers import child, one_line_error, snapshot
from .helpers import refused as _fails
from .helpers import run_cli as _run


def _restricted() -> tuple[str, ...]:
    """A prefix that runs a command without the power to ignore file permissions."""
    if not hasattr(os, "geteuid"):
        pytest.skip("POSIX permissions")
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")


def _cli_as_user(*argv: object) -> tuple[int, str]:
    proc = child("cli", *argv, prefix=_restricted())
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


# -- item 6: folders whose files cannot be opened ---------------------------------------------------


@pytest.mark.parametrize("mode", [0o444, 0o111, 0o000], ids=["r--r--r--", "--x--x--x", "---------"])
def test_a_folder_whose_files_cannot_be_opened_is_refused(tiny_corpus, tmp_path, mode):
    sub = tiny_corpus / "sub"
    sub.chmod(mode)
    try:
        code, err = _cli_as_user("index", tiny_corpus, "--index", tmp_path / "i", "-q")
    finally:
        sub.chmod(0o755)
    assert code == 2, err
    line = one_line_error(err)
    assert str(sub) in line and "cannot be read" in line
    assert not (tmp_path / "i" / "manifest.json").exists()


@pytest.mark.parametrize("mode", [0o444, 0o111, 0o000], ids=["r--r--r--", "--x--x--x", "---------"])
def test_an_update_from_such_a_folder_removes_nothing(tiny_corpus, cli_index, mode):
    before = snapshot(cli_index)
    sub = tiny_corpus / "sub"
    sub.chmod(mode)
    try:
        code, err = _cli_as_user("index", tiny_corpus, "--index", cli_index, "-q")
    finally:
        sub.chmod(0o755)
    assert code == 2, err
    assert str(sub) in one_line_error(err)
    assert snapshot(cli_index) == before
    assert "sub/c.txt" in load_index(cli_index).ids


def test_a_read_only_folder_is_indexed(tiny_corpus, tmp_path):
    """r-xr-xr-x: nothing is missing, so nothing is refused."""
    sub = tiny_corpus / "sub"
    sub.chmod(0o555)
    try:
        code, err = _cli_as_user("index", tiny_corpus, "--index", tmp_path / "i", "-q")
    finally:
        sub.chmod(0o755)
    assert code == 0, err
    assert load_index(tmp_path / "i").ids == ["a.txt", "b.txt", "sub/c.txt"]


# -- item 7: what is skipped is counted ----------------------------------------------------------


def test_the_summary_counts_what_was_skipped_and_why(tiny_corpus, tmp_path, capsys):
    (tiny_corpus / ".hidden.txt").write_text("A hidden note about the harbour.")
    (tiny_corpus / ".drafts").mkdir()
    (tiny_corpus / ".drafts" / "draft.txt").write_text("A draft.")
    (tiny_corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (tiny_corpus / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tiny_corpus / "blank.md").write_text("  \n\n")
    (tiny_corpus / "outside.txt").symlink_to(tmp_path / "elsewhere.txt")
    (tmp_path / "elsewhere.txt").write_text("Outside the corpus.")
    (tiny_corpus / "broken.txt").symlink_to(tmp_path / "gone.txt")
    code, _, err = _run(capsys, "index", tiny_corpus, "--index", tmp_path / "i")
    assert code == 0, err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("indexed 3 documents"), err
    for part in ("skipped 7", "2 hidden", "2 not .txt or .md", "1 with no text", "1 outside the corpus",
                 "1 broken link"):  # fmt: skip
        assert part in summary, summary


def test_nothing_skipped_says_nothing(tiny_corpus, tmp_path, capsys):
    code, _, err = _run(capsys, "index", tiny_corpus, "--index", tmp_path / "i")
    assert code == 0 and "; skipped" not in err


# -- item 8: JSONL fields of the wrong type ----------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"id": None, "text": "The mayor signed."}, "'id' must be a string"),
        ({"id": ["a"], "text": "The mayor signed."}, "'id' must be a string"),
        ({"id": True, "text": "The mayor signed."}, "'id' must be a string"),
        ({"id": 1.5, "text": "The mayor signed."}, "'id' must be a string"),
        ({"text": "The mayor signed."}, '"id"'),
        ({"_id": None, "text": "The mayor signed."}, "'_id' must be a string"),
        ({"id": "b", "text": "The mayor signed.", "date": 20250227}, "'date' must be a string"),
        ({"id": "b", "text": "The mayor signed.", "tags": "a,b", "source": ["x"]}, "'source' must be a string"),
    ],
    ids=["id-null", "id-list", "id-bool", "id-float", "id-missing", "underscore-id-null", "date-number",
         "source-list"],
)  # fmt: skip
def test_jsonl_fields_of_the_wrong_type_are_refused_with_their_line(tmp_path, capsys, row, expected):
    corpus = tmp_path / "news.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "The harbour deal was signed."}) + "\n" + json.dumps(row) + "\n")
    line = _fails(capsys, "index", corpus, "--index", tmp_path / "i")
    assert "news.jsonl:2" in line and expected in line, line
    assert not (tmp_path / "i").exists()


def test_jsonl_integer_ids_are_still_read_as_text(tmp_path, capsys):
    corpus = tmp_path / "news.jsonl"
    corpus.write_text(json.dumps({"id": 7, "text": "The harbour deal was signed."}) + "\n")
    assert _run(capsys, "index", corpus, "--index", tmp_path / "i", "-q")[0] == 0
    assert load_index(tmp_path / "i").ids == ["7"]
