"""Index build, crash-safe save, verified load and the specific load errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder, OtherModelEmbedder

from ragdiplo.errors import IndexLoadError, IndexMismatchError, IndexNotFoundError, IndexWriteError
from ragdiplo.index.build import ALIASES, FORMAT_VERSION, MANIFEST, build_index, corpus_sha256, save_index
from ragdiplo.index.compat import check_compatible
from ragdiplo.index.load import load_index
from ragdiplo.ingest.chunking import ChunkerConfig
from ragdiplo.ingest.corpus import load_corpus


@pytest.fixture
def built(tiny_corpus, fake_embedder):
    return build_index(load_corpus(tiny_corpus), fake_embedder)


@pytest.fixture
def saved(built, tmp_path) -> Path:
    return save_index(built, tmp_path / "idx")


def _data_dir(root: Path) -> Path:
    return root / json.loads((root / MANIFEST).read_text())["data"]


def test_build_index_rows_are_exact_slices(built, tiny_corpus):
    assert [d.id for d in built.documents] == ["a.txt", "b.txt", "sub/c.txt"]
    assert built.passage_rows.dtype == np.int64 and built.passage_rows.shape[1] == 3
    assert built.sentence_rows.dtype == np.int64 and built.sentence_rows.shape[1] == 3
    assert built.sentence_vectors.dtype == np.float32
    assert built.sentence_vectors.shape == (len(built.sentence_rows), FakeEmbedder.dim)
    assert len(built.store) == len(built) > 0
    # no chunker given: the default size, capped at the model's limit
    assert built.chunker.max_tokens == min(ChunkerConfig().max_tokens, FakeEmbedder.max_tokens)
    for i in range(len(built)):
        p = built.passage(i)
        assert (tiny_corpus / p.doc_id).read_bytes().decode("utf-8")[p.start : p.end] == p.text
        for row in built.sentences_in(i):
            doc, s, e = built.sentence(row)
            assert doc.id == p.doc_id and p.start <= s < e <= p.end


def test_build_index_refuses_chunks_over_model_limit(tiny_corpus, fake_embedder):
    with pytest.raises(ValueError, match="over the model's limit"):
        build_index(load_corpus(tiny_corpus), fake_embedder, ChunkerConfig(max_tokens=65, overlap_tokens=0))


def test_build_index_refuses_duplicate_ids(fake_embedder):
    from ragdiplo.types import Document

    with pytest.raises(ValueError, match="unique"):
        build_index([Document("a", "One."), Document("a", "Two.")], fake_embedder)


class _ShortModel(FakeEmbedder):
    model_id = "fake-short"
    max_tokens = 24


def test_default_chunker_fits_a_short_model(tiny_corpus):
    index = build_index(load_corpus(tiny_corpus), _ShortModel())
    assert index.chunker.max_tokens <= 24 and index.chunker.overlap_tokens < index.chunker.max_tokens


def test_round_trip(built, saved, fake_embedder):
    loaded = load_index(saved)
    assert loaded.documents == built.documents
    assert [loaded.passage(i) for i in range(len(loaded))] == [built.passage(i) for i in range(len(built))]
    np.testing.assert_array_equal(loaded.passage_rows, built.passage_rows)
    np.testing.assert_array_equal(loaded.sentence_rows, built.sentence_rows)
    np.testing.assert_array_equal(loaded.sentence_vectors, built.sentence_vectors)
    assert loaded.model_id == built.model_id == "fake-hash-64"
    assert loaded.chunker == built.chunker
    assert loaded.dim == built.dim == 64
    for q in ["harbour deal cranes", "rail strike wages", "wheat harvest drought"]:
        vec = fake_embedder.embed([q])
        s1, r1 = built.store.search(vec, 5)
        s2, r2 = loaded.store.search(vec, 5)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_allclose(s1, s2)
        np.testing.assert_allclose(built.bm25.scores(q), loaded.bm25.scores(q))


def test_manifest_contents(built, saved, tiny_corpus):
    m = json.loads((saved / MANIFEST).read_text())
    assert m["format"] == "ragdiplo-index"
    assert m["format_version"] == FORMAT_VERSION
    assert m["model_id"] == "fake-hash-64" and m["dim"] == 64
    assert (m["backend"], m["precision"]) == (None, "float32")  # an embedder of the user's own, float32 by default
    assert m["chunker"] == built.chunker.to_dict()
    assert set(m["chunker"]) == {"max_tokens", "overlap_tokens"}
    assert m["counts"] == {"documents": 3, "aliases": 0, "passages": len(built), "sentences": len(built.sentence_rows)}
    assert m["store"] == "faiss-flat-ip"
    assert "documents" not in m and "aliases" not in m  # per-document data lives in the data folder
    import hashlib

    hashes = {name: hashlib.sha256((tiny_corpus / name).read_bytes()).hexdigest() for name in ["a.txt", "b.txt", "sub/c.txt"]}
    assert m["corpus_sha256"] == corpus_sha256(hashes)
    data = saved / m["data"]
    assert json.loads((data / ALIASES).read_text()) == {}
    assert m["data"].startswith("data-") and data.is_dir()
    on_disk = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    assert sorted(m["files"]) == on_disk
    assert {"documents.jsonl", "passages.npy", "sentences.npy", "passages.faiss", "sentence_vectors.npy",
            "passage_vectors.npy"} <= set(on_disk)
    for name, record in m["files"].items():
        raw = (data / name).read_bytes()
        assert record == {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    assert built.manifest == m


def test_saving_twice_leaves_one_data_folder(built, saved, tiny_corpus, fake_embedder):
    save_index(built, saved)
    assert len(list(saved.glob("data-*"))) == 1
    # a different index replaces the old generation
    (tiny_corpus / "d.txt").write_text("A new story about a bridge opening in Lindau.", encoding="utf-8")
    save_index(build_index(load_corpus(tiny_corpus), fake_embedder), saved)
    assert len(list(saved.glob("data-*"))) == 1
    assert not list(saved.glob(".tmp-*"))
    assert [d.id for d in load_index(saved).documents] == ["a.txt", "b.txt", "d.txt", "sub/c.txt"]


def test_no_pickles(saved):
    for path in saved.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
    assert list(saved.rglob("*.npy"))
    assert not list(saved.rglob("*.pkl")) and not list(saved.rglob("*.pickle"))


def test_folder_without_manifest(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError, match=r"no index here; build one with QA.build\(corpus") as err:
        load_index(tmp_path / "empty")
    assert f"`ragdiplo index CORPUS --index {tmp_path / 'empty'}`" in err.value.cli_message
    with pytest.raises(IndexNotFoundError):
        load_index(tmp_path / "does-not-exist")


def test_other_format_version(saved):
    m = json.loads((saved / MANIFEST).read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (saved / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(IndexMismatchError, match="rebuild"):
        load_index(saved)


def test_not_a_ragdiplo_manifest(saved):
    (saved / MANIFEST).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(IndexMismatchError):
        load_index(saved)


def test_corrupt_manifest(saved):
    (saved / MANIFEST).write_text("{not json")
    with pytest.raises(IndexLoadError, match="manifest.json: corrupt"):
        load_index(saved)


@pytest.mark.parametrize("name", ["passages.npy", "documents.jsonl", "sentence_vectors.npy", "passages.faiss"])
def test_flipped_bytes_fail_checksum(saved, name):
    path = _data_dir(saved) / name
    data = bytearray(path.read_bytes())
    pos = len(data) // 2
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexLoadError, match="checksum"):
        load_index(saved)


def test_missing_data_file(saved):
    (_data_dir(saved) / "sentences.npy").unlink()
    with pytest.raises(IndexLoadError, match="missing"):
        load_index(saved)


def test_unverified_load_of_corrupt_npy_is_still_an_index_error(saved):
    (_data_dir(saved) / "passages.npy").write_bytes(b"garbage")
    with pytest.raises(IndexLoadError):
        load_index(saved, verify=False)


def test_index_path_that_is_a_file(tmp_path, built):
    f = tmp_path / "idx"
    f.write_text("not a folder")
    with pytest.raises(IndexLoadError):
        load_index(f)
    with pytest.raises(IndexWriteError, match="is a file"):
        save_index(built, f)
    assert f.read_text() == "not a folder"


class _OtherDim(FakeEmbedder):
    dim = 32

    def embed(self, texts, *, show_progress=False):
        return super().embed(texts)[:, :32] / np.sqrt(2)


@pytest.mark.parametrize("embedder_cls", [OtherModelEmbedder, _OtherDim])
def test_check_compatible(saved, embedder_cls, fake_embedder):
    index = load_index(saved)
    check_compatible(index, fake_embedder, saved)
    with pytest.raises(IndexMismatchError, match="rebuild") as err:
        check_compatible(index, embedder_cls(), saved)
    assert "ragdiplo index" not in str(err.value) and "--" not in str(err.value)  # the library speaks Python
    assert f"`ragdiplo index CORPUS --index {saved}`" in err.value.cli_message


def test_qa_refuses_index_built_with_another_model(saved):
    from ragdiplo.qa import QA

    with pytest.raises(IndexMismatchError, match="fake-hash-64") as err:
        QA.load(saved, embedder=OtherModelEmbedder())
    assert "another model" in str(err.value) and "QA.build" in str(err.value)


def test_round_trip_keeps_odd_text_and_titles_exact(tmp_path, fake_embedder):
    from ragdiplo.types import Document

    docs = [
        Document("crlf.txt", "\ufeffTitle\r\n\r\nOne sentence.\rTwo\u2028three.\x85Four\u2029five. Emoji 😀 ok.\r\n"),
        Document("jsonl-id", "Плохая погода. 天气不好。 الطقس سيء.", title="Weather"),
        Document("quotes.md", "He said “no” — and ‘maybe’.\u00a0Done.\t\f\v"),
    ]
    index = build_index(docs, fake_embedder, ChunkerConfig(max_tokens=16, overlap_tokens=4))
    loaded = load_index(save_index(index, tmp_path / "idx"))
    assert loaded.documents == sorted(docs, key=lambda d: d.id)
    for i in range(len(loaded)):
        p = loaded.passage(i)
        assert loaded.document(p.doc_id).text[p.start : p.end] == p.text


@pytest.mark.parametrize(
    "aliases",
    [{"x.txt": "missing.txt"}, {"a.txt": "b.txt"}, ["a.txt"], {"../up.txt": "a.txt"}, {"x.txt": 3}],
    ids=["to-nothing", "stored-id", "not-a-map", "unsafe-id", "not-an-id"],
)
def test_crafted_aliases_file_is_refused(saved, aliases):
    """aliases.json with a valid checksum (resealed) that does not agree with the documents."""
    from ragdiplo.durable import file_record, seal
    from ragdiplo.errors import IndexCorruptError

    m = json.loads((saved / MANIFEST).read_text())
    file = saved / m["data"] / ALIASES
    file.write_text(json.dumps(aliases))
    m["files"][ALIASES] = file_record(file)
    m["counts"]["aliases"] = len(aliases)
    (saved / MANIFEST).write_text(json.dumps(seal(m)))
    with pytest.raises(IndexCorruptError, match="cannot be read"):
        load_index(saved)
