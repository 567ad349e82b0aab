"""Approximate search for big corpora, tried on a small one: the size threshold is
lowered through ``AnnConfig`` so IVF-PQ is built in well under a second."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ragdiplo.index.build as index_module
import ragdiplo.index.load as loading_module
import ragdiplo.stores.ann as ann_module
from ragdiplo.answer.pipeline import answer
from ragdiplo.answer.retrieval import Fusion, RetrievalConfig
from ragdiplo.answer.settings import QAConfig
from ragdiplo.durable import seal
from ragdiplo.errors import ConfigError, IndexCorruptError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.index.update import edit_index
from ragdiplo.stores.ann import FLAT, IVF_PQ, AnnConfig
from ragdiplo.stores.faiss_store import FaissStore
from ragdiplo.stores.rowfile import RowFile
from ragdiplo.types import Document

TOPICS = [
    "harbour ship crane dredging port cargo dock quay tide",
    "rail train strike union wages commuter station track",
    "farm wheat drought harvest irrigation rain valley crop",
    "school teacher pupil exam lesson class grade reading",
    "hospital doctor nurse patient ward clinic surgery care",
    "court judge trial verdict lawyer appeal jury sentence",
]
LOW = AnnConfig(exact_below=100)  # the corpus below has a few hundred passages


def _documents(n: int, seed: int = 0) -> list[Document]:
    """Short articles mixing a topic's words with common ones, ~3 passages each."""
    rng = np.random.default_rng(seed)
    common = ["city", "council", "report", "week", "year", "people", "new", "plan", "said", "would"]
    docs = []
    for i in range(n):
        words = TOPICS[i % len(TOPICS)].split()
        sentences = [
            " ".join(rng.choice(words + common, size=12)).capitalize() + f" number {rng.integers(1000)}."
            for _ in range(12)
        ]
        docs.append(Document(f"doc{i:03d}.txt", " ".join(sentences)))
    return docs


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    return _documents(48)


@pytest.fixture(scope="module")
def approx(corpus):
    from conftest import FakeEmbedder

    return build_index(corpus, FakeEmbedder(), ann=LOW)


@pytest.fixture
def saved(approx, tmp_path) -> Path:
    return save_index(approx, tmp_path / "idx")


def _data(root: Path) -> Path:
    return root / json.loads((root / MANIFEST).read_text())["data"]


def _same_search(a, b, queries: np.ndarray, k: int = 10) -> None:
    for q in queries:
        sa, ra = a.store.search(q, k)
        sb, rb = b.store.search(q, k)
        assert ra.tolist() == rb.tolist()
        np.testing.assert_allclose(sa, sb, rtol=1e-6, atol=1e-6)


def test_index_type_chosen_by_size(corpus, fake_embedder, approx):
    n = len(approx)
    assert n > LOW.exact_below
    exact = build_index(corpus, fake_embedder, ann=AnnConfig(exact_below=n + 1))
    assert exact.store.info == {"type": FLAT} and not exact.store.approximate
    assert approx.store.info["type"] == IVF_PQ and approx.store.approximate
    assert 1 <= approx.store.info["nprobe"] <= approx.store.info["nlist"]
    # the default threshold keeps every corpus the library ships exact
    assert AnnConfig().exact_below == ann_module.EXACT_BELOW >= 50_000
    assert build_index(corpus[:3], fake_embedder).store.info == {"type": FLAT}


def test_approximate_search_agrees_with_exact(approx):
    vectors = approx.passage_vectors
    exact = FaissStore.build(vectors, AnnConfig(exact_below=len(vectors) + 1))
    _, truth = exact.search(vectors[:50], 10)
    scores, found = approx.store.search(vectors[:50], 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found.tolist(), truth.tolist())])
    assert recall >= 0.8
    # re-ranked scores are exact inner products, best first
    rows = found[0][found[0] >= 0]
    np.testing.assert_allclose(scores[0][: len(rows)], vectors[rows] @ vectors[0], rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(scores[0][: len(rows)]) <= 1e-7)


def test_recall_is_stored_in_the_manifest_and_read_back(approx, saved):
    manifest = json.loads((saved / MANIFEST).read_text())
    entry = manifest["vector_index"]
    assert entry == approx.store.info and entry["type"] == IVF_PQ
    assert 0.0 <= entry["recall_at_10"] <= 1.0 and entry["recall_queries"] == min(LOW.sample, len(approx))
    assert {"nlist", "nprobe", "pq_m", "pq_bits", "rerank"} <= set(entry)
    assert manifest["ann"] == LOW.to_dict() and manifest["format_version"] == index_module.FORMAT_VERSION
    loaded = load_index(saved)
    assert loaded.store.info == entry and loaded.ann == LOW and loaded.manifest["vector_index"] == entry


