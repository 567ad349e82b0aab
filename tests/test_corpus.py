"""Loading folders and JSONL files byte-exactly, and refusing what cannot be cited."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from ragdiplo.errors import CorpusError
from ragdiplo.ingest.corpus import load_corpus


def _write(root: Path, name: str, data: bytes | str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_folder_is_loaded_recursively_with_posix_relative_ids(tiny_corpus):
    docs = load_corpus(tiny_corpus)
    assert [d.id for d in docs] == ["a.txt", "b.txt", "sub/c.txt"]
    for d in docs:
        assert d.text == (tiny_corpus / d.id).read_bytes().decode("utf-8")


def test_md_included_other_suffixes_and_hidden_files_ignored(tmp_path):
    _write(tmp_path, "a.txt", "Alpha text.")
    _write(tmp_path, "b.md", "# Beta\n\nMarkdown text.")
    _write(tmp_path, "C.TXT", "Upper-case suffix.")
    _write(tmp_path, "c.csv", "x,y\n1,2\n")
    _write(tmp_path, "d.json", '{"a": 1}')
    _write(tmp_path, "e.txt.bak", "backup")
    _write(tmp_path, ".hidden.txt", "hidden file")
    _write(tmp_path, ".git/notes.txt", "inside a hidden folder")
    _write(tmp_path, "deep/er/f.md", "Nested markdown.")
    ids = [d.id for d in load_corpus(tmp_path)]
    assert ids == ["C.TXT", "a.txt", "b.md", "deep/er/f.md"]


def test_single_text_file(tmp_path):
    path = _write(tmp_path, "one.txt", "Just one file.")
    docs = load_corpus(path)
    assert [(d.id, d.text) for d in docs] == [("one.txt", "Just one file.")]


def test_jsonl_loading(tmp_path):
    rows = [
        {"id": "n1", "text": "First story.", "title": "One"},
        {"id": 2, "text": "Second story."},
        {"id": "n3", "text": "Third story.", "title": None},
    ]
    path = _write(tmp_path, "c.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    docs = load_corpus(path)
    assert [(d.id, d.text, d.title) for d in docs] == [
        ("n1", "First story.", "One"),
        ("2", "Second story.", None),
        ("n3", "Third story.", None),
    ]
    rows[2]["title"] = 7  # a title that is not a string is refused, not silently dropped
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"c\.jsonl:3: 'title' must be a string \(got 7\)"):
        load_corpus(path)


@pytest.mark.parametrize("field, value", [("title", 42), ("title", ["A", "B"]), ("title", True), ("date", 20250227),
                                          ("source", {"name": "Herald"})])
def test_jsonl_metadata_that_is_not_a_string_is_refused_with_its_line(tmp_path, field, value):
    lines = [{"id": "a", "text": "Fine story.", "title": "Fine"}, {"id": "b", "text": "Story.", field: value}]
    path = _write(tmp_path, "news.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n")
    with pytest.raises(CorpusError, match=rf"news\.jsonl:2: '{field}' must be a string"):
        load_corpus(path)


def test_jsonl_accepts_beir_underscore_id(tmp_path):
    path = _write(tmp_path, "c.jsonl", json.dumps({"_id": "4983", "title": "T", "text": "Body."}) + "\n")
    assert [(d.id, d.title) for d in load_corpus(path)] == [("4983", "T")]


def test_jsonl_duplicate_ids(tmp_path):
    path = _write(tmp_path, "c.jsonl", '{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n')
    with pytest.raises(CorpusError, match=r"c\.jsonl:2.*duplicate id 'x'"):
        load_corpus(path)


def test_jsonl_invalid_json_names_the_line(tmp_path):
    path = _write(tmp_path, "c.jsonl", '{"id": "x", "text": "a"}\n\n{"id": "y", "text": \n')
    with pytest.raises(CorpusError, match=r"c\.jsonl:3: invalid JSON"):
        load_corpus(path)


@pytest.mark.parametrize("line", ['["not", "an", "object"]', '{"id": "x"}', '{"id": "x", "text": 5}', '{"text": "no id"}'])
def test_jsonl_bad_rows(tmp_path, line):
    path = _write(tmp_path, "c.jsonl", line + "\n")
    with pytest.raises(CorpusError, match=r"c\.jsonl:1"):
        load_corpus(path)


@pytest.mark.parametrize("sep", ["\u2028", "\x85"])
def test_jsonl_with_unicode_line_separator_inside_a_string(tmp_path, sep):
    text = f"Line one{sep}line two."
    path = _write(tmp_path, "c.jsonl", json.dumps({"id": "u", "text": text}, ensure_ascii=False) + "\n")
    assert [d.text for d in load_corpus(path)] == [text]


def test_crlf_and_bom_kept_byte_exact(tmp_path):
    raw = "\ufeffTitle line\r\n\r\nFirst sentence here. Second one\u00a0too.\r\n".encode()
    _write(tmp_path, "crlf.txt", raw)
    (doc,) = load_corpus(tmp_path)
    assert doc.text == raw.decode("utf-8")
    assert doc.text.startswith("\ufeff") and "\r\n" in doc.text


def test_binary_file_is_refused_by_name(tmp_path):
    _write(tmp_path, "good.txt", "Fine.")
    _write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(CorpusError, match=r"image\.txt.*binary"):
        load_corpus(tmp_path)


def test_latin1_file_is_refused_with_utf8_remedy(tmp_path):
    _write(tmp_path, "latin.txt", "Caf\xe9 cr\xe8me.".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin\.txt.*UTF-8"):
        load_corpus(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_corpus(tmp_path / "nope")


def test_unsupported_single_file(tmp_path):
    with pytest.raises(CorpusError):
        load_corpus(_write(tmp_path, "x.csv", "a,b"))


def test_empty_folder(tmp_path):
    with pytest.raises(CorpusError, match="no non-empty"):
        load_corpus(tmp_path)


def test_only_whitespace_files(tmp_path):
    _write(tmp_path, "a.txt", "")
    _write(tmp_path, "b.txt", "  \n\r\n\t \u00a0\n")
    with pytest.raises(CorpusError, match="no non-empty"):
        load_corpus(tmp_path)


def test_whitespace_files_are_skipped_beside_real_ones(tmp_path):
    _write(tmp_path, "a.txt", "\n\n")
    _write(tmp_path, "b.txt", "Real text.")
    assert [d.id for d in load_corpus(tmp_path)] == ["b.txt"]


def test_names_with_spaces_and_non_ascii(tmp_path):
    _write(tmp_path, "my news file.txt", "Spaces in the name.")
    _write(tmp_path, "Zürich/über café.md", "Umlauts in the name.")
    _write(tmp_path, "新闻.txt", "新闻内容。")
    ids = {d.id: d.text for d in load_corpus(tmp_path)}
    assert ids == {
        "my news file.txt": "Spaces in the name.",
        "Zürich/über café.md": "Umlauts in the name.",
        "新闻.txt": "新闻内容。",
    }


def _load_with_timeout(path: Path, seconds: float = 10.0):
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["docs"] = load_corpus(path)
        except BaseException as err:  # reported to the test below
            result["error"] = err

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "load_corpus hangs on a symlink loop"
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["docs"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_folder_symlink_loop_does_not_hang(tmp_path):
    _write(tmp_path, "a.txt", "Alpha.")
    _write(tmp_path, "sub/b.txt", "Beta.")
    os.symlink("..", tmp_path / "sub" / "up")
    os.symlink(".", tmp_path / "self")
    docs = _load_with_timeout(tmp_path)
    assert [d.id for d in docs] == ["a.txt", "sub/b.txt"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinked_file_outside_the_corpus_is_ignored(tmp_path):
    root = tmp_path / "corpus"
    _write(root, "a.txt", "Alpha.")
    secret = _write(tmp_path, "outside.txt", "Outside the corpus.")
    os.symlink(secret, root / "link.txt")
    assert [d.id for d in load_corpus(root)] == ["a.txt"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_file_symlink_loop_is_skipped_or_named(tmp_path):
    _write(tmp_path, "a.txt", "Alpha.")
    os.symlink("loop.txt", tmp_path / "loop.txt")
    try:
        docs = _load_with_timeout(tmp_path)
    except CorpusError as err:
        assert "loop.txt" in str(err)
    else:
        assert [d.id for d in docs] == ["a.txt"]


def test_a_folder_that_cannot_be_listed_stops_loading(tmp_path, monkeypatch):
    (tmp_path / "ok.txt").write_text("Readable text.")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.txt").write_text("Text behind a folder that cannot be listed.")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(CorpusError, match="locked: cannot be read .*Permission denied"):
        load_corpus(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_an_error_not_a_hang(tmp_path):
    (tmp_path / "ok.txt").write_text("Readable text.")
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(CorpusError, match="pipe.txt: not a regular file"):
        load_corpus(tmp_path)


def test_a_symlink_to_a_regular_file_is_read(tmp_path):
    (tmp_path / "real.txt").write_text("The real text.")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    assert {d.id for d in load_corpus(tmp_path)} == {"real.txt", "link.txt"}
