"""Metadata filters: --since/--until/--source/--tag and ``where=``
restrict retrieval itself, so the top k are the best matching passages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ragdiplo.cli.main as cli
from ragdiplo.answer.retrieval import Fusion, RetrievalConfig, rank_rows, subset_of
from ragdiplo.answer.settings import QAConfig
from ragdiplo.index.build import build_index, save_index
from ragdiplo.index.load import load_index
from ragdiplo.ingest.corpus import load_corpus
from ragdiplo.qa import QA
from ragdiplo.stores.ann import AnnConfig
from ragdiplo.stores.faiss_store import StoreConfig, StoreKind
from ragdiplo.types import Document, Where

QUESTION = "Did Trump give security guarantees to Ukraine?"
ROWS = [  # id, date, source, tags, text
    ("h1", "2025-02-20", "Herald", ["ukraine"], "Trump said he would not give security guarantees to Ukraine beyond very much."),
    ("h2", "2025-02-27", "Herald", ["ukraine", "us"], "Security guarantees for Ukraine: Trump and Starmer met on Thursday."),
    ("h3", "2025-08-18", "Herald", ["ukraine"], "Trump committed to security guarantees for Ukraine, Starmer said on Monday."),
    ("g1", "2025-03-02", "Gazette", ["europe"], "European leaders met in London to plan a coalition of the willing."),
    ("g2", "2025-03-15", "Gazette", ["europe"], "France and Britain would send troops to keep a ceasefire, officials said."),
    ("g3", "2025-06-01", "Gazette", ["europe", "ukraine"], "Defence budgets across Europe rose by a tenth this spring."),
    ("g4", "2025-09-09", "Gazette", ["ukraine"], "Kyiv asked its allies for more air defence before the winter."),
    ("p1", None, "Post", [], "Trump spoke about Ukraine and guarantees again, without a date on the page."),
]


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "news.jsonl"
    lines = []
    for doc_id, date, source, tags, text in ROWS:
        row = {"id": doc_id, "text": text, "source": source, "tags": tags, **({"date": date} if date else {})}
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def dated(tmp_path, fake_embedder):
    return build_index(load_corpus(_corpus(tmp_path)), fake_embedder)


def _docs(index, ranked) -> set[str]:
    return {index.passage(row).doc_id for row, _ in ranked}


@pytest.mark.parametrize("fusion", [Fusion.DENSE, Fusion.BM25, Fusion.RRF])
@pytest.mark.parametrize("candidates", [2, 100])
@pytest.mark.parametrize("where", [Where(source="gazette"), Where(since="2025-03-01"), Where(until="2025-02-27"),
                                   Where(tag="UKRAINE", since="2025-02-21"), Where(source="Post")])
def test_a_filter_ranks_the_matching_passages_as_the_full_ranking_does(dated, fake_embedder, fusion, candidates, where):
    """Filtered, the candidates are the best matching ones: the unfiltered ranking
    of every passage, cut to those that match, then to ``candidates``."""
    vector = fake_embedder.embed([QUESTION])[0]
    config = RetrievalConfig(fusion=fusion, candidates=candidates)
    full = rank_rows(dated, QUESTION, vector, RetrievalConfig(fusion=fusion, candidates=len(dated)))
    allowed = set(subset_of(dated, where).rows.tolist())
    assert allowed  # every case keeps something
    expected = [row for row, _ in full if row in allowed]
    if fusion is not Fusion.RRF:  # rank fusion scores depend on the ranks inside the candidates
        assert [row for row, _ in rank_rows(dated, QUESTION, vector, config, where)] == expected[:candidates]
    else:
        assert {row for row, _ in rank_rows(dated, QUESTION, vector, config, where)} <= allowed


def test_filters_change_the_retrieved_set_exactly(dated, fake_embedder):
    qa = QA(dated, fake_embedder, QAConfig(reader=None))
    every = {h.passage.doc_id for h in qa.ask(QUESTION, k=len(dated)).retrieved}
    assert every == {r[0] for r in ROWS}

    def docs(**where: str) -> set[str]:
        return {h.passage.doc_id for h in qa.ask(QUESTION, k=len(dated), where=Where(**where)).retrieved}

    assert docs(source="Gazette") == {"g1", "g2", "g3", "g4"}
    assert docs(since="2025-03-01") == {"g1", "g2", "g3", "g4", "h3"}  # p1 has no date
    assert docs(since="2025-02-27", until="2025-03-02") == {"h2", "g1"}  # both ends included
    assert docs(until="2025-02-27T00:00:00Z") == {"h1", "h2"}
    assert docs(tag="ukraine", source="herald") == {"h1", "h2", "h3"}
    assert docs(since="2026-01-01") == set()


def test_top_k_is_filled_with_matching_passages_not_post_filtered(dated, fake_embedder):
    qa = QA(dated, fake_embedder, QAConfig(reader=None))
    top = qa.ask(QUESTION, k=3)
    assert not any(h.passage.source == "Gazette" for h in top.retrieved)  # a post-filter would keep nothing
    filtered = qa.ask(QUESTION, k=3, where=Where(source="Gazette"))
    assert len(filtered.retrieved) == 3 and all(h.passage.source == "Gazette" for h in filtered.retrieved)
    assert all(c.source == "Gazette" for c in filtered.citations)


def test_answers_carry_metadata_and_stay_exact(dated, fake_embedder):
    qa = QA(dated, fake_embedder, QAConfig(reader=None))
    answer = qa.ask(QUESTION, where=Where(since="2025-08-01", source="Herald"))
    assert answer.citations
    for c in answer.citations:
        doc = dated.document(c.doc_id)
        assert doc.text[c.start : c.end] == c.text
        assert (c.title, c.date, c.source) == (doc.title, doc.date, doc.source) == (None, "2025-08-18", "Herald")
    assert [h.passage.doc_id for h in answer.retrieved] == ["h3"]


def test_nothing_matching_is_withheld_not_an_error(dated, fake_embedder):
    answer = QA(dated, fake_embedder, QAConfig(reader=None)).ask(QUESTION, where=Where(source="Nobody"))
    assert answer.text is None and answer.retrieved == () and answer.withheld


def test_where_must_be_a_where(dated, fake_embedder):
    with pytest.raises(TypeError, match="Where"):
        QA(dated, fake_embedder).ask(QUESTION, where={"source": "Herald"})  # type: ignore[arg-type]


def test_a_memory_mapped_index_filters_alike(dated, fake_embedder, tmp_path):
    save_index(dated, tmp_path / "idx")
    mapped = load_index(tmp_path / "idx", mmap=True)
    vector = fake_embedder.embed([QUESTION])[0]
    for where in (Where(source="Gazette"), Where(since="2025-03-01", tag="europe")):
        assert rank_rows(mapped, QUESTION, vector, RetrievalConfig(), where) == rank_rows(
            dated, QUESTION, vector, RetrievalConfig(), where)


def test_an_approximate_store_searches_only_the_subset(fake_embedder, monkeypatch):
    from ragdiplo.stores import faiss_store

    words = ["harbour", "strike", "drought", "election", "budget", "flood", "court", "rail", "trade", "school"]
    docs = [Document(f"d{i:03d}", " ".join(words[(i * j) % 10] for j in range(1, 8)) + f" item {i}.",
                     source="A" if i % 3 else "B") for i in range(300)]
    index = build_index(docs, fake_embedder, ann=AnnConfig(exact_below=100, pq_m=8, sample=32))
    assert index.store.approximate
    subset = subset_of(index, Where(source="B"))
    queries = fake_embedder.embed(["harbour budget court", "flood school"])
    exact = np.asarray(index.passage_vectors)[subset.rows] @ queries.T
    _, rows = index.store.search(queries, 10, subset)
    for q in range(len(queries)):
        best = subset.rows[np.lexsort((subset.rows, -exact[:, q]))[:10]]
        assert rows[q].tolist() == best.tolist()  # the subset scored exactly
    monkeypatch.setattr(faiss_store, "EXACT_SUBSET_ROWS", 0)  # a big subset: IVF lists with a selector
    _, rows = index.store.search(queries, 10, subset)
    assert set(rows[rows >= 0].tolist()) <= set(subset.rows.tolist()) and (rows >= 0).sum() > 0


@pytest.fixture
def fake_cli_model(monkeypatch, fake_embedder):
    """The CLI indexes and asks with the fake embedder, not the real model."""
    monkeypatch.setattr(cli, "_embedder", lambda args, model_id=None: fake_embedder)


def test_cli_filters(tmp_path, capsys, fake_cli_model):
    idx = str(tmp_path / "idx")
    assert cli.main(["index", str(_corpus(tmp_path)), "--index", idx, "-q"]) == 0
    capsys.readouterr()
    assert cli.main(["ask", QUESTION, "--index", idx, "--json", "--since", "2025-03-01",
                     "--source", "gazette", "-k", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["doc"] for r in out["retrieved"]} == {"g1", "g2", "g3", "g4"}
    assert all(r["source"] == "Gazette" and r["date"] >= "2025-03-01" for r in out["retrieved"])
    assert cli.main(["ask", QUESTION, "--index", idx, "--since", "March"]) == 2
    assert "--since/--until/--source/--tag: 'March' is not an ISO 8601 date" in capsys.readouterr().err


def test_cli_eval_and_repl_take_filters(tmp_path, capsys, fake_embedder, fake_cli_model):
    import io

    from ragdiplo.cli.repl import run

    idx = str(tmp_path / "idx")
    assert cli.main(["index", str(_corpus(tmp_path)), "--index", idx, "-q"]) == 0
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "q1", "question": "Who sent troops to keep a ceasefire?",
                                "answers": ["France and Britain"]}) + "\n")
    out = tmp_path / "pred.jsonl"
    assert cli.main(["eval", str(gold), "--index", idx, "--source", "Herald", "--out", str(out), "-q"]) == 0
    pred = json.loads(out.read_text().splitlines()[0])
    assert pred["citations"] == [] or all(c["doc"].startswith("h") for c in pred["citations"])
    qa = QA(build_index(load_corpus(_corpus(tmp_path)), fake_embedder), fake_embedder, QAConfig(reader=None))
    stdout = io.StringIO()
    run(qa, k=20, stdin=io.StringIO(QUESTION + "\n:passages\n"), stdout=stdout, where=Where(source="Gazette"))
    lines = [line for line in stdout.getvalue().splitlines() if line.startswith("[")]
    assert lines and all("Gazette" in line for line in lines)


@pytest.mark.integration  # runs Milvus Lite
def test_milvus_filters_inside_the_search(tmp_path, fake_embedder):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from ragdiplo.stores.milvus import close_clients, subset_filter

    index = build_index(load_corpus(_corpus(tmp_path)), fake_embedder)
    config = StoreConfig(StoreKind.MILVUS, str(tmp_path / "m.db"), "filters")
    try:
        save_index(index, tmp_path / "m", store=config)
        milvus = load_index(tmp_path / "m", store=config)
        assert type(milvus.store).__name__ == "MilvusStore"
        vector = fake_embedder.embed([QUESTION])[0]
        for where in (Where(source="Gazette"), Where(since="2025-03-01"), Where(until="2025-02-20"),
                      Where(source="Herald", tag="us")):
            subset = subset_of(index, where)
            assert subset_filter(subset).startswith("doc_id ")
            _, faiss_rows = index.store.search(vector, 5, subset)
            _, milvus_rows = milvus.store.search(vector, 5, subset)
            assert milvus_rows.tolist() == faiss_rows.tolist()
            assert set(milvus_rows[milvus_rows >= 0].tolist()) <= set(subset.rows.tolist())
            config_ = RetrievalConfig()
            assert rank_rows(milvus, QUESTION, vector, config_, where) == rank_rows(index, QUESTION, vector, config_, where)
    finally:
        close_clients()