def test_recall_measures_against_exact_search(approx):
    """The stored figure is recomputed the same way from the vectors."""
    vectors = approx.passage_vectors
    recall, _ = ann_module.recall_at_10(
        vectors, approx.store.search, LOW.sample, LOW.seed
    )
    assert recall == pytest.approx(approx.store.info["recall_at_10"], abs=1e-4)
    perfect, _ = ann_module.recall_at_10(vectors, FaissStore.build(vectors, AnnConfig(exact_below=10**6)).search, 64, 0)
    assert perfect == 1.0


@pytest.mark.parametrize("threshold", [100, 10**6])
def test_mmap_load_gives_the_same_results(corpus, fake_embedder, tmp_path, threshold):
    built = build_index(corpus, fake_embedder, ann=AnnConfig(exact_below=threshold))
    root = save_index(built, tmp_path / "idx")
    plain, mapped = load_index(root, mmap=False), load_index(root, mmap=True)
    assert isinstance(mapped.passage_vectors, RowFile) and isinstance(mapped.sentence_vectors, RowFile)
    assert not isinstance(plain.passage_vectors, RowFile)
    _same_search(plain, mapped, built.passage_vectors[::7])
    _same_search(built, mapped, built.passage_vectors[::7])
    for question in ("wheat harvest drought", "judge trial verdict"):
        np.testing.assert_array_equal(plain.bm25.scores(question), mapped.bm25.scores(question))
    assert [mapped.passage(i) for i in range(len(mapped))] == [plain.passage(i) for i in range(len(plain))]
    assert list(mapped.documents) == plain.documents == mapped.documents[:] and mapped.ids == plain.ids
    assert mapped.documents[-1] == plain.documents[-1] and mapped.aliases("doc001.txt") == ()
    # by default an approximate index is mapped and an exact one read
    default = load_index(root)
    assert isinstance(default.passage_vectors, RowFile) == (threshold == 100)


@pytest.mark.parametrize(
    "retrieval",
    [RetrievalConfig(), RetrievalConfig(Fusion.DENSE), RetrievalConfig(Fusion.RRF, sentence_weight=0.5)],
)
def test_answers_read_from_disk_equal_answers_read_into_ram(saved, fake_embedder, retrieval):
    """Vectors read by row (RowFile) are the stored bytes, so every answer, score
    and citation is the same as with the whole index in RAM."""
    on_disk, in_ram = load_index(saved, mmap=True), load_index(saved, mmap=False)
    assert isinstance(on_disk.sentence_vectors, RowFile) and isinstance(in_ram.sentence_vectors, np.ndarray)
    config = QAConfig(retrieval=retrieval)
    for question in ("What did the wheat harvest lose to drought?", "Who heard the appeal in court?", "dock cargo"):
        vector = fake_embedder.embed([question])[0]
        assert answer(on_disk, question, vector, config=config) == answer(in_ram, question, vector, config=config)


def test_an_index_read_from_disk_saves_the_same_files(saved, tmp_path):
    """Saving copies the vector files in chunks (save_rows), byte for byte as np.save writes them."""
    copy = save_index(load_index(saved, mmap=True), tmp_path / "copy")
    for name in ("passage_vectors.npy", "sentence_vectors.npy", "passages.faiss", "passages.npy"):
        assert (_data(copy) / name).read_bytes() == (_data(saved) / name).read_bytes()


def test_mapped_store_is_copied_before_a_change(saved, approx, tmp_path):
    mapped = load_index(saved, mmap=True)
    copy = tmp_path / "copy.faiss"
    mapped.store.save(copy)
    assert copy.read_bytes() == (_data(saved) / "passages.faiss").read_bytes()
    n = mapped.store.count()
    mapped.store.add(approx.passage_vectors[:2])
    mapped.store.delete([0, n])
    assert mapped.store.count() == n
    _, rows = mapped.store.search(approx.passage_vectors[1], 1)
    assert rows[0, 0] == 0  # old row 1 is row 0 now


