"""Retrieval over a tiny corpus with the fake embedder: dense, BM25 and fused."""

from __future__ import annotations

import pytest

from ragdiplo.answer.retrieval import Fusion, RetrievalConfig, rank_rows, retrieve
from ragdiplo.index.build import build_index
from ragdiplo.ingest.corpus import load_corpus


@pytest.fixture
def index(tiny_corpus, fake_embedder):
    # small passages so the tiny corpus has several to rank
    from ragdiplo.ingest.chunking import ChunkerConfig

    return build_index(load_corpus(tiny_corpus), fake_embedder, ChunkerConfig(max_tokens=16, overlap_tokens=4))


QUESTIONS = [
    "How long will the dredging work take?",
    "rail strike wages Kessel",
    "wheat harvest Oran valley drought",
    "completely unrelated zebra quantum",
]


@pytest.mark.parametrize("fusion", list(Fusion))
@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("k", [1, 3, 1000])
def test_hits_are_sorted_exact_slices(index, fake_embedder, tiny_corpus, fusion, question, k):
    hits = retrieve(index, question, fake_embedder.embed([question])[0], k, RetrievalConfig(fusion=fusion))
    assert len(hits) <= min(k, len(index))
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    rows = set()
    for h in hits:
        p = h.passage
        assert (tiny_corpus / p.doc_id).read_bytes().decode("utf-8")[p.start : p.end] == p.text
        rows.add((p.doc_id, p.start, p.end))
    assert len(rows) == len(hits), "a passage is returned twice"


@pytest.mark.parametrize("fusion", list(Fusion))
def test_each_fusion_finds_the_right_document(index, fake_embedder, fusion):
    q = "How long will the dredging work take?"
    hits = retrieve(index, q, fake_embedder.embed([q])[0], 3, RetrievalConfig(fusion=fusion))
    assert hits and hits[0].passage.doc_id == "a.txt"
    assert "dredging" in hits[0].passage.text


def test_dense_scores_are_cosines(index, fake_embedder):
    q = "Trains will run again on Monday"
    vec = fake_embedder.embed([q])[0]
    hits = retrieve(index, q, vec, 1000, RetrievalConfig(fusion=Fusion.DENSE))
    assert len(hits) == len(index)
    for h in hits:
        expected = float(fake_embedder.embed([h.passage.text])[0] @ vec)
        assert h.score == pytest.approx(expected, abs=1e-5)


def test_bm25_ignores_unknown_words(index, fake_embedder):
    q = "zebra quantum"
    assert retrieve(index, q, fake_embedder.embed([q])[0], 10, RetrievalConfig(fusion=Fusion.BM25)) == []


def test_rrf_fuses_both_lists(index, fake_embedder):
    q = "wheat harvests fell"
    vec = fake_embedder.embed([q])[0]
    ranked = rank_rows(index, q, vec, RetrievalConfig(fusion=Fusion.RRF, rrf_k=60))
    # a passage ranked first by both retrievers scores 2 / 61
    assert ranked[0][1] <= 2 / 61 + 1e-12
    assert all(0 < s <= 2 / 61 + 1e-12 for _, s in ranked)


def test_candidates_limit(index, fake_embedder):
    q = "the"
    ranked = rank_rows(index, q, fake_embedder.embed([q])[0], RetrievalConfig(fusion=Fusion.DENSE, candidates=2))
    assert len(ranked) == 2


def test_fusion_is_a_string_enum():
    assert Fusion("rrf") is Fusion.RRF and Fusion.BM25.value == "bm25"


@pytest.mark.parametrize("question", QUESTIONS[:3])
def test_convex_fusion_at_its_ends_orders_as_each_retriever_does(index, fake_embedder, question):
    vector = fake_embedder.embed([question])[0]
    dense_only = rank_rows(index, question, vector, RetrievalConfig(fusion=Fusion.CONVEX, dense_weight=1.0))
    bm25_only = rank_rows(index, question, vector, RetrievalConfig(fusion=Fusion.CONVEX, dense_weight=0.0))
    by_cosine = sorted(dense_only, key=lambda kv: (-float(index.passage_vectors[kv[0]] @ vector), kv[0]))
    assert [row for row, _ in dense_only] == [row for row, _ in by_cosine]
    bm25 = index.bm25.scores(question)
    assert [bm25[row] for row, _ in bm25_only] == sorted((bm25[row] for row, _ in bm25_only), reverse=True)
    assert {row for row, _ in dense_only} == {row for row, _ in bm25_only}
    assert all(0.0 <= score <= 1.0 for _, score in dense_only + bm25_only)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dense_weight": 7}, "between 0 and 1"),
        ({"fusion": "fancy"}, "fusion must be one of"),
        ({"candidates": 0}, "at least 1"),
        ({"bm25_weight": -1, "fusion": Fusion.RRF}, "at least 0"),
        ({"rrf_k": 10}, "rrf_k apply to fusion='rrf' only"),
        ({"fusion": Fusion.RRF, "sentences_per_passage": 0}, "at least 1"),
        ({"sentences_per_passage": 5}, "sentences_per_passage apply to fusion='rrf' only"),
        ({"fusion": Fusion.RRF, "dense_weight": 0.3}, "dense_weight applies to fusion='convex' only"),
    ],
)
def test_settings_out_of_range_or_of_the_other_fusion_are_errors(settings, message):
    from ragdiplo.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        RetrievalConfig(**settings)


def test_fusion_may_be_named_by_its_value():
    assert RetrievalConfig(fusion="rrf", rrf_k=10).fusion is Fusion.RRF


def test_bm25_scores_and_files_are_bm25s_own(tmp_path):
    """Scoring a saved index without bm25s gives bm25s' scores bit for bit, its
    stop words are bm25s' list, and bm25s reads the folder it writes."""
    import bm25s
    import numpy as np

    from ragdiplo.stores.bm25 import BM25, STOPWORDS_EN, terms

    assert STOPWORDS_EN == bm25s.stopwords.STOPWORDS_EN
    texts = ["The mayor signed the harbour deal; the harbour deal pays for dredging.", "Rail strike ends in Kessel.",
             "Wheat harvests fell by 15% in the Oran valley", "dredging dredging dredging"]
    built = BM25.build(texts)
    built.save(tmp_path / "bm25")
    loaded = BM25.load(tmp_path / "bm25", len(texts))
    theirs = bm25s.BM25.load(str(tmp_path / "bm25"), allow_pickle=False, show_progress=False)
    for query in ["harbour deal dredging", "dredging dredging harbour", "Kessel rail", "zebra", "the"]:
        tokens = [t for t in terms(query) if t in theirs.vocab_dict]
        expected = theirs.get_scores(tokens) if tokens else np.zeros(len(texts), dtype=np.float32)
        for ours in (built, loaded):
            assert ours.scores(query).tobytes() == np.asarray(expected, dtype=np.float32).tobytes()
