"""Incremental updates: only new and changed texts are embedded, deleted ids are
dropped, identical texts are stored once under every id, and the result equals
a full rebuild exactly (same passages, vectors bit for bit, same search results)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeEmbedder, OtherModelEmbedder

import ragdiplo.cli.main as cli
from ragdiplo.errors import ConfigError, DocumentIdError, IndexCorruptError, IndexMismatchError
from ragdiplo.index.build import ALIASES, MANIFEST, build_index, save_index
from ragdiplo.index.compat import PROBES, probe_texts
from ragdiplo.index.load import load_index
from ragdiplo.index.update import add_documents, delete_documents, edit_index, sync_documents, update_documents
from ragdiplo.ingest.chunking import ChunkerConfig
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.types import Document

from .helpers import assert_same_index, news_docs, snapshot


class Counting(FakeEmbedder):
    """The fake embedder, remembering every text it was asked to embed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts, *, show_progress=False):
        self.seen.extend(texts)
        return super().embed(texts)

    def indexed(self, *indexes) -> list[str]:
        """The texts seen, less the few sentences of ``indexes`` that the
        compatibility check embeds to compare with their stored vectors."""
        probes = {t for index in indexes for t in probe_texts(index, self)}
        return [t for t in self.seen if t not in probes]


@pytest.fixture
def embedder(monkeypatch) -> Counting:
    e = Counting()
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: e)
    return e


def _index(capsys, corpus: Path, root: Path, *extra: str) -> str:
    assert cli.main(["index", str(corpus), "--index", str(root), *extra]) == 0
    return capsys.readouterr().err


def _full_rebuild(corpus: Path, chunker: ChunkerConfig | None = None):
    return build_index(load_corpus(corpus), FakeEmbedder(), chunker)


def test_index_embeds_only_new_and_changed_documents(tiny_corpus, tmp_path, capsys, embedder):
    root = tmp_path / "idx"
    assert "3 added, 0 updated, 0 removed, 0 unchanged; 3 texts embedded" in _index(capsys, tiny_corpus, root)
    (tiny_corpus / "b.txt").write_text("Rail strike in Kessel is over. Trains run on Monday again.", encoding="utf-8")
    (tiny_corpus / "d.txt").write_text("A bridge opened in Lindau. It spans the river Ach.", encoding="utf-8")
    (tiny_corpus / "sub" / "c.txt").unlink()
    embedder.seen.clear()
    before = load_index(root)
    err = _index(capsys, tiny_corpus, root)
    assert "1 added, 1 updated, 1 removed, 1 unchanged; 2 texts embedded" in err
    assert "indexed 3 documents" in err
    new_texts = (tiny_corpus / "b.txt").read_text() + (tiny_corpus / "d.txt").read_text()
    indexed = embedder.indexed(before, load_index(root))
    assert indexed and all(t in new_texts for t in indexed), "only b.txt and d.txt may be embedded"
    assert_same_index(load_index(root), _full_rebuild(tiny_corpus), FakeEmbedder())


def test_unchanged_corpus_embeds_and_writes_nothing(tiny_corpus, tmp_path, capsys, embedder):
    root = tmp_path / "idx"
    _index(capsys, tiny_corpus, root)
    before = snapshot(root)
    embedder.seen.clear()
    assert "already up to date; nothing embedded" in _index(capsys, tiny_corpus, root)
    assert embedder.indexed(load_index(root)) == []
    assert len(embedder.seen) <= 2 * PROBES  # the check of the edit, and of the questions after it
    assert snapshot(root) == before


