"""Integrity: a truncated, corrupted, foreign or newer-format index fails to load
with a specific error naming the file and the remedy, and the remedy works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import OtherModelEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.durable import seal
from ragdiplo.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from ragdiplo.index.build import FORMAT_VERSION, MANIFEST
from ragdiplo.index.load import load_index

from .helpers import one_line_error

DATA_FILES = [
    "documents.jsonl",
    "passages.npy",
    "sentences.npy",
    "passage_vectors.npy",
    "sentence_vectors.npy",
    "passages.faiss",
    "aliases.json",
    "bm25/vocab.index.json",
    "bm25/data.csc.index.npy",
]


@pytest.fixture
def root(cli_index) -> Path:
    return cli_index


def _data(root: Path) -> Path:
    return root / json.loads((root / MANIFEST).read_text())["data"]


def _manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST).read_text())


def _cli_error(capsys, root: Path) -> str:
    assert cli.main(["ask", "Who signed the harbour deal?", "--index", str(root)]) == 2
    return one_line_error(capsys.readouterr().err)


def _repaired(capsys, root: Path, corpus: Path) -> None:
    """The remedy every message names: re-running `ragdiplo index` rebuilds the index."""
    assert cli.main(["index", str(corpus), "--index", str(root)]) == 0
    assert "full rebuild: the old index could not be read" in capsys.readouterr().err
    assert load_index(root).ids == ["a.txt", "b.txt", "sub/c.txt"]


@pytest.mark.parametrize("name", DATA_FILES)
def test_truncated_file(root, tiny_corpus, capsys, name):
    path = _data(root) / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for verify in (True, False):  # the size check needs no hashing
        with pytest.raises(IndexCorruptError, match="truncated") as err:
            load_index(root, verify=verify)
        assert str(path) in str(err.value) and "QA.build(corpus" in str(err.value)
        assert "ragdiplo index CORPUS --index" in err.value.cli_message
    line = _cli_error(capsys, root)
    assert str(path) in line and "truncated" in line
    _repaired(capsys, root, tiny_corpus)


@pytest.mark.parametrize("name", DATA_FILES)
def test_corrupted_file(root, tiny_corpus, capsys, name):
    path = _data(root) / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum mismatch") as err:
        load_index(root)
    assert str(path) in str(err.value) and "QA.build(corpus" in str(err.value)
    assert "checksum mismatch" in _cli_error(capsys, root)
    _repaired(capsys, root, tiny_corpus)


@pytest.mark.parametrize("cut", [0, 1, 100], ids=["empty", "one-byte", "100-bytes"])
def test_truncated_manifest(root, tiny_corpus, capsys, cut):
    manifest = root / MANIFEST
    manifest.write_bytes(manifest.read_bytes()[:cut])
    with pytest.raises(IndexCorruptError, match="manifest.json: corrupt or truncated"):
        load_index(root)
    assert str(manifest) in _cli_error(capsys, root)
    _repaired(capsys, root, tiny_corpus)


def test_unlisted_and_missing_files(root):
    (_data(root) / "planted.npy").write_bytes(b"extra")
    with pytest.raises(IndexCorruptError, match="planted.npy: not listed in the manifest"):
        load_index(root)
    (_data(root) / "planted.npy").unlink()
    (_data(root) / "sentences.npy").unlink()
    with pytest.raises(IndexCorruptError, match="sentences.npy: missing"):
        load_index(root)


@pytest.mark.parametrize(
    "manifest",
    [{"format": "chroma", "version": 3}, ["not", "an", "object"], {"format_version": FORMAT_VERSION}],
    ids=["other-tool", "json-list", "no-format"],
)
def test_foreign_manifest(root, capsys, manifest):
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="manifest.json: not an index written by ragdiplo"):
        load_index(root)
    assert "not a ragdiplo index" in _cli_error(capsys, root)


def test_foreign_folder_without_manifest(tmp_path, capsys):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(IndexNotFoundError, match="no index here"):
        load_index(other)
    assert "ragdiplo index CORPUS --index" in _cli_error(capsys, other)


def test_index_of_another_model(root, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: OtherModelEmbedder())
    line = _cli_error(capsys, root)
    assert "fake-hash-64" in line and "another-model" in line and "rebuild" in line
    assert f"`ragdiplo index CORPUS --index {root}`" in line


def test_newer_format(root, capsys):
    m = _manifest(root)
    m["format_version"] = FORMAT_VERSION + 1
    (root / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(IndexMismatchError, match="upgrade ragdiplo") as err:
        load_index(root)
    assert str(root / MANIFEST) in str(err.value) and f"format {FORMAT_VERSION + 1}" in str(err.value)
    assert "upgrade ragdiplo" in _cli_error(capsys, root)


def test_older_format_says_rebuild(root):
    m = _manifest(root)
    m["format_version"] = 1
    (root / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(IndexMismatchError, match="rebuild it from its corpus") as err:
        load_index(root)
    assert "upgrade" not in str(err.value) and "rebuild with `ragdiplo index CORPUS" in err.value.cli_message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("counts", {"documents": 3, "aliases": 0, "passages": 999, "sentences": 1}),
        ("dim", 3),
        ("chunker", {"max_tokens": 2}),
    ],
)
def test_manifest_disagreeing_with_data(root, key, value):
    m = _manifest(root)
    m[key] = value
    (root / MANIFEST).write_text(json.dumps(seal(m)))  # sealed: the data checks themselves must refuse it
    with pytest.raises(IndexCorruptError, match="cannot be read"):
        load_index(root)
