"""The Milvus store on Milvus Lite: same results as FAISS, incremental updates,
reconnecting from the manifest, and the specific errors.

Tests that need pymilvus and milvus-lite (``pip install 'ragdiplo[milvus]'``)
are skipped without them. One Milvus Lite file serves the module (starting its
server takes about two seconds); each test uses its own collection.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import TINY_DOCS, FakeEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.errors import ConfigError, IndexMismatchError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.index.update import edit_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA
from ragdiplo.stores.faiss_store import DEFAULT_COLLECTION, FaissStore, StoreConfig, StoreKind, normalise_uri
from ragdiplo.types import Document, Passage

QUESTIONS = [
    "Who signed the harbour deal?",
    "How long did the rail strike last?",
    "How much emergency aid was promised?",
    "When will the dredging finish?",
    "What did farmers report?",
]
EXTRA = Document("d.txt", "Flood warning in Kessel\nThe river in Kessel rose by two metres overnight. Schools shut.\n")


@pytest.fixture(scope="module")
def lite_uri(tmp_path_factory):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from ragdiplo.stores.milvus import close_clients

    yield str(tmp_path_factory.mktemp("milvus") / "test.db")
    close_clients()


@pytest.fixture
def milvus(lite_uri, request) -> StoreConfig:
    """A fresh collection for each test."""
    return StoreConfig(StoreKind.MILVUS, lite_uri, "t_" + request.node.name.replace("[", "_").replace("]", "")[:40])


def _client(config: StoreConfig):
    from ragdiplo.stores.milvus import _client

    return _client(str(config.uri))


def _same_search(a, b, queries: np.ndarray, k: int) -> None:
    sa, ra = a.search(queries, k)
    sb, rb = b.search(queries, k)
    np.testing.assert_allclose(sa, sb, atol=1e-5)
    for q in range(len(queries)):  # rows may swap only where scores tie
        for score in np.unique(np.round(sa[q], 5)):
            tied = np.round(sa[q], 5) == score
            assert set(ra[q][tied]) == set(rb[q][tied])


# -- no Milvus needed -----------------------------------------------------------------------------


def test_store_config_round_trips_through_the_manifest(tmp_path):
    config = StoreConfig(StoreKind.MILVUS, str(tmp_path / "x.db"), "news")
    assert config.to_manifest() == {"kind": "milvus", "uri": str(tmp_path / "x.db"), "collection": "news"}
    assert StoreConfig.from_manifest(config.to_manifest()) == config
    assert StoreConfig.from_manifest(FaissStore.kind) == StoreConfig() == StoreConfig.from_manifest(None)
    assert StoreConfig(StoreKind.MILVUS, "http://db:19530").to_manifest()["collection"] == DEFAULT_COLLECTION


def test_lite_paths_become_absolute_and_servers_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalise_uri("x.db") == str(tmp_path / "x.db")
    assert normalise_uri("http://db:19530") == "http://db:19530"
    with pytest.raises(ConfigError, match=r"\.db"):
        normalise_uri("x.sqlite")


@pytest.mark.parametrize(("uri", "collection"), [("x.db", None), (None, "news")])
def test_milvus_options_without_milvus_are_refused(uri, collection):
    with pytest.raises(ConfigError, match="only apply with StoreKind.MILVUS") as caught:
        StoreConfig(StoreKind.FAISS, uri, collection)
    assert "--" not in str(caught.value) and "only apply with --store milvus" in caught.value.cli_message


def test_a_new_milvus_store_needs_an_address(built, tmp_path):
    with pytest.raises(ConfigError, match=r"StoreConfig\(StoreKind.MILVUS, uri=...\)") as caught:
        save_index(built, tmp_path / "m", store=StoreConfig(StoreKind.MILVUS))
    assert "--" not in str(caught.value) and "needs --milvus-uri" in caught.value.cli_message


def test_reconnect_keeps_the_recorded_collection_and_refuses_another_kind(tmp_path):
    recorded = StoreConfig(StoreKind.MILVUS, str(tmp_path / "a.db"), "news")
    moved = recorded.reconnect(StoreConfig(StoreKind.MILVUS, "http://other:19530"))
    assert (moved.uri, moved.collection) == ("http://other:19530", "news")
    with pytest.raises(IndexMismatchError, match="milvus, not faiss"):
        recorded.reconnect(StoreConfig())


def test_missing_pymilvus_says_what_to_install(monkeypatch):
    import ragdiplo.stores.milvus as milvus_store

    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(ConfigError, match=r"pip install 'ragdiplo\[milvus\]'"):
        milvus_store._pymilvus()


# -- on Milvus Lite -------------------------------------------------------------------------------


@pytest.fixture
def built(tiny_corpus, fake_embedder):
    return build_index(load_corpus(tiny_corpus), fake_embedder)


@pytest.mark.integration  # runs Milvus Lite
def test_milvus_search_and_answers_match_faiss(built, milvus, tmp_path, fake_embedder):
    faiss_qa = QA(built, fake_embedder)
    faiss_store = built.store
    save_index(built, tmp_path / "m", store=milvus)
    qa = QA(load_index(tmp_path / "m", store=milvus), fake_embedder)
    assert type(qa.index.store).__name__ == "MilvusStore"
    queries = fake_embedder.embed(QUESTIONS)
    _same_search(faiss_store, qa.index.store, queries, len(built))
    for question in QUESTIONS:
        a, b = faiss_qa.ask(question, k=3), qa.ask(question, k=3)
        assert (a.text, [c.to_dict() for c in a.citations]) == (b.text, [c.to_dict() for c in b.citations])
        assert [h.passage for h in a.retrieved] == [h.passage for h in b.retrieved]


@pytest.mark.integration  # runs Milvus Lite
def test_manifest_records_the_collection_and_no_faiss_file_is_written(built, milvus, tmp_path):
    root = save_index(built, tmp_path / "m", store=milvus)
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["store"] == {"kind": "milvus", "uri": milvus.uri, "collection": milvus.collection}
    assert "passages.faiss" not in manifest["files"] and not list(root.glob("data-*/passages.faiss"))


@pytest.mark.integration  # runs Milvus Lite
def test_passage_metadata_lives_in_milvus(built, milvus, tmp_path):
    from ragdiplo.stores.milvus import passage_key

    save_index(built, tmp_path / "m", store=milvus)
    passages = [built.passage(i) for i in range(len(built))]
    rows = _client(milvus).get(milvus.collection, ids=[passage_key(p) for p in passages],
                               output_fields=["doc_id", "start", "end", "text"])  # fmt: skip
    found = {(r["doc_id"], r["start"], r["end"], r["text"]) for r in rows}
    assert found == {(p.doc_id, p.start, p.end, p.text) for p in passages}
    assert all(TINY_DOCS[d][s:e] == t for d, s, e, t in found)


@pytest.mark.integration  # runs Milvus Lite
def test_incremental_add_and_delete_touch_only_the_changed_rows(tiny_corpus, milvus, tmp_path, fake_embedder):
    from ragdiplo.stores.milvus import passage_key

    root = tmp_path / "m"
    with edit_index(root, fake_embedder, store=milvus) as editor:
        editor.sync(load_corpus(tiny_corpus))
    before = {passage_key(editor.index.passage(i)) for i in range(len(editor.index))}
    with edit_index(root, fake_embedder, store=milvus) as editor:  # the address is the user's, never the manifest's
        editor.add([EXTRA])
        editor.delete(["b.txt"])
    index = editor.index
    after = {passage_key(index.passage(i)) for i in range(len(index))}
    assert editor.changes.embedded == 1 and before - after and after - before
    stored = {r["pk"] for r in _client(milvus).query(milvus.collection, filter="", output_fields=["pk"], limit=100)}
    assert stored == after
    docs = [d for d in load_corpus(tiny_corpus) if d.id != "b.txt"] + [EXTRA]
    rebuilt = build_index(docs, fake_embedder)
    _same_search(rebuilt.store, load_index(root, store=milvus).store, fake_embedder.embed(QUESTIONS), len(rebuilt))


@pytest.mark.integration  # runs Milvus Lite
def test_an_index_moves_between_stores_without_re_embedding(tiny_corpus, milvus, tmp_path, fake_embedder):
    root = tmp_path / "m"
    with edit_index(root, fake_embedder) as editor:
        editor.sync(load_corpus(tiny_corpus))
    with edit_index(root, fake_embedder, store=milvus) as editor:
        editor.sync(load_corpus(tiny_corpus))
    assert editor.changes.embedded == 0 and load_index(root, store=milvus).store.config == milvus
    with pytest.raises(ConfigError, match="alone may not choose where to connect"):  # the address must be given
        with edit_index(root, fake_embedder, store=StoreConfig(StoreKind.MILVUS)) as editor:
            editor.sync(load_corpus(tiny_corpus))
    with edit_index(root, fake_embedder, store=StoreConfig(StoreKind.MILVUS, milvus.uri)) as editor:  # collection kept
        editor.sync(load_corpus(tiny_corpus))
    assert editor.changes.embedded == 0 and load_index(root, store=milvus).store.config == milvus
    with edit_index(root, fake_embedder, store=StoreConfig()) as editor:
        editor.sync(load_corpus(tiny_corpus))
    assert editor.changes.embedded == 0 and isinstance(load_index(root).store, FaissStore)


@pytest.mark.integration  # runs Milvus Lite
def test_store_add_and_delete_keep_row_order(built, milvus):
    from ragdiplo.stores.milvus import MilvusStore

    passages = [built.passage(i) for i in range(len(built))]
    store = MilvusStore.sync(milvus, built.passage_vectors[:2], passages[:2])
    store.add(built.passage_vectors[2:], passages[2:])
    store.delete([0, len(passages) - 1])
    faiss_store = FaissStore.build(built.passage_vectors)
    faiss_store.delete([0, len(passages) - 1])
    assert store.count() == faiss_store.count() == store.collection_count()
    _same_search(faiss_store, store, built.passage_vectors, store.count())
    with pytest.raises(ValueError, match="already in the store"):
        store.add(built.passage_vectors[1:2], passages[1:2])


@pytest.mark.integration  # runs Milvus Lite
def test_a_second_instance_reconnects_from_the_manifest_and_uri(built, milvus, tmp_path, fake_embedder):
    root = save_index(built, tmp_path / "m", store=milvus)
    first = QA(load_index(root, store=milvus), fake_embedder).ask(QUESTIONS[0])
    again = load_index(root, store=StoreConfig(StoreKind.MILVUS, milvus.uri))  # the address given again, no collection
    assert type(again.store).__name__ == "MilvusStore" and again.store.config == milvus
    for alone in (None, StoreConfig(StoreKind.MILVUS)):  # the manifest alone, or --store milvus alone: no address
        with pytest.raises(ConfigError, match="alone may not choose where to connect"):
            load_index(root, store=alone)
    assert QA(again, fake_embedder).ask(QUESTIONS[0]) == first


@pytest.mark.integration  # runs Milvus Lite
def test_a_dropped_or_changed_collection_is_a_mismatch(built, milvus, tmp_path):
    from ragdiplo.stores.milvus import passage_key

    root = save_index(built, tmp_path / "m", store=milvus)
    _client(milvus).delete(milvus.collection, ids=[passage_key(built.passage(0))])
    with pytest.raises(IndexMismatchError, match="lacks 1 of"):
        load_index(root, store=milvus)
    _client(milvus).drop_collection(milvus.collection)
    with pytest.raises(IndexMismatchError, match="no collection"):
        load_index(root, store=milvus)
    with pytest.raises(IndexMismatchError, match="milvus, not faiss"):
        load_index(root, store=StoreConfig())


@pytest.mark.integration  # runs Milvus Lite
def test_a_collection_of_another_dimension_is_refused(milvus, tmp_path, fake_embedder):
    from ragdiplo.stores.milvus import MilvusStore

    MilvusStore.sync(milvus, np.eye(3, dtype=np.float32), [Passage("x", i, i + 1, "abc"[i]) for i in range(3)])
    index = build_index([Document("a.txt", TINY_DOCS["a.txt"])], fake_embedder)
    with pytest.raises(IndexMismatchError, match="dimension 3, not 64"):
        save_index(index, tmp_path / "m", store=milvus)


@pytest.mark.integration  # runs Milvus Lite
def test_cli_index_and_ask_with_milvus_lite(tiny_corpus, milvus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: FakeEmbedder())
    flags = ["--store", "milvus", "--milvus-uri", str(milvus.uri), "--milvus-collection", str(milvus.collection)]
    assert cli.main(["index", str(tiny_corpus), "--index", str(tmp_path / "m"), "-q", *flags]) == 0
    assert cli.main(["index", str(tiny_corpus), "--index", str(tmp_path / "f"), "-q"]) == 0
    capsys.readouterr()
    answers = []
    for folder, given in (("m", flags), ("f", [])):
        assert cli.main(["ask", QUESTIONS[1], "--index", str(tmp_path / folder), "--json", *given]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0] == answers[1]
    assert cli.main(["ask", QUESTIONS[1], "--index", str(tmp_path / "f"), "--store", "milvus",
                     "--milvus-uri", str(milvus.uri)]) == 2  # fmt: skip
    assert "keeps its vectors in faiss" in capsys.readouterr().err
