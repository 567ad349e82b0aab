"""Evaluation metrics: pure functions over plain data, each unit-tested on a
hand-computed case.

Ranking metrics follow trec_eval (and therefore BEIR, which calls it through
pytrec_eval): a ranking is a list of document ids best first, judgements map a
document id to a grade, and a grade above zero is relevant. nDCG uses the grade
itself as the gain (trec_eval's convention) and log2(rank + 1) discounts.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})

Span = tuple[str, int, int]  # document id, start, end (end exclusive)


# -- ranking ---------------------------------------------------------------------------------------


def _relevant(qrels: Mapping[str, int]) -> set[str]:
    return {d for d, grade in qrels.items() if grade > 0}


def hit_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """1.0 when a relevant document is among the first ``k``, else 0.0."""
    relevant = _relevant(qrels)
    return float(any(d in relevant for d in ranking[:k]))


def recall_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the first ``k`` (0 when none is relevant)."""
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def reciprocal_rank(ranking: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """1 / rank of the first relevant document within the first ``k``, else 0."""
    relevant = _relevant(qrels)
    for rank, d in enumerate(ranking[:k], 1):
        if d in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain of the first ``k`` with graded judgements."""
    dcg = sum(max(qrels.get(d, 0), 0) / math.log2(rank + 1) for rank, d in enumerate(ranking[:k], 1))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


# -- answers (SQuAD normalisation) ------------------------------------------------------------------


def normalize_answer(text: str, *, split_punctuation: bool = False) -> str:
    """SQuAD normalisation (lower case, punctuation, articles and extra space
    removed), with curly quotes and dashes folded first. ``split_punctuation``
    turns punctuation into spaces instead, so "30-day" also matches "30 day"."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = "".join((" " if split_punctuation else "") if ch in string.punctuation else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_answer(prediction: str | None, answers: Iterable[str]) -> bool:
    """True when a gold phrase stands in the prediction as whole words, under
    either way of treating punctuation ("U.S." ~ "US", "30-day" ~ "30 day")."""
    if not prediction:
        return False
    answers = list(answers)
    for split in (False, True):
        pred = f" {normalize_answer(prediction, split_punctuation=split)} "
        if any(n and f" {n} " in pred for n in (normalize_answer(a, split_punctuation=split) for a in answers)):
            return True
    return False


def token_f1(prediction: str | None, answers: Iterable[str]) -> float:
    """Best SQuAD token F1 of the prediction over the gold answers."""
    pred = normalize_answer(prediction or "").split()
    best = 0.0
    for gold in answers:
        ref = normalize_answer(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def exact_match(prediction: str | None, answers: Iterable[str]) -> bool:
    return prediction is not None and any(normalize_answer(prediction) == normalize_answer(a) for a in answers)


# -- citation spans -------------------------------------------------------------------------------


def _merged(spans: Iterable[Span]) -> dict[str, list[tuple[int, int]]]:
    """Per document, the spans' union as sorted, disjoint intervals."""
    by_doc: dict[str, list[tuple[int, int]]] = {}
    for doc, start, end in sorted(spans):
        runs = by_doc.setdefault(doc, [])
        if runs and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        elif end > start:
            runs.append((start, end))
    return by_doc


def _length(runs: dict[str, list[tuple[int, int]]]) -> int:
    return sum(e - s for r in runs.values() for s, e in r)


def span_overlap(cited: Iterable[Span], gold: Iterable[Span]) -> tuple[float, float]:
    """Character precision and recall of the cited spans against the gold
    evidence spans: characters in both over characters cited, and over gold
    characters. Overlapping spans count once. No citation: precision 0."""
    c, g = _merged(cited), _merged(gold)
    common = 0
    for doc, runs in c.items():
        for s, e in runs:
            common += sum(max(0, min(e, ge) - max(s, gs)) for gs, ge in g.get(doc, ()))
    cited_chars, gold_chars = _length(c), _length(g)
    return (common / cited_chars if cited_chars else 0.0, common / gold_chars if gold_chars else 0.0)


# -- calibration ----------------------------------------------------------------------------------


def risk_coverage(confidence: Sequence[float] | np.ndarray, right: Sequence[bool] | np.ndarray) -> list[tuple[float, float]]:
    """(coverage, risk) after answering only the most confident questions first;
    equal confidences keep their input order, so the curve is deterministic."""
    p, ok = np.asarray(confidence, dtype=float), np.asarray(right, dtype=bool)
    if len(p) == 0:
        return []
    order = np.argsort(-p, kind="stable")
    wrong = np.cumsum(~ok[order])
    n = np.arange(1, len(p) + 1)
    return [(float(c), float(r)) for c, r in zip(n / len(p), wrong / n)]


def aurc(curve: Sequence[tuple[float, float]]) -> float:
    """Area under the risk-coverage curve: the mean risk over its points (lower is better)."""
    return float(np.mean([r for _, r in curve])) if curve else float("nan")


# -- summaries ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile, linearly interpolated (numpy's default method)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")
