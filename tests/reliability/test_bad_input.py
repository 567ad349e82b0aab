"""Bad input through the CLI: each case either works, or exits with status 2 and
one ``ragdiplo: error:`` line (no traceback), and the existing index is untouched."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.index.load import load_index

from .helpers import child, one_line_error, snapshot

STORY = "The mayor of Port Vesta signed a harbour deal worth $40 million on Tuesday. Cranes arrive in May.\n"


@pytest.fixture
def existing(cli_index) -> Path:
    """An index already on disk, which no failing command may change."""
    return cli_index


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fails(capsys, *argv: str) -> str:
    code, _, err = _run(capsys, *argv)
    assert code == 2, err
    return one_line_error(err)


def _write(root: Path, name: str, data: bytes | str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# -- corpus ------------------------------------------------------------------------------------


def _missing(root: Path) -> Path:
    return root / "does-not-exist"


def _empty_folder(root: Path) -> Path:
    root.mkdir()
    return root


def _empty_and_blank_files(root: Path) -> Path:
    _write(root, "empty.txt", b"")
    _write(root, "blank.md", " \n\t\r\n\u00a0\u2003\n")
    return root


def _binary(root: Path) -> Path:
    _write(root, "good.txt", STORY)
    _write(root, "photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    return root


def _latin1(root: Path) -> Path:
    _write(root, "good.txt", STORY)
    _write(root, "cafe.txt", "Le caf\xe9 cr\xe8me co\xfbte 3 \xe9cus.".encode("latin-1"))
    return root


def _fifty_mb(root: Path) -> Path:
    _write(root, "good.txt", STORY)
    with open(root / "dump.txt", "wb") as f:
        f.writelines(b"harbour deal words " * (1024 * 1024 // 19 + 1) for _ in range(50))
    return root


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_missing, ["does-not-exist", "no such file or folder"]),
        (_empty_folder, ["no non-empty"]),
        (_empty_and_blank_files, ["no non-empty"]),
        (_binary, ["photo.txt", "binary"]),
        (_latin1, ["cafe.txt", "not valid UTF-8", "iconv"]),
        (_fifty_mb, ["dump.txt", "per-document limit of 10,485,760 bytes (10 MiB)", "--max-document-mb"]),
    ],
    ids=["missing-path", "empty-folder", "empty-and-whitespace-files", "binary-file", "latin1-file", "50mb-file"],
)
def test_bad_corpus_fails_cleanly_and_keeps_the_index(existing, tmp_path, capsys, make, expected):
    before = snapshot(existing)
    corpus = make(tmp_path / "bad")
    line = _fails(capsys, "index", str(corpus), "--index", str(existing))
    for part in expected:
        assert part in line
    assert snapshot(existing) == before


def test_document_limit_is_configurable(tmp_path, capsys):
    corpus = tmp_path / "c"
    _write(corpus, "long.txt", STORY * 300)  # about 30 kB
    line = _fails(capsys, "index", str(corpus), "--index", str(tmp_path / "i"), "--max-document-mb", "0.01")
    assert "long.txt" in line and "10,485 bytes" in line
    assert _run(capsys, "index", str(corpus), "--index", str(tmp_path / "i"), "-q")[0] == 0
    assert _fails(capsys, "index", str(corpus), "--index", str(tmp_path / "i"), "--max-document-mb", "0")


def test_empty_files_beside_real_ones_are_skipped(tmp_path, capsys):
    corpus = _empty_and_blank_files(tmp_path / "c")
    _write(corpus, "real.txt", STORY)
    assert _run(capsys, "index", str(corpus), "--index", str(tmp_path / "i"), "-q")[0] == 0
    assert load_index(tmp_path / "i").ids == ["real.txt"]


def test_one_100000_character_sentence_without_punctuation(tmp_path, capsys):
    words = ["harbour", "deal", "Vesta", "cranes", "dredging", "channel", "million", "Tuesday"]
    text = " ".join(words[i % len(words)] for i in range(20000))[:100_000]
    corpus = tmp_path / "c"
    _write(corpus, "long.txt", text)
    assert _run(capsys, "index", str(corpus), "--index", str(tmp_path / "i"), "-q")[0] == 0
    index = load_index(tmp_path / "i")
    covered = bytearray(len(text))
    for row in range(len(index)):
        p = index.passage(row)
        assert text[p.start : p.end] == p.text
        assert len(FakeEmbedder().token_spans(p.text)) <= index.chunker.max_tokens
        covered[p.start : p.end] = b"\x01" * (p.end - p.start)
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())
    code, out, _ = _run(capsys, "ask", "How many cranes?", "--index", str(tmp_path / "i"), "--json")
    assert code == 0 and json.loads(out)["retrieved"]


def test_file_names_with_spaces_and_non_ascii(tmp_path, capsys):
    corpus = tmp_path / "c"
    names = ["my news file.txt", "Zürich/über café.md", "新闻 报道.txt", "ελληνικά.txt"]
    for i, name in enumerate(names):
        _write(corpus, name, f"Story {i}: the {['harbour', 'strike', 'drought', 'bridge'][i]} report was published.")
    assert _run(capsys, "index", str(corpus), "--index", str(tmp_path / "i"), "-q")[0] == 0
    assert load_index(tmp_path / "i").ids == sorted(names)
    code, out, _ = _run(capsys, "ask", "Which drought report?", "--index", str(tmp_path / "i"), "--json")
    assert code == 0
    for c in json.loads(out)["citations"]:
        assert c["doc"] in names
        assert (corpus / c["doc"]).read_text(encoding="utf-8")[c["start"] : c["end"]] == c["text"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loops_do_not_hang_the_index_command(tmp_path, capsys):
    corpus = tmp_path / "c"
    _write(corpus, "sub/a.txt", STORY)
    os.symlink("..", corpus / "sub" / "up")
    os.symlink("loop.txt", corpus / "loop.txt")
    result: list[int] = []
    t = threading.Thread(
        target=lambda: result.append(cli.main(["index", str(corpus), "--index", str(tmp_path / "i"), "-q"]))
    )
    t.start()
    t.join(60)
    assert not t.is_alive(), "index hangs on a symlink loop"
    assert result == [0]
    assert load_index(tmp_path / "i").ids == ["sub/a.txt"]


# -- index path --------------------------------------------------------------------------------


def test_index_path_that_is_a_file(tiny_corpus, tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("my notes", encoding="utf-8")
    assert "is a file" in _fails(capsys, "index", str(tiny_corpus), "--index", str(f))
    assert "is a file" in _fails(capsys, "ask", "Who signed?", "--index", str(f))
    assert f.read_text(encoding="utf-8") == "my notes"


def _restricted() -> tuple[str, ...]:
    """A prefix that runs a command without the power to ignore file permissions:
    none for an ordinary user; for root, setpriv dropping the DAC capabilities."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
