"""What loading checks beyond checksums, for files an attacker re-signed or a
writer got wrong (issue 26, items 2, 3, 4, 6 and 7): stored vectors must be unit
vectors, ids unique, texts the ones the manifest records, every index file a
file of its own inside the folder, and a manifest's numbers and nesting sane.
Each refusal is the corrupt-index error with its repair, and the repair works."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.durable import file_record, seal
from ragdiplo.errors import IndexCorruptError, ModelError
from ragdiplo.index.build import MANIFEST, build_index, corpus_sha256
from ragdiplo.index.load import load_index
from ragdiplo.index.update import sync_documents
from ragdiplo.ingest.corpus import load_corpus

from .helpers import assert_same_index, one_line_error


def _manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST).read_text())


def _data(root: Path) -> Path:
    return root / _manifest(root)["data"]


def _reseal(root: Path, **changes: object) -> None:
    """Re-sign the manifest after a planted change, as an attacker who controls the
    folder would: every file record and the seal match, so only the loader's own
    checks can refuse the content."""
    m = _manifest(root)
    for name in m["files"]:
        m["files"][name] = file_record(_data(root) / name)
    m.update(changes)
    (root / MANIFEST).write_text(json.dumps(seal(m)))


def _plant_array(root: Path, name: str, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    (_data(root) / name).write_bytes(buf.getvalue())
    _reseal(root)


def _refused(capsys, root: Path, match: str) -> str:
    """The library refuses with the corrupt-index error and its remedy; `ask` with one line."""
    with pytest.raises(IndexCorruptError, match=match) as err:
        load_index(root)
    assert "QA.build(corpus" in str(err.value) and "--" not in str(err.value)
    assert cli.main(["ask", "Who signed the harbour deal?", "--index", str(root)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "ragdiplo index CORPUS --index" in line and "Traceback" not in line
    return line


def _repaired(capsys, root: Path, corpus: Path) -> None:
    assert cli.main(["index", str(corpus), "--index", str(root), "-q"]) == 0
    assert load_index(root).ids == ["a.txt", "b.txt", "sub/c.txt"]


# -- item 2: stored vectors are unit vectors --------------------------------------------------


def _spoil(vectors: np.ndarray, how: str) -> np.ndarray:
    out = vectors.copy()
    out[1] = {"nan": np.nan, "inf": np.inf, "long": 2 * out[1], "short": 0.5 * out[1]}[how]
    return out


@pytest.mark.parametrize("how", ["nan", "inf", "long", "short"])
@pytest.mark.parametrize("name", ["passage_vectors.npy", "sentence_vectors.npy"])
def test_vectors_that_are_not_unit_vectors_are_refused(cli_index, tiny_corpus, capsys, name, how):
    _plant_array(cli_index, name, _spoil(np.load(_data(cli_index) / name), how))
    line = _refused(capsys, cli_index, f"{name}: row 1 is not a unit vector")
    assert "row 1 is not a unit vector" in line
    with pytest.raises(IndexCorruptError, match="not a unit vector"):
        load_index(cli_index, mmap=True)  # read from disk when used, but checked while the file is hashed
    _repaired(capsys, cli_index, tiny_corpus)
    loaded = load_index(cli_index)
    for vectors in (loaded.passage_vectors, loaded.sentence_vectors):
        norms = np.linalg.norm(vectors, axis=1)
        assert np.all(np.abs(norms - 1) < 1e-5)


def test_a_faiss_file_holding_other_vectors_is_refused(cli_index, tiny_corpus, capsys):
    vectors = np.load(_data(cli_index) / "passage_vectors.npy")
    store = faiss.IndexFlatIP(vectors.shape[1])
    store.add(np.roll(vectors, 1, axis=0))  # unit vectors, but not the index's: search would return other passages
    faiss.write_index(store, str(_data(cli_index) / "passages.faiss"))
    _reseal(cli_index)
    _refused(capsys, cli_index, "passages.faiss does not hold the passage vectors")
    _repaired(capsys, cli_index, tiny_corpus)


def test_an_update_never_reuses_bad_vectors(cli_index, tiny_corpus):
    """Vectors read from disk when used (big files, or verify=False) are checked by
    the update before their texts' artefacts are reused: those texts are embedded again."""
    fresh = build_index(load_corpus(tiny_corpus), FakeEmbedder())
    _plant_array(cli_index, "passage_vectors.npy", _spoil(np.load(_data(cli_index) / "passage_vectors.npy"), "nan"))
    loaded = load_index(cli_index, mmap=True, verify=False)  # not checked at load: the file is not hashed
    updated, changes = sync_documents(loaded, load_corpus(tiny_corpus), FakeEmbedder())
    assert changes.embedded == 1  # only the text that held the bad row
    assert_same_index(updated, fresh, FakeEmbedder())


class Unnormalised(FakeEmbedder):
    def embed(self, texts, *, show_progress=False):
        return 3 * super().embed(texts)


def test_an_embedder_giving_other_than_unit_vectors_is_refused_at_build(tiny_corpus, tmp_path):
    """Stored, such vectors would make the index refused at every load: the build says why instead."""
    with pytest.raises(ModelError, match="not of unit length"):
        build_index(load_corpus(tiny_corpus), Unnormalised())