def test_identical_texts_are_stored_once_under_both_ids(tiny_corpus, tmp_path, capsys, embedder):
    (tiny_corpus / "copy of a.txt").write_bytes((tiny_corpus / "a.txt").read_bytes())
    root = tmp_path / "idx"
    _index(capsys, tiny_corpus, root)
    index = load_index(root)
    assert [d.id for d in index.documents] == ["a.txt", "b.txt", "sub/c.txt"]
    assert index.ids == ["a.txt", "b.txt", "copy of a.txt", "sub/c.txt"]
    assert index.aliases("a.txt") == ("copy of a.txt",) and index.aliases("copy of a.txt") == ("a.txt",)
    assert index.aliases("b.txt") == ()
    assert index.document("copy of a.txt").text == (tiny_corpus / "a.txt").read_text()
    m = json.loads((root / MANIFEST).read_text())
    assert json.loads((root / m["data"] / ALIASES).read_text()) == {"copy of a.txt": "a.txt"}
    assert m["counts"]["aliases"] == 1 and "aliases" not in m and "documents" not in m
    passages = [index.passage(i) for i in range(len(index))]
    assert len({p.text for p in passages}) == len(passages), "the shared text is indexed once"
    # the canonical id goes: its alias takes over the stored text, nothing is embedded
    (tiny_corpus / "a.txt").unlink()
    embedder.seen.clear()
    assert "0 added, 0 updated, 1 removed, 3 unchanged; 0 texts embedded" in _index(capsys, tiny_corpus, root)
    assert embedder.indexed(index, load_index(root)) == []
    assert_same_index(load_index(root), _full_rebuild(tiny_corpus), FakeEmbedder())


def test_gold_evidence_may_name_an_alias(tiny_corpus, tmp_path, capsys, embedder):
    (tiny_corpus / "copy.txt").write_bytes((tiny_corpus / "b.txt").read_bytes())
    root = tmp_path / "idx"
    _index(capsys, tiny_corpus, root)
    gold = tmp_path / "gold.jsonl"
    row = {
        "id": "g",
        "question": "When will trains run again in Kessel?",
        "answers": ["Monday"],
        "evidence": [{"doc": "copy.txt", "quote": "Trains will run again on Monday"}],
    }
    gold.write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert cli.main(["eval", str(gold), "--index", str(root), "-q"]) == 0


def test_changed_chunker_rebuilds_and_is_then_kept(tiny_corpus, tmp_path, capsys, embedder):
    root = tmp_path / "idx"
    _index(capsys, tiny_corpus, root)
    err = _index(capsys, tiny_corpus, root, "--max-tokens", "16", "--overlap", "4")
    assert "3 texts embedded (full rebuild: the chunker settings changed" in err
    assert "already up to date" in _index(capsys, tiny_corpus, root), "no flags: keep the index's chunker"
    assert_same_index(load_index(root), _full_rebuild(tiny_corpus, ChunkerConfig(16, 4)), FakeEmbedder())


def test_changed_model_rebuilds(tiny_corpus, tmp_path, capsys, embedder, monkeypatch):
    root = tmp_path / "idx"
    _index(capsys, tiny_corpus, root)

    class Other(OtherModelEmbedder):
        model_id = "other-model"

    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: Other())
    out = _index(capsys, tiny_corpus, root)
    assert "full rebuild: the model changed: the index was built with the model 'fake-hash-64'" in out
    assert "'other-model'" in out and "another model" in out
    assert load_index(root).model_id == "other-model"

    class Short(FakeEmbedder):
        model_id, max_tokens = "short-model", 24

    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: Short())
    out = _index(capsys, tiny_corpus, root)
    assert "the model changed: the index was built with the model 'other-model'" in out and "'short-model'" in out
    assert load_index(root).chunker.max_tokens == 24, "a smaller model gets its own default chunker"


def test_title_change_is_an_update_without_embedding(tmp_path):
    e = Counting()
    index, _ = sync_documents(None, [Document("n1", "Harbour deal signed.", "Old title")], e)
    e.seen.clear()
    old = index
    index, changes = sync_documents(index, [Document("n1", "Harbour deal signed.", "New title")], e)
    assert changes.updated == ("n1",) and changes.embedded == 0 and e.indexed(old) == []
    assert index.document("n1").title == "New title"


def test_api_add_update_delete_equal_full_rebuilds():
    e = FakeEmbedder()
    docs = {d.id: d for d in news_docs(12, seed=5)}
    index, changes = add_documents(None, docs.values(), e)
    assert len(changes.added) == 12 and changes.embedded == 12
    extra = news_docs(3, seed=6, prefix="extra")
    index, changes = add_documents(index, extra, e)
    assert changes.added == tuple(d.id for d in extra) and changes.unchanged == 12 and changes.embedded == 3
    docs.update({d.id: d for d in extra})
    assert_same_index(index, build_index(list(docs.values()), e), e)

    changed = Document("doc-0003.txt", docs["doc-0001.txt"].text)  # now identical to doc-0001: an alias
    index, changes = update_documents(index, [changed], e)
    assert changes.updated == ("doc-0003.txt",) and changes.embedded == 0
    assert index.aliases("doc-0001.txt") == ("doc-0003.txt",)
    docs[changed.id] = changed
    assert_same_index(index, build_index(list(docs.values()), e), e)

    index, changes = delete_documents(index, ["doc-0001.txt", "extra-0000.txt"])
    assert changes.removed == ("doc-0001.txt", "extra-0000.txt") and changes.embedded == 0
    del docs["doc-0001.txt"], docs["extra-0000.txt"]
    assert_same_index(index, build_index(list(docs.values()), e), e)


