"""The advised repair, `ragdiplo index CORPUS --index DIR`, leaves an index that
answers as a fresh build of the corpus does (issue 26, items 2, 5 and 9): bad
stored vectors are embedded again, a manifest naming another model is rebuilt
with the model in hand (so `ask` works after it), and an index whose BM25 was
made by another analyser is refused until re-indexed, which embeds nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

import ragdiplo.cli.main as cli
import ragdiplo.embed.factory as factory
import ragdiplo.stores.bm25 as bm25
from ragdiplo.answer.settings import QAConfig
from ragdiplo.durable import file_record, seal
from ragdiplo.errors import IndexMismatchError, ModelError
from ragdiplo.index.build import MANIFEST, build_index, save_index
from ragdiplo.index.compat import probe_texts
from ragdiplo.index.load import load_index
from ragdiplo.index.update import edit_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA
from ragdiplo.stores.bm25 import analyser

from .helpers import one_line_error

QUESTIONS = [
    "Who signed the harbour deal?",
    "How much was the harbour deal worth?",
    "By how much did wages rise?",
    "How long did the rail strike last?",
    "How much emergency aid did the minister promise?",
    "When was rainfall this low before?",
]


def _answers(root: Path) -> list[dict]:
    """Answers, citations and retrieved passages, as ``ask --json`` reports them (the rules
    reader: no model file is read)."""
    qa = QA(load_index(root), FakeEmbedder(), QAConfig(reader=None), index_path=root)
    return [qa.ask(q).to_dict() for q in QUESTIONS]


def _reseal(root: Path, **changes: object) -> None:
    m = json.loads((root / MANIFEST).read_text())
    for name in m["files"]:
        m["files"][name] = file_record(root / m["data"] / name)
    m.update(changes)
    (root / MANIFEST).write_text(json.dumps(seal(m)))


def _run(capsys, *argv: object) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def fresh(tiny_corpus, tmp_path) -> list[dict]:
    """What a fresh build of the corpus answers."""
    return _answers(save_index(build_index(load_corpus(tiny_corpus), FakeEmbedder()), tmp_path / "fresh"))


# -- item 2: after a repair, the index answers as a fresh build -------------------------------


@pytest.mark.parametrize("name", ["passage_vectors.npy", "sentence_vectors.npy"])
def test_a_repaired_index_answers_as_a_fresh_build(cli_index, tiny_corpus, fresh, capsys, name):
    data = cli_index / json.loads((cli_index / MANIFEST).read_text())["data"]
    vectors = np.load(data / name)
    vectors[::2] = np.nan  # every other row, across every document
    buf = io.BytesIO()
    np.save(buf, vectors, allow_pickle=False)
    (data / name).write_bytes(buf.getvalue())
    _reseal(cli_index)
    code, err = _run(capsys, "ask", QUESTIONS[0], "--index", cli_index)
    assert code == 2 and "not a unit vector" in one_line_error(err)
    code, err = _run(capsys, "index", tiny_corpus, "--index", cli_index)
    assert code == 0 and "full rebuild" in err and "3 texts embedded" in err
    assert _answers(cli_index) == fresh
    assert any(a["citations"] for a in fresh) and all(a["retrieved"] for a in fresh)


# -- item 5: a manifest naming another model --------------------------------------------------


CHOOSE_EMBEDDER = cli._embedder  # the CLI's own choice (the autouse fixture swaps it for the fake later)


@pytest.fixture
def factory_of_the_fake(monkeypatch):
    """The CLI's own choice of embedder, with the fake standing in for the bundled
    model: a model of another name must be given as a folder, as for real."""

    def query_embedder(model_id, model=None):
        if model is None and model_id != FakeEmbedder.model_id:
            raise ModelError(f"the index was built with the model {model_id!r}",
                             cli_message=f"the index was built with the model {model_id!r}; pass --model PATH")
        return FakeEmbedder()

    monkeypatch.setattr(cli, "_embedder", CHOOSE_EMBEDDER)
    monkeypatch.setattr(factory, "default_embedder", lambda model=None, backend=None, precision=None: FakeEmbedder())
    monkeypatch.setattr(factory, "query_embedder", query_embedder)
    monkeypatch.setattr(factory, "index_embedder", lambda m, backend=None, precision=None, model=None:
                        query_embedder(m, model))


def test_a_manifest_naming_another_model_is_repaired_so_ask_works(cli_index, tiny_corpus, fresh, capsys,
                                                                   factory_of_the_fake):
    _reseal(cli_index, model_id="some-other-model")  # the same vectors under a name no folder here holds
    code, err = _run(capsys, "ask", QUESTIONS[0], "--index", cli_index)
    assert code == 2 and "some-other-model" in one_line_error(err)
    code, err = _run(capsys, "index", tiny_corpus, "--index", cli_index)
    assert code == 0 and "full rebuild" in err and "some-other-model" in err
    assert load_index(cli_index).model_id == FakeEmbedder.model_id
    assert _run(capsys, "ask", QUESTIONS[0], "--index", cli_index)[0] == 0
    assert _answers(cli_index) == fresh


# -- item 9: the BM25 analyser is recorded and checked ----------------------------------------


def test_the_manifest_records_the_analyser(cli_index):
    recorded = json.loads((cli_index / MANIFEST).read_text())["analyser"]
    assert recorded == analyser()
    assert set(recorded) == {"token_pattern", "lowercase", "stopwords_sha256", "stemmer", "stemmer_version"}


@pytest.mark.parametrize(("key", "value"), [("stemmer_version", "PyStemmer 2.2.0"), ("token_pattern", r"\w\w+"),
                                            ("stopwords_sha256", "0" * 64), ("stemmer", "snowball-porter")])
def test_another_analyser_is_refused_and_reindexing_embeds_nothing(cli_index, tiny_corpus, fresh, capsys, monkeypatch,
                                                                  key, value):
    _reseal(cli_index, analyser={**analyser(), key: value})
    with pytest.raises(IndexMismatchError, match=f"another BM25 analyser \\({key}") as err:
        load_index(cli_index)
    assert f"edit_index({str(cli_index)!r})" in str(err.value) and "--" not in str(err.value)
    code, err_text = _run(capsys, "ask", QUESTIONS[0], "--index", cli_index)
    assert code == 2 and f"`ragdiplo index CORPUS --index {cli_index}`" in one_line_error(err_text)
    embedded: list[str] = []

    class Counting(FakeEmbedder):
        def embed(self, texts, *, show_progress=False):
            embedded.extend(texts)
            return super().embed(texts)

    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: Counting())
    code, err_text = _run(capsys, "index", tiny_corpus, "--index", cli_index)
    assert code == 0 and "BM25 made anew" in err_text and "0 texts embedded" in err_text
    assert set(embedded) <= set(probe_texts(load_index(cli_index), FakeEmbedder()))  # the compatibility probes only
    assert json.loads((cli_index / MANIFEST).read_text())["analyser"] == analyser()
    assert _answers(cli_index) == fresh


def test_python_reanalyses_with_an_empty_edit(cli_index, fresh):
    _reseal(cli_index, analyser={**analyser(), "stemmer_version": "PyStemmer 2.2.0"})
    with edit_index(cli_index) as editor:  # no embedder is needed, none is loaded
        pass
    assert editor.changes.reanalysed and editor.changes.embedded == 0
    assert _answers(cli_index) == fresh


def test_an_older_index_without_the_record_is_checked_by_its_own_passages(cli_index, tiny_corpus, monkeypatch):
    """Indexes written before the analyser was recorded still load when their
    vocabulary holds the terms this installation makes of their passages (every
    format-5 index so far: the analyser has not changed), and are refused when not."""
    m = json.loads((cli_index / MANIFEST).read_text())
    del m["analyser"]
    (cli_index / MANIFEST).write_text(json.dumps(seal(m)))
    assert load_index(cli_index).ids == ["a.txt", "b.txt", "sub/c.txt"]

    class Unstemmed:
        def stemWords(self, words):  # PyStemmer's name
            return list(words)

    bm25._cached_terms.cache_clear()
    monkeypatch.setattr(bm25, "_stemmer", Unstemmed)
    other = save_index(build_index(load_corpus(tiny_corpus), FakeEmbedder()), cli_index.parent / "unstemmed")
    monkeypatch.undo()
    bm25._cached_terms.cache_clear()
    m = json.loads((other / MANIFEST).read_text())
    del m["analyser"]
    (other / MANIFEST).write_text(json.dumps(seal(m)))
    with pytest.raises(IndexMismatchError, match="lacks the term"):
        load_index(other)