def test_update_of_an_approximate_index_equals_a_rebuild(corpus, fake_embedder, tmp_path):
    """An update keeps the index's settings and rebuilds the ANN structure from the
    vectors deterministically: the same file, byte for byte, as a full rebuild."""
    root = save_index(build_index(corpus[:36], fake_embedder, ann=LOW), tmp_path / "idx")
    with edit_index(root, fake_embedder) as editor:
        editor.add(corpus[36:])
        editor.delete(["doc003.txt"])
    final = [d for d in corpus if d.id != "doc003.txt"]
    full = save_index(build_index(final, fake_embedder, ann=LOW), tmp_path / "full")
    updated, rebuilt = load_index(root), load_index(full)
    assert updated.store.info == rebuilt.store.info and updated.store.info["type"] == IVF_PQ
    np.testing.assert_array_equal(updated.passage_vectors, rebuilt.passage_vectors)
    assert (_data(root) / "passages.faiss").read_bytes() == (_data(full) / "passages.faiss").read_bytes()
    _same_search(updated, rebuilt, rebuilt.passage_vectors[::5])


def test_a_corrupt_approximate_index_file_fails_with_the_specific_error(saved):
    path = _data(saved) / "passages.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum mismatch"):
        load_index(saved)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(IndexCorruptError, match="truncated"):
        load_index(saved, verify=False, mmap=True)


@pytest.mark.parametrize("entry", [{"type": FLAT}, {"type": "hnsw"}, "ivf", {"type": IVF_PQ, "nlist": 4}])
def test_a_manifest_naming_another_index_type_is_corrupt(saved, entry):
    manifest = json.loads((saved / MANIFEST).read_text())
    manifest["vector_index"] = entry
    (saved / MANIFEST).write_text(json.dumps(seal(manifest)))  # sealed: the type check itself must refuse it
    with pytest.raises(IndexCorruptError, match="rebuild it from its corpus"):
        load_index(saved)


def test_big_files_are_hashed_on_demand(saved, monkeypatch):
    """Sizes are always checked; SHA-256 of files from HASH_ALWAYS_BELOW up only with verify=True."""
    path = _data(saved) / "passage_vectors.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum mismatch"):
        load_index(saved)
    monkeypatch.setattr(loading_module, "HASH_ALWAYS_BELOW", path.stat().st_size)
    load_index(saved)  # big file: not hashed by default
    with pytest.raises(IndexCorruptError, match="checksum mismatch"):
        load_index(saved, verify=True)


def test_a_format_2_index_still_loads_as_exact(corpus, fake_embedder, tmp_path):
    root = save_index(build_index(corpus[:6], fake_embedder), tmp_path / "idx")
    manifest = json.loads((root / MANIFEST).read_text())
    del manifest["vector_index"], manifest["ann"], manifest["backend"], manifest["precision"]
    manifest["format_version"], manifest["aliases"] = 2, {}  # before format 5 the manifest held the aliases
    (root / MANIFEST).write_text(json.dumps(manifest))
    index = load_index(root)
    assert index.store.info == {"type": FLAT} and index.ann == AnnConfig()


@pytest.mark.parametrize("kwargs", [{"exact_below": -1}, {"target_recall": 0.0}, {"rerank": -1}, {"pq_m": 0}])
def test_ann_config_out_of_range(kwargs):
    with pytest.raises(ConfigError):
        AnnConfig(**kwargs)


def test_cli_index_prints_the_recall_of_an_approximate_index(corpus, approx, tmp_path, capsys, monkeypatch):
    from conftest import FakeEmbedder

    import ragdiplo.cli.main as cli

    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    folder = tmp_path / "corpus"
    folder.mkdir()
    for d in corpus:
        (folder / d.id).write_text(d.text, encoding="utf-8")
    root = save_index(approx, tmp_path / "idx")
    extra = Document("zz-new.txt", "Harbour cranes and cargo ships at the dock. " * 3)
    (folder / extra.id).write_text(extra.text, encoding="utf-8")
    assert cli.main(["index", str(folder), "--index", str(root)]) == 0  # an update keeps the index's settings
    err = capsys.readouterr().err
    recall = load_index(root).store.info["recall_at_10"]
    assert f"approximate search: {IVF_PQ}" in err and f"recall@10 against exact search {recall:.3f}" in err
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / extra.id).write_text(extra.text, encoding="utf-8")
    assert cli.main(["index", str(tiny), "--index", str(tmp_path / "exact")]) == 0
    assert "approximate" not in capsys.readouterr().err