def test_api_refuses_wrong_ids_and_models():
    e = FakeEmbedder()
    index, _ = add_documents(None, [Document("a", "Alpha story."), Document("b", "Beta story.")], e)
    with pytest.raises(DocumentIdError, match="already in the index: 'a'; use update_documents"):
        add_documents(index, [Document("a", "Again.")], e)
    with pytest.raises(DocumentIdError, match="not in the index: 'zz'"):
        update_documents(index, [Document("zz", "New.")], e)
    with pytest.raises(DocumentIdError, match="not in the index: 'zz'"):
        delete_documents(index, ["zz"])
    with pytest.raises(DocumentIdError, match="unique"):
        add_documents(index, [Document("c", "One."), Document("c", "Two.")], e)
    with pytest.raises(ConfigError, match="at least one document"):
        delete_documents(index, ["a", "b"])

    with pytest.raises(IndexMismatchError, match="built with the model 'fake-hash-64'") as err:
        add_documents(index, [Document("c", "Gamma.")], OtherModelEmbedder())
    assert "rebuild it from the whole corpus" in str(err.value) and "ragdiplo index" in err.value.cli_message


def test_edit_index_saves_once_and_only_on_success(tiny_corpus, tmp_path):
    e = FakeEmbedder()
    root = save_index(build_index(load_corpus(tiny_corpus), e), tmp_path / "idx")
    before = snapshot(root)
    with pytest.raises(RuntimeError, match="changed my mind"), edit_index(root, e) as editor:
        editor.add([Document("d.txt", "A bridge opened in Lindau.")])
        raise RuntimeError("changed my mind")
    assert snapshot(root) == before
    with edit_index(root, e) as editor:
        editor.add([Document("d.txt", "A bridge opened in Lindau.")])
        editor.update([Document("b.txt", "The rail strike ended.")])
        editor.delete(["a.txt"])
    assert editor.changes.summary() == "1 added, 1 updated, 1 removed, 1 unchanged; 2 texts embedded"
    assert len(list(root.glob("data-*"))) == 1
    assert load_index(root).ids == ["b.txt", "d.txt", "sub/c.txt"]


def test_unreadable_index_is_not_edited_piecemeal(tiny_corpus, tmp_path):
    """Adding to an index that cannot be read would silently drop its documents;
    only a whole-corpus sync may replace it."""
    e = FakeEmbedder()
    root = save_index(build_index(load_corpus(tiny_corpus), e), tmp_path / "idx")
    (root / json.loads((root / MANIFEST).read_text())["data"] / "passages.npy").write_bytes(b"broken")
    with pytest.raises(IndexCorruptError, match="passages.npy"), edit_index(root, e) as editor:
        editor.add([Document("d.txt", "A bridge opened in Lindau.")])
    with edit_index(root, e) as editor:
        editor.sync(load_corpus(tiny_corpus))
    assert editor.changes.rebuilt and "passages.npy" in editor.changes.rebuilt
    assert_same_index(load_index(root), build_index(load_corpus(tiny_corpus), e), e)


class BatchSensitive(FakeEmbedder):
    """Like sentence-transformers, whose output for a text can change in the last
    bits with the other texts of its batch (padding changes the shapes of the sums)."""

    batch_invariant = False

    def embed(self, texts, *, show_progress=False):
        out = super().embed(texts)
        if len(out):
            out[:, 0] += 1e-6 * max(map(len, texts))
        return out


def test_update_is_exact_even_when_vectors_depend_on_the_batch():
    """Texts are embedded per document, so no document's vectors depend on which
    other documents were embedded in the same run."""
    e = BatchSensitive()
    docs = news_docs(6, seed=7)
    updated, changes = sync_documents(build_index(docs[:4], e), docs[2:], e)
    assert changes.embedded == 2
    assert_same_index(updated, build_index(docs[2:], e), e)
