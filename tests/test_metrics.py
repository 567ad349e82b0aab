"""Each metric on a hand-computed case; the ranking metrics also against pytrec_eval."""

from __future__ import annotations

import math
import random

import pytest

from ragdiplo.eval.metrics import (
    aurc,
    hit_at_k,
    mean,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
    risk_coverage,
    span_overlap,
)

QRELS = {"a": 2, "b": 1, "c": 0}  # c is judged but not relevant
RANKING = ["c", "a", "x", "b"]


def test_hit_at_k():
    assert hit_at_k(RANKING, QRELS, 1) == 0.0  # c has grade 0
    assert hit_at_k(RANKING, QRELS, 2) == 1.0
    assert hit_at_k([], QRELS, 10) == 0.0


def test_recall_at_k():
    assert recall_at_k(RANKING, QRELS, 1) == 0.0
    assert recall_at_k(RANKING, QRELS, 3) == 0.5
    assert recall_at_k(RANKING, QRELS, 4) == 1.0
    assert recall_at_k(RANKING, {"c": 0}, 4) == 0.0  # nothing relevant


def test_reciprocal_rank():
    assert reciprocal_rank(RANKING, QRELS) == 0.5
    assert reciprocal_rank(RANKING, QRELS, k=1) == 0.0
    assert reciprocal_rank(["x", "y", "b"], QRELS) == pytest.approx(1 / 3)


def test_ndcg_graded_gains():
    # DCG = 0/log2(2) + 2/log2(3) + 0/log2(4) + 1/log2(5); ideal order a (2), b (1)
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 / 1 + 1 / math.log2(3)
    assert ndcg_at_k(RANKING, QRELS, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b"], QRELS, 10) == pytest.approx(1.0)
    assert ndcg_at_k(RANKING, QRELS, 1) == 0.0
    # cut at 2: only a counts, ideal keeps two gains
    assert ndcg_at_k(RANKING, QRELS, 2) == pytest.approx((2 / math.log2(3)) / idcg)
    assert ndcg_at_k(RANKING, {}, 10) == 0.0


def test_span_overlap():
    gold = [("a.txt", 100, 150)]
    # 70 cited characters, 50 of them evidence; all 50 evidence characters cited
    assert span_overlap([("a.txt", 90, 160)], gold) == pytest.approx((50 / 70, 1.0))
    # two overlapping citations count their shared characters once: cited [90, 130) = 40, 30 in gold
    assert span_overlap([("a.txt", 90, 120), ("a.txt", 110, 130)], gold) == pytest.approx((30 / 40, 30 / 50))
    # another document never overlaps
    assert span_overlap([("b.txt", 100, 150)], gold) == (0.0, 0.0)
    assert span_overlap([], gold) == (0.0, 0.0)
    # two gold spans: 10 of the 20 cited characters in the first, 10 in the second
    assert span_overlap([("a.txt", 140, 160)], gold + [("a.txt", 150, 200)]) == pytest.approx((1.0, 20 / 100))


def test_risk_coverage_and_aurc():
    curve = risk_coverage([0.9, 0.2, 0.5, 0.5], [True, True, False, True])
    # order: 0.9 (right), 0.5 (wrong), 0.5 (right; ties keep input order), 0.2 (right)
    expected = [(0.25, 0.0), (0.5, 0.5), (0.75, 1 / 3), (1.0, 0.25)]
    assert len(curve) == len(expected)
    for point, want in zip(curve, expected):
        assert point == pytest.approx(want)
    assert aurc(curve) == pytest.approx((0 + 0.5 + 1 / 3 + 0.25) / 4)
    assert risk_coverage([], []) == []
    assert math.isnan(aurc([]))


def test_percentile_and_mean():
    assert percentile([10.0, 30.0, 20.0], 50) == 20.0
    assert percentile([10.0, 20.0, 30.0], 95) == pytest.approx(29.0)
    assert percentile([5.0], 95) == 5.0
    assert math.isnan(percentile([], 50))
    assert mean([1, 2, 3]) == 2 and math.isnan(mean([]))


def _trec_order(scores: dict[str, float]) -> list[str]:
    """trec_eval's order: score descending, ties by document id descending."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def test_ranking_metrics_match_pytrec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(7)
    qrels, run = {}, {}
    for q in range(25):
        docs = [f"d{i}" for i in range(150)]
        judged = rng.sample(docs, rng.randint(1, 12))
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 2, 3]) for d in judged}
        qrels[f"q{q}"][judged[0]] = max(1, qrels[f"q{q}"][judged[0]])  # at least one relevant
        retrieved = rng.sample(docs, 120)
        run[f"q{q}"] = {d: float(rng.randint(0, 40)) for d in retrieved}  # many ties
    top10 = {q: dict(sorted(s.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10]) for q, s in run.items()}
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10,100", "recip_rank"})
    theirs = ev.evaluate(run)
    theirs_rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    for q, scores in run.items():
        ranking = _trec_order(scores)
        assert ndcg_at_k(ranking, qrels[q], 10) == pytest.approx(theirs[q]["ndcg_cut_10"], abs=1e-6)
        assert recall_at_k(ranking, qrels[q], 10) == pytest.approx(theirs[q]["recall_10"], abs=1e-6)
        assert recall_at_k(ranking, qrels[q], 100) == pytest.approx(theirs[q]["recall_100"], abs=1e-6)
        assert reciprocal_rank(ranking, qrels[q], 10) == pytest.approx(theirs_rr[q]["recip_rank"], abs=1e-6)
