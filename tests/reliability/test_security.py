"""Security, tested by behaviour: loading never unpickles or evaluates anything,
crafted manifests cannot point the loader elsewhere, document ids cannot leave
the corpus, the REPL opens no files, and JSON is parsed within size limits."""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
import ragdiplo.cli.repl as repl
from ragdiplo.durable import file_record, seal
from ragdiplo.errors import CorpusError, IndexCorruptError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.load import MAX_MANIFEST_BYTES, load_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA

from .helpers import one_line_error


@pytest.fixture
def root(tiny_corpus, tmp_path) -> Path:
    return save_index(build_index(load_corpus(tiny_corpus), FakeEmbedder()), tmp_path / "idx")


def _manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST).read_text())


def _plant(root: Path, name: str, data: bytes) -> None:
    """Replace a data file and re-sign it in the manifest, as an attacker who
    controls the whole folder would, so only the loader's own care can stop it."""
    m = _manifest(root)
    path = root / m["data"] / name
    path.write_bytes(data)
    m["files"][name] = file_record(path)
    (root / MANIFEST).write_text(json.dumps(seal(m)))


class _Payload:
    """Unpickling this creates a file: proof that pickle ran."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize(
    "name", ["passages.npy", "sentences.npy", "passage_vectors.npy", "sentence_vectors.npy", "bm25/data.csc.index.npy"]
)
def test_pickled_arrays_are_never_unpickled(root, tmp_path, name):
    _Payload.marker = str(tmp_path / "pwned")
    buf = io.BytesIO()
    np.save(buf, np.array([_Payload()], dtype=object), allow_pickle=True)
    _plant(root, name, buf.getvalue())
    with pytest.raises(IndexCorruptError, match="cannot be read"):
        load_index(root)
    assert not (tmp_path / "pwned").exists()


def test_load_path_uses_no_pickle_eval_or_exec(root, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("called on the load path")

    for module, name in [
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (builtins, "eval"),
        (builtins, "exec"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    index = load_index(root)
    assert len(index) > 0


@pytest.mark.parametrize("data", ["../outside", "/etc", "data-../../x", "data-0123456789abcdef/../../x"])
def test_manifest_cannot_point_outside_the_index(root, data):
    m = _manifest(root)
    m["data"] = data
    (root / MANIFEST).write_text(json.dumps(seal(m)))
    with pytest.raises(IndexCorruptError, match="bad data folder name"):
        load_index(root)


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "bm25/../../manifest.json"])
def test_file_table_cannot_name_files_outside(root, name):
    m = _manifest(root)
    m["files"][name] = {"bytes": 1, "sha256": "0" * 64}
    (root / MANIFEST).write_text(json.dumps(seal(m)))
    with pytest.raises(IndexCorruptError, match="unsafe file name"):
        load_index(root)


def test_oversized_manifest_is_not_parsed(root, monkeypatch):
    with open(root / MANIFEST, "r+b") as f:
        f.truncate(MAX_MANIFEST_BYTES + 1)  # sparse: costs no disk
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("parsed an oversized manifest"))
    with pytest.raises(IndexCorruptError, match="over the 67108864-byte limit"):
        load_index(root)


def test_deeply_nested_manifest(root):
    (root / MANIFEST).write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(IndexCorruptError, match="corrupt"):
        load_index(root)


@pytest.mark.parametrize(
    "doc_id", ["../../etc/passwd", "/etc/passwd", "a/../../b", "C:\\Windows\\win.ini", "..", "x\ny"]
)
def test_jsonl_ids_cannot_escape_the_corpus(tmp_path, capsys, monkeypatch, doc_id):
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps({"id": "ok", "text": "Fine."}) + "\n" + json.dumps({"id": doc_id, "text": "Evil."}) + "\n"
    )
    with pytest.raises(CorpusError, match=r"c\.jsonl:2"):
        load_corpus(path)
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    assert cli.main(["index", str(path), "--index", str(tmp_path / "i"), "-q"]) == 2
    assert "c.jsonl:2" in one_line_error(capsys.readouterr().err)


def test_stored_ids_are_checked_on_load(root):
    m = _manifest(root)
    docs = (root / m["data"] / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    row = json.loads(docs[0])
    row["id"] = "../../etc/passwd"
    docs[0] = json.dumps(row)
    _plant(root, "documents.jsonl", ("\n".join(docs) + "\n").encode())
    with pytest.raises(IndexCorruptError, match="outside the corpus"):
        load_index(root)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_links_out_of_the_corpus_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Secret outside the corpus.")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Inside.")
    os.symlink(outside, corpus / "dir-link")
    os.symlink(outside / "secret.txt", corpus / "file-link.txt")
    assert [d.id for d in load_corpus(corpus)] == ["a.txt"]


def test_repl_opens_no_files(tiny_corpus, tmp_path, monkeypatch):
    """Whatever is typed, the REPL reads only the index in memory."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN")
    qa = QA.build(tiny_corpus, None, embedder=FakeEmbedder())
    qa.ask("Who signed the harbour deal?")  # warm up lazy loaders before watching
    opened: list[str] = []

    def watch(real):
        def wrapper(file, *args, **kwargs):
            opened.append(str(file))
            return real(file, *args, **kwargs)

        return wrapper

    for module, name in [(builtins, "open"), (io, "open"), (os, "open")]:
        monkeypatch.setattr(module, name, watch(getattr(module, name)))
    lines = [
        f":show {secret}",
        ":show ../../../../etc/passwd",
        "Who signed the harbour deal?",
        ":show 1",
        f":show 1 {secret}",
        ":passages",
        f":k {secret}",
        f":load {secret}",
        f"{secret}",
        ":show -1",
        ":show 99999999999999999999",
        ":quit",
    ]
    out = io.StringIO()
    assert repl.run(qa, k=3, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out) == 0
    assert opened == []
    assert "TOP-SECRET-TOKEN" not in out.getvalue()
    assert "Port Vesta" in out.getvalue()  # :show 1 did show the cited source, from the index