# -- item 3: one id, one document -------------------------------------------------------------


def test_two_documents_with_one_id_are_refused(cli_index, tiny_corpus, capsys):
    file = _data(cli_index) / "documents.jsonl"
    rows = [json.loads(line) for line in file.read_text().splitlines()]
    rows[1]["id"] = rows[0]["id"]
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    hashes = {r["id"]: hashlib.sha256(r["text"].encode()).hexdigest() for r in rows}
    _reseal(cli_index, corpus_sha256=corpus_sha256(hashes))  # even with the corpus hash made to agree
    _refused(capsys, cli_index, "two documents have the same id")
    _repaired(capsys, cli_index, tiny_corpus)


# -- item 4: the texts are the ones the manifest records --------------------------------------


@pytest.mark.parametrize("mmap", [False, True])
def test_texts_that_are_not_the_recorded_corpus_are_refused(cli_index, tiny_corpus, capsys, mmap):
    file = _data(cli_index) / "documents.jsonl"
    text = file.read_text()
    assert "$40 million" in text
    file.write_text(text.replace("$40 million", "$90 million"))  # same length: every offset still fits
    _reseal(cli_index)
    with pytest.raises(IndexCorruptError, match="not the ones the manifest records"):
        load_index(cli_index, mmap=mmap)
    _refused(capsys, cli_index, "corpus_sha256")
    _repaired(capsys, cli_index, tiny_corpus)
    assert "$40 million" in load_index(cli_index).document("a.txt").text


# -- item 6: index files are files of their own, inside the folder ----------------------------

SECRET = "the password is hunter2\n" * 7


@pytest.fixture
def outside(tmp_path) -> Path:
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    return secret


@pytest.mark.parametrize("name", ["documents.jsonl", "passage_vectors.npy", "sentence_vectors.npy", "passages.npy",
                                  "aliases.json", "passages.faiss", "bm25/vocab.index.json",
                                  "bm25/data.csc.index.npy", "bm25", "."])
@pytest.mark.parametrize("target", ["copy", "secret"])
def test_a_linked_index_file_is_refused(cli_index, tiny_corpus, outside, capsys, name, target):
    """A link to a faithful copy (size and checksum right) or to a file of someone
    else's: refused, without a word of the target's size, name or content."""
    path = _data(cli_index) / name if name != "." else _data(cli_index)
    copy = outside.parent / "copy"
    if path.is_dir():
        shutil.copytree(path, copy)
        shutil.rmtree(path)
    else:
        shutil.copy(path, copy)
        path.unlink()
    path.symlink_to(copy if target == "copy" else outside)
    line = _refused(capsys, cli_index, "is a symbolic link")
    assert not any(leak in line for leak in ("elsewhere", "secret", "hunter2", "bytes"))
    _repaired(capsys, cli_index, tiny_corpus)
    assert outside.read_text() == SECRET  # followed by nothing, changed by nothing


def test_a_linked_manifest_is_refused_and_its_target_never_written(cli_index, tiny_corpus, outside, capsys):
    copy = outside.parent / "manifest.json"
    shutil.move(cli_index / MANIFEST, copy)
    (cli_index / MANIFEST).symlink_to(copy)
    before = copy.read_bytes()
    line = _refused(capsys, cli_index, "is a symbolic link")
    assert "elsewhere" not in line
    _repaired(capsys, cli_index, tiny_corpus)
    assert not (cli_index / MANIFEST).is_symlink() and copy.read_bytes() == before


# -- item 7: a manifest's numbers and nesting -------------------------------------------------


@pytest.mark.parametrize("dim", [10**12, 2**70, 1e308, -5, 0, True, "64"])
def test_a_manifest_with_an_impossible_dimension_is_refused_plainly(cli_index, tiny_corpus, capsys, dim):
    _reseal(cli_index, dim=dim)
    line = _refused(capsys, cli_index, "bad vector dimension")
    for internal in ("Wrong number or type", "C/C++", "overloaded", "TypeError", "OverflowError"):
        assert internal not in line
    _repaired(capsys, cli_index, tiny_corpus)


def test_a_manifest_with_impossible_counts_is_refused_plainly(cli_index, tiny_corpus, capsys):
    _reseal(cli_index, counts={"documents": 3, "aliases": 0, "passages": 2**80, "sentences": -1})
    _refused(capsys, cli_index, "bad counts")
    _repaired(capsys, cli_index, tiny_corpus)


@pytest.mark.parametrize("depth", [100, 1_000, 200_000])
@pytest.mark.parametrize("where", ["whole", "inside"])
def test_a_deeply_nested_manifest_is_refused_plainly_and_repaired(cli_index, tiny_corpus, capsys, depth, where):
    if where == "whole":
        (cli_index / MANIFEST).write_text("[" * depth + "]" * depth)
    else:  # a manifest of ours with one deep value
        m = _manifest(cli_index)
        body = json.dumps({k: v for k, v in m.items() if k != "manifest_sha256"})
        (cli_index / MANIFEST).write_text(body[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}")
    line = _refused(capsys, cli_index, "nested more than")
    assert "recursion" not in line.lower()
    _repaired(capsys, cli_index, tiny_corpus)