@pytest.mark.parametrize("lock_file", [True, False], ids=["lock-file-present", "no-lock-file"])
def test_read_only_index_folder(existing, tiny_corpus, capsys, lock_file):
    prefix = _restricted()
    _write(tiny_corpus, "new.txt", "A new story about a bridge in Lindau.")
    if not lock_file:
        (existing / "write.lock").unlink()
    before = snapshot(existing)
    folders = [existing, *existing.glob("data-*")]
    for folder in folders:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        writer = child("cli", "index", tiny_corpus, "--index", existing, "-q", prefix=prefix)
        _, err = writer.communicate(timeout=120)
        reader = child("cli", "ask", "How long will the dredging take?", "--index", existing, "--json", prefix=prefix)
        out, read_err = reader.communicate(timeout=120)
    finally:
        for folder in folders:
            folder.chmod(stat.S_IRWXU)
    assert writer.returncode == 2, err
    line = one_line_error(err)
    assert str(existing) in line and "cannot write" in line and "unchanged" in line
    assert snapshot(existing) == before
    assert reader.returncode == 0, read_err  # readers need no lock and write nothing
    assert json.loads(out)["citations"]


# -- questions and k ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [("", "empty"), ("   \t\n ", "empty"), ("x" * 100_000, "100000 characters"), ("?!… — «»", "no words")],
    ids=["empty", "whitespace", "100000-chars", "only-punctuation"],
)
def test_unusable_questions(existing, capsys, question, expected):
    assert expected in _fails(capsys, "ask", question, "--index", str(existing))


@pytest.mark.parametrize(
    "question", ["港口协议是什么时候签署的？", "متى تم توقيع صفقة الميناء؟", "Когда был подписан договор?", "😀 ok"]
)
def test_questions_in_other_scripts_answer_or_abstain(existing, tiny_corpus, capsys, question):
    code, out, err = _run(capsys, "ask", question, "--index", str(existing), "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["question"] == question
    assert (answer["answer"] is None) == (answer["citations"] == [])
    for c in answer["citations"]:
        assert (tiny_corpus / c["doc"]).read_text(encoding="utf-8")[c["start"] : c["end"]] == c["text"]


@pytest.mark.parametrize("command", ["ask", "eval", "repl"])
@pytest.mark.parametrize("k", ["0", "-3"])
def test_k_below_one(existing, tmp_path, capsys, command, k):
    args = {"ask": ["ask", "Who signed?"], "eval": ["eval", str(tmp_path / "gold.jsonl")], "repl": ["repl"]}[command]
    (tmp_path / "gold.jsonl").write_text('{"id": "g", "question": "Who?", "answers": [], "evidence": []}\n')
    assert "k must be at least 1" in _fails(capsys, *args, "--index", str(existing), "-k", k)


def test_k_larger_than_the_index_is_clamped_with_a_note(existing, capsys):
    n = len(load_index(existing))
    code, out, err = _run(capsys, "ask", "Who signed?", "--index", str(existing), "-k", str(n + 1), "--json")
    assert code == 0 and len(json.loads(out)["retrieved"]) <= n
    assert err.strip() == f"note: k is {n + 1}, but the index has only {n} passage(s): using k={n}"
    code, out, err = _run(capsys, "ask", "Who signed?", "--index", str(existing), "-k", str(n), "--json")
    assert code == 0 and len(json.loads(out)["retrieved"]) <= n and err == ""


def test_default_k_fits_a_tiny_index(tmp_path, capsys):
    corpus = tmp_path / "c"
    _write(corpus, "one.txt", "The harbour deal was signed on Tuesday.")
    assert _run(capsys, "index", str(corpus), "--index", str(tmp_path / "i"), "-q")[0] == 0
    assert len(load_index(tmp_path / "i")) == 1
    code, out, _ = _run(capsys, "ask", "When was the harbour deal signed?", "--index", str(tmp_path / "i"), "--json")
    assert code == 0 and len(json.loads(out)["retrieved"]) == 1
